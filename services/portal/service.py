"""What the portal's pages show, put together from the accounts, booking and studies services,
which keep every rule (who may see what, what may change how): sign-in for clinic people, a
week of bookings, schedules as people read them, the worklist with patients' names, and a
study with its plot. Never commits: the request owns the transaction."""

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import Session

from booking import service as booking
from booking.models import Resource, Schedule, Slot
from booking.schemas import BookingPublic, DayView
from booking.slots import WeeklyRule
from i18n import N_, Language
from services.accounts import service as accounts
from services.accounts.models import User
from services.accounts.repository import AccountsRepository
from services.auth import Principal
from services.clinics.models import Clinic
from services.clinics.service import ClinicNotFound, clinic_catalogue
from services.errors import Forbidden
from services.portal.plot import EcgPlot, HeatStrip, ecg_plot, heat_strip
from services.portal.session import PORTAL_ROLES, new_session_token
from services.storage import BlobStore
from services.studies import service as studies
from services.studies.schemas import StudyPublic, StudySummary
from services.throttle import get_login_throttle

WORKLIST_SIZE = 100


class PortalNotForRole(Forbidden):
    code = "portal_role_not_allowed"
    title = N_("Not for this account")
    detail = N_("This portal is for clinic staff and clinicians. Patients use the CardioAlert app.")


def sign_in(session: Session, login: str, password: str, client_ip: str, user_agent: str | None) -> str:
    """The portal cookie's token for a clinic person's login and password, under the same
    throttling as the API's sign-in; no session is opened for anyone else."""
    user = accounts.authenticate(session, get_login_throttle(), login, password, client_ip)
    if user.role not in PORTAL_ROLES:
        raise PortalNotForRole()
    auth_session = accounts.start_browser_session(session, user, user_agent)
    return new_session_token(user.id, user.role, auth_session.id)


def clinics_of(session: Session, principal: Principal) -> list[Clinic]:
    known = clinic_catalogue(session).by_id
    return sorted((known[i] for i in principal.clinic_ids if i in known), key=lambda clinic: clinic.name_en)


def clinic_of(session: Session, principal: Principal, clinic_id: uuid.UUID) -> Clinic:
    """One of the person's clinics; another clinic is as unknown as one that does not exist."""
    clinic = clinic_catalogue(session).by_id.get(clinic_id)
    if clinic is None or not principal.can_access_clinic(clinic_id):
        raise ClinicNotFound()
    return clinic


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week(session: Session, principal: Principal, clinic_id: uuid.UUID, first_day: date) -> list[DayView]:
    return [booking.day_view(session, principal, clinic_id, first_day + timedelta(days=i)) for i in range(7)]


@dataclass(frozen=True)
class SlotRow:
    slot: Slot
    resource_name: str


def day_slots(session: Session, principal: Principal, clinic_id: uuid.UUID, day: date) -> list[SlotRow]:
    names = {r.id: r.name for r in booking.list_resources(session, principal, clinic_id)}
    return [
        SlotRow(s, names.get(s.resource_id, ""))
        for s in booking.day_slots(session, principal, clinic_id, day)
    ]


@dataclass(frozen=True)
class ScheduleRow:
    schedule: Schedule
    resource_name: str
    hours: list[WeeklyRule]


def schedules(
    session: Session, principal: Principal, clinic_id: uuid.UUID
) -> tuple[list[Resource], list[ScheduleRow]]:
    resources = list(booking.list_resources(session, principal, clinic_id))
    names = {resource.id: resource.name for resource in resources}
    rows = [
        ScheduleRow(
            schedule,
            names.get(schedule.resource_id, ""),
            sorted(
                (WeeklyRule.from_json(rule) for rule in schedule.rules), key=lambda r: (r.weekday, r.start)
            ),
        )
        for schedule in booking.list_schedules(session, principal, clinic_id)
    ]
    return resources, rows


def staff_schedule(
    session: Session, principal: Principal, clinic_id: uuid.UUID, schedule_id: uuid.UUID
) -> Schedule:
    for schedule in booking.list_schedules(session, principal, clinic_id):
        if schedule.id == schedule_id:
            return schedule
    raise booking.ScheduleNotFound()


def clinic_booking(
    session: Session, principal: Principal, clinic_id: uuid.UUID, booking_id: uuid.UUID, language: Language
) -> tuple[BookingPublic, User]:
    """One booking of this clinic (404 for any other) and its patient."""
    found, clinic = booking.get_clinic_booking(session, principal, booking_id)
    if clinic.id != clinic_id:
        raise booking.BookingNotFound()
    patient = AccountsRepository(session).get_user(found.patient_id)
    assert patient is not None
    return booking.booking_public(found, clinic, language), patient


@dataclass(frozen=True)
class WorklistItem:
    study: StudySummary
    patient_name: str


def worklist(
    session: Session, principal: Principal, clinic_id: uuid.UUID, unreviewed_only: bool
) -> list[WorklistItem]:
    page = studies.clinic_worklist(session, principal, clinic_id, unreviewed_only, WORKLIST_SIZE)
    names = AccountsRepository(session).full_names([item.patient_id for item in page.items])
    return [WorklistItem(item, names.get(item.patient_id, "")) for item in page.items]


@dataclass(frozen=True)
class StudyView:
    study: StudyPublic
    patient: User
    plot: EcgPlot | None
    heat_strips: dict[str, HeatStrip] = field(default_factory=dict)


def study_view(
    session: Session,
    store: BlobStore,
    principal: Principal,
    clinic_id: uuid.UUID,
    study_id: uuid.UUID,
    language: Language,
) -> StudyView:
    """A study of this clinic with its plot; the reads are audited as the API audits them."""
    study = studies.get_clinic_study(session, principal, study_id)
    if study.clinic_id != clinic_id:
        raise studies.StudyNotFound()
    studies.audit(session, principal, "study.read", study)
    public = studies.study_public(session, study, language)
    plot = None
    if public.result is not None:
        result = studies.require_result(session, study)
        studies.audit(session, principal, "study.signal", study)
        plot = ecg_plot(studies.read_signal(store, result), result.fs)
    strips = {}
    for finding in public.result.findings if public.result is not None else []:
        strip = heat_strip(finding.explanation) if finding.explanation else None
        if strip is not None:
            strips[finding.label] = strip
    patient = AccountsRepository(session).get_user(study.patient_id)
    assert patient is not None
    return StudyView(public, patient, plot, strips)
