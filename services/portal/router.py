"""The portal's pages. Thin: who may ask is in the signature (session.py's policies), the work is
done by the services the /v1/staff and /v1/clinic API routes call, and a page or a redirect
comes back. After a change the browser is sent back to the page it came from (303), which
shows what happened. Not part of the OpenAPI contract."""

import json
import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from booking import service as booking
from booking.models import BookingStatus
from booking.schemas import BookingMove, BookingPublic, ClinicCancel, ResourceCreate, SlotBlock, StatusUpdate
from ecg_ml.labels import LABELS
from ecg_ml.recommend import FINDING_TEXTS, TRIAGE_TEXTS
from i18n import N_, gettext
from services.accounts import service as accounts
from services.accounts.models import User
from services.accounts.service import InvalidCredentials, TooManyLoginAttempts
from services.auth import PUBLIC
from services.clinics.models import Clinic
from services.db import SessionDep, utcnow
from services.errors import NotFound, ValidationFailed
from services.portal import forms, texts
from services.portal import service as portal_service
from services.portal.pages import (
    Formats,
    PortalFailure,
    PortalRoute,
    error_text,
    flash,
    page_language,
    redirect,
    render,
)
from services.portal.plot import GRID_COLORS
from services.portal.session import (
    PORTAL_PREFIX,
    LoginForm,
    PortalClinician,
    PortalSession,
    PortalStaff,
    PortalTeamMember,
    SignedInForm,
    local_portal_path,
    login_csrf_token,
)
from services.storage import get_blob_store
from services.studies import service as studies
from services.studies.report import MEASUREMENT_LABELS, PAPER_LINE, measurement_text
from services.studies.schemas import ReviewCreate

router = APIRouter(prefix=PORTAL_PREFIX, route_class=PortalRoute, include_in_schema=False)

M = TypeVar("M", bound=BaseModel)
DayQuery = Annotated[date | None, Query(alias="date")]
MOVE_DAYS = 7


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _model(model: type[M], payload: dict[str, Any]) -> M:
    """An action's small form as the API's input model; a bad one fails the whole action."""
    try:
        return model.model_validate(payload)
    except ValidationError:
        raise ValidationFailed() from None


def _clinic_url(clinic_id: uuid.UUID, page: str, day: date | None = None) -> str:
    return f"{PORTAL_PREFIX}/clinics/{clinic_id}/{page}" + (f"?date={day.isoformat()}" if day else "")


def _start_page(portal: PortalSession, clinic_id: uuid.UUID) -> str:
    return _clinic_url(clinic_id, "day" if portal.is_staff else "studies")


def _today(clinic: Clinic) -> date:
    return booking.clinic_today(clinic, utcnow())


# ------------------------------------------------------------------ signing in and out


@router.get("", dependencies=[PUBLIC])
def portal_root() -> RedirectResponse:
    return RedirectResponse(PORTAL_PREFIX + "/", status_code=303)


@router.get("/login", dependencies=[PUBLIC])
def login_page(request: Request, next: str | None = None, expired: bool = False) -> Response:
    return render(
        request,
        "login.html",
        csrf=login_csrf_token(request),
        next=local_portal_path(next) or "",
        notice=N_("Your session has expired. Sign in again.") if expired else None,
    )


@router.post("/login", dependencies=[PUBLIC])
def log_in(request: Request, form: LoginForm, session: SessionDep) -> Response:
    values = forms.texts(form)
    password = form.get("password")
    try:
        token = portal_service.sign_in(
            session,
            values.get("login", ""),
            password if isinstance(password, str) else "",
            _client_ip(request),
            request.headers.get("user-agent"),
        )
    except (InvalidCredentials, TooManyLoginAttempts, portal_service.PortalNotForRole) as error:
        page = render(
            request,
            "login.html",
            status_code=error.status,
            csrf=login_csrf_token(request),
            next=local_portal_path(values.get("next")) or "",
            login=values.get("login", ""),
            error=error_text(error, page_language(request)),
        )
        if "Retry-After" in error.headers:  # WWW-Authenticate is not: this is a form, not HTTP auth
            page.headers["Retry-After"] = error.headers["Retry-After"]
        raise PortalFailure(error, page) from error
    request.state.portal_token = token
    return RedirectResponse(local_portal_path(values.get("next")) or PORTAL_PREFIX + "/", status_code=303)


@router.post("/logout")
def log_out(request: Request, portal: PortalTeamMember, form: SignedInForm, session: SessionDep) -> Response:
    accounts.log_out(session, portal.principal)
    request.state.signed_out = True
    return RedirectResponse(PORTAL_PREFIX + "/login", status_code=303)


@router.get("/")
def home(request: Request, portal: PortalTeamMember, session: SessionDep) -> Response:
    clinics = portal_service.clinics_of(session, portal.principal)
    if len(clinics) == 1:
        return RedirectResponse(_start_page(portal, clinics[0].id), status_code=303)
    return render(request, "home.html", clinics=clinics)


@router.get("/clinics/{clinic_id}")
def clinic_home(clinic_id: uuid.UUID, portal: PortalTeamMember, session: SessionDep) -> Response:
    portal_service.clinic_of(session, portal.principal, clinic_id)
    return RedirectResponse(_start_page(portal, clinic_id), status_code=303)


# ------------------------------------------------------------------ the day and the week


def _clinic_page(
    request: Request, template: str, session: Session, portal: PortalSession, clinic: Clinic, **context: Any
) -> Response:
    return render(
        request,
        template,
        time_zone=clinic.time_zone,
        clinic=clinic,
        clinics=portal_service.clinics_of(session, portal.principal),
        texts=texts,
        **context,
    )


@router.get("/clinics/{clinic_id}/day")
def day_page(
    request: Request, clinic_id: uuid.UUID, portal: PortalStaff, session: SessionDep, day: DayQuery = None
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    day = day or _today(clinic)
    return _clinic_page(
        request,
        "day.html",
        session,
        portal,
        clinic,
        section="day",
        day=day,
        today=_today(clinic),
        now=utcnow(),
        view=booking.day_view(session, portal.principal, clinic_id, day),
        slots=portal_service.day_slots(session, portal.principal, clinic_id, day),
        status_from=booking.STATUS_FROM,
        movable=(BookingStatus.pending, BookingStatus.booked),
        cancellable=booking.ACTIVE_STATUSES,
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
    )


@router.get("/clinics/{clinic_id}/week")
def week_page(
    request: Request, clinic_id: uuid.UUID, portal: PortalStaff, session: SessionDep, day: DayQuery = None
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    first = portal_service.monday_of(day or _today(clinic))
    return _clinic_page(
        request,
        "week.html",
        session,
        portal,
        clinic,
        section="week",
        first=first,
        today=_today(clinic),
        days=portal_service.week(session, portal.principal, clinic_id, first),
        previous_week=first - timedelta(days=7),
        next_week=first + timedelta(days=7),
    )


def _booking_of_page(
    request: Request, session: Session, portal: PortalSession, clinic_id: uuid.UUID, booking_id: uuid.UUID
) -> tuple[Clinic, BookingPublic, User]:
    """The clinic of the address, its booking and the booking's patient (404 for another clinic's)."""
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    found, patient = portal_service.clinic_booking(
        session, portal.principal, clinic_id, booking_id, page_language(request)
    )
    return clinic, found, patient


@router.post("/clinics/{clinic_id}/bookings/{booking_id}/status")
def set_booking_status(
    request: Request,
    clinic_id: uuid.UUID,
    booking_id: uuid.UUID,
    portal: PortalStaff,
    form: SignedInForm,
    session: SessionDep,
) -> Response:
    clinic, _, patient = _booking_of_page(request, session, portal, clinic_id, booking_id)
    data = _model(StatusUpdate, {"status": form.get("status")})
    changed, _ = booking.set_status(session, portal.principal, booking_id, data.status)
    status_text = gettext(texts.BOOKING_STATUS[changed.status], page_language(request))
    flash(request, "ok", N_("{patient}: {status}."), patient=patient.full_name, status=status_text)
    return redirect(request, _clinic_url(clinic.id, "day", _today(clinic)))


@router.post("/clinics/{clinic_id}/bookings/{booking_id}/cancel")
def cancel_booking(
    request: Request,
    clinic_id: uuid.UUID,
    booking_id: uuid.UUID,
    portal: PortalStaff,
    form: SignedInForm,
    session: SessionDep,
) -> Response:
    clinic, _, patient = _booking_of_page(request, session, portal, clinic_id, booking_id)
    reason = form.get("reason")
    data = _model(ClinicCancel, {"reason": reason if reason in texts.CANCEL_REASONS else "clinic"})
    booking.cancel_by_clinic(session, portal.principal, booking_id, data.reason)
    flash(
        request,
        "ok",
        N_("The booking of {patient} is cancelled; the patient is notified."),
        patient=patient.full_name,
    )
    return redirect(request, _clinic_url(clinic.id, "day", _today(clinic)))


@router.get("/clinics/{clinic_id}/bookings/{booking_id}/move")
def move_page(
    request: Request,
    clinic_id: uuid.UUID,
    booking_id: uuid.UUID,
    portal: PortalStaff,
    session: SessionDep,
    day: DayQuery = None,
) -> Response:
    clinic, moving, patient = _booking_of_page(request, session, portal, clinic_id, booking_id)
    first = day or moving.starts_at.date()
    free = json.loads(booking.search_slots(session, clinic_id, moving.service, first, MOVE_DAYS))["items"]
    return _clinic_page(
        request,
        "move.html",
        session,
        portal,
        clinic,
        section="day",
        booking=moving,
        patient=patient,
        free_days=_by_day(slot for slot in free if slot["id"] != str(moving.slot_id)),
        first=first,
        later=first + timedelta(days=MOVE_DAYS),
        back=_clinic_url(clinic.id, "day", moving.starts_at.date()),
    )


def _by_day(slots: Iterable[dict[str, Any]]) -> list[tuple[date, list[tuple[str, datetime]]]]:
    """Free slots (as search_slots lists them, on the clinic's clock) grouped by day."""
    days: dict[date, list[tuple[str, datetime]]] = {}
    for slot in slots:
        starts_at = datetime.fromisoformat(slot["starts_at"])
        days.setdefault(starts_at.date(), []).append((slot["id"], starts_at))
    return list(days.items())


@router.post("/clinics/{clinic_id}/bookings/{booking_id}/move")
def move_booking(
    request: Request,
    clinic_id: uuid.UUID,
    booking_id: uuid.UUID,
    portal: PortalStaff,
    form: SignedInForm,
    session: SessionDep,
) -> Response:
    clinic, _, patient = _booking_of_page(request, session, portal, clinic_id, booking_id)
    data = _model(BookingMove, {"slot_id": form.get("slot_id")})
    moved, _ = booking.move_by_clinic(session, portal.principal, booking_id, data.slot_id)
    when = Formats(page_language(request), clinic.time_zone).moment(moved.starts_at)
    flash(
        request,
        "ok",
        N_("The booking of {patient} is moved to {time}."),
        patient=patient.full_name,
        time=when,
    )
    local_day = moved.starts_at.astimezone(ZoneInfo(clinic.time_zone)).date()
    return RedirectResponse(_clinic_url(clinic.id, "day", local_day), status_code=303)


@router.post("/clinics/{clinic_id}/slots/{slot_id}/block")
def block_slot(
    request: Request,
    clinic_id: uuid.UUID,
    slot_id: uuid.UUID,
    portal: PortalStaff,
    form: SignedInForm,
    session: SessionDep,
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    values = forms.texts(form)
    data = _model(
        SlotBlock,
        {
            "reason": values.get("reason") or gettext(N_("Blocked by the clinic"), page_language(request)),
            "on_bookings": values.get("on_bookings") or None,
        },
    )
    result = booking.block_slot(session, portal.principal, slot_id, data)
    flash(
        request,
        "ok",
        N_("Time blocked. Bookings moved: {moved}; cancelled: {cancelled}."),
        moved=result.moved_bookings,
        cancelled=result.cancelled_bookings,
    )
    return redirect(request, _clinic_url(clinic.id, "day", _today(clinic)))


@router.post("/clinics/{clinic_id}/slots/{slot_id}/unblock")
def unblock_slot(
    request: Request,
    clinic_id: uuid.UUID,
    slot_id: uuid.UUID,
    portal: PortalStaff,
    form: SignedInForm,
    session: SessionDep,
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    booking.unblock_slot(session, portal.principal, slot_id)
    flash(request, "ok", N_("The time is open for booking again."))
    return redirect(request, _clinic_url(clinic.id, "day", _today(clinic)))


# ------------------------------------------------------------------ schedules


@router.get("/clinics/{clinic_id}/schedules")
def schedules_page(
    request: Request, clinic_id: uuid.UUID, portal: PortalStaff, session: SessionDep
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    resources, rows = portal_service.schedules(session, portal.principal, clinic_id)
    return _clinic_page(
        request,
        "schedules.html",
        session,
        portal,
        clinic,
        section="schedules",
        resources=resources,
        rows=rows,
    )


def _schedule_form(
    request: Request,
    session: Session,
    portal: PortalSession,
    clinic: Clinic,
    state: forms.FormState,
    editing: uuid.UUID | None,
    status_code: int = 200,
    message: str | None = None,
) -> Response:
    resources = booking.list_resources(session, portal.principal, clinic.id)
    response = _clinic_page(
        request,
        "schedule_form.html",
        session,
        portal,
        clinic,
        section="schedules",
        form=state,
        resources=resources,
        editing=editing,
        message=message,
        intervals=range(forms.INTERVALS_PER_DAY),
        rule_field=forms.rule_field,
    )
    response.status_code = status_code
    return response


def _save_schedule(
    request: Request,
    session: Session,
    portal: PortalSession,
    clinic: Clinic,
    form: Any,
    editing: uuid.UUID | None,
) -> Response:
    language = page_language(request)
    data, state = forms.parse_schedule(form, language)
    if data is None:
        page = _schedule_form(
            request,
            session,
            portal,
            clinic,
            state,
            editing,
            422,
            gettext(N_("Check the marked fields."), language),
        )
        raise PortalFailure(ValidationFailed(), page)
    try:
        if editing is None:
            booking.create_schedule(session, portal.principal, clinic.id, data)
        else:
            booking.replace_schedule(session, portal.principal, clinic.id, editing, data)
    except (booking.ScheduleOverlaps, booking.ScheduleStartsInPast, booking.ResourceNotFound) as error:
        page = _schedule_form(
            request, session, portal, clinic, state, editing, error.status, error_text(error, language)
        )
        raise PortalFailure(error, page) from error
    flash(request, "ok", N_("Schedule saved; its times are open for booking."))
    return RedirectResponse(_clinic_url(clinic.id, "schedules"), status_code=303)


@router.get("/clinics/{clinic_id}/schedules/new")
def new_schedule_page(
    request: Request, clinic_id: uuid.UUID, portal: PortalStaff, session: SessionDep
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    return _schedule_form(request, session, portal, clinic, forms.schedule_state(None, _today(clinic)), None)


@router.post("/clinics/{clinic_id}/schedules/new")
def create_schedule(
    request: Request, clinic_id: uuid.UUID, portal: PortalStaff, form: SignedInForm, session: SessionDep
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    return _save_schedule(request, session, portal, clinic, form, None)


@router.get("/clinics/{clinic_id}/schedules/{schedule_id}/edit")
def edit_schedule_page(
    request: Request, clinic_id: uuid.UUID, schedule_id: uuid.UUID, portal: PortalStaff, session: SessionDep
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    schedule = portal_service.staff_schedule(session, portal.principal, clinic_id, schedule_id)
    state = forms.schedule_state(schedule, _today(clinic))
    return _schedule_form(request, session, portal, clinic, state, schedule.id)


@router.post("/clinics/{clinic_id}/schedules/{schedule_id}/edit")
def change_schedule(
    request: Request,
    clinic_id: uuid.UUID,
    schedule_id: uuid.UUID,
    portal: PortalStaff,
    form: SignedInForm,
    session: SessionDep,
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    portal_service.staff_schedule(session, portal.principal, clinic_id, schedule_id)
    return _save_schedule(request, session, portal, clinic, form, schedule_id)


@router.post("/clinics/{clinic_id}/schedules/{schedule_id}/end")
def end_schedule(
    request: Request,
    clinic_id: uuid.UUID,
    schedule_id: uuid.UUID,
    portal: PortalStaff,
    form: SignedInForm,
    session: SessionDep,
) -> Response:
    booking.end_schedule(session, portal.principal, clinic_id, schedule_id)
    flash(request, "ok", N_("Schedule ended: its free times are gone, booked ones stay."))
    return redirect(request, _clinic_url(clinic_id, "schedules"))


@router.post("/clinics/{clinic_id}/resources")
def add_resource(
    request: Request, clinic_id: uuid.UUID, portal: PortalStaff, form: SignedInForm, session: SessionDep
) -> Response:
    values = forms.texts(form)
    data = _model(ResourceCreate, {"name": values.get("name", ""), "kind": values.get("kind", "")})
    booking.create_resource(session, portal.principal, clinic_id, data)
    flash(request, "ok", N_("{name} added."), name=data.name)
    return redirect(request, _clinic_url(clinic_id, "schedules"))


def _exception_form(
    request: Request,
    session: Session,
    portal: PortalSession,
    clinic: Clinic,
    state: forms.FormState,
    status_code: int = 200,
    message: str | None = None,
) -> Response:
    response = _clinic_page(
        request,
        "exception_form.html",
        session,
        portal,
        clinic,
        section="schedules",
        form=state,
        resources=booking.list_resources(session, portal.principal, clinic.id),
        message=message,
    )
    response.status_code = status_code
    return response


@router.get("/clinics/{clinic_id}/exceptions/new")
def new_exception_page(
    request: Request, clinic_id: uuid.UUID, portal: PortalStaff, session: SessionDep
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    return _exception_form(request, session, portal, clinic, forms.exception_state(_today(clinic)))


@router.post("/clinics/{clinic_id}/exceptions/new")
def add_exception(
    request: Request, clinic_id: uuid.UUID, portal: PortalStaff, form: SignedInForm, session: SessionDep
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    language = page_language(request)
    data, state = forms.parse_exception(form, clinic.time_zone, language)
    if data is None:
        page = _exception_form(
            request, session, portal, clinic, state, 422, gettext(N_("Check the marked fields."), language)
        )
        raise PortalFailure(ValidationFailed(), page)
    try:
        result = booking.add_exception(session, portal.principal, clinic.id, data)
    except (booking.BookingsInTheWay, booking.ResourceNotFound) as error:
        page = _exception_form(
            request, session, portal, clinic, state, error.status, error_text(error, language)
        )
        raise PortalFailure(error, page) from error
    flash(
        request,
        "ok",
        N_("Closed. Times blocked: {blocked}; bookings moved: {moved}; cancelled: {cancelled}."),
        blocked=result.blocked_slots,
        moved=result.moved_bookings,
        cancelled=result.cancelled_bookings,
    )
    return RedirectResponse(_clinic_url(clinic.id, "schedules"), status_code=303)


# ------------------------------------------------------------------ ECG studies


@router.get("/clinics/{clinic_id}/studies")
def worklist_page(
    request: Request,
    clinic_id: uuid.UUID,
    portal: PortalTeamMember,
    session: SessionDep,
    show_all: Annotated[bool, Query(alias="all")] = False,
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    items = portal_service.worklist(session, portal.principal, clinic_id, unreviewed_only=not show_all)
    template = "worklist_rows.html" if request.headers.get("hx-request") else "worklist.html"
    return _clinic_page(
        request,
        template,
        session,
        portal,
        clinic,
        section="studies",
        items=items,
        show_all=show_all,
        triage_texts=TRIAGE_TEXTS,
        finding_texts=FINDING_TEXTS,
    )


@router.get("/clinics/{clinic_id}/studies/{study_id}")
def study_page(
    request: Request, clinic_id: uuid.UUID, study_id: uuid.UUID, portal: PortalTeamMember, session: SessionDep
) -> Response:
    clinic = portal_service.clinic_of(session, portal.principal, clinic_id)
    view = portal_service.study_view(
        session, get_blob_store(), portal.principal, clinic_id, study_id, page_language(request)
    )
    return _clinic_page(
        request,
        "study.html",
        session,
        portal,
        clinic,
        section="studies",
        view=view,
        labels=LABELS,
        finding_texts=FINDING_TEXTS,
        measurement_labels=MEASUREMENT_LABELS,
        measurement_text=measurement_text,
        paper_line=PAPER_LINE,
        colors=GRID_COLORS,
        can_review=portal.principal.role == "clinician",
    )


@router.post("/clinics/{clinic_id}/studies/{study_id}/review")
def review_study(
    request: Request,
    clinic_id: uuid.UUID,
    study_id: uuid.UUID,
    portal: PortalClinician,
    form: SignedInForm,
    session: SessionDep,
) -> Response:
    portal_service.clinic_of(session, portal.principal, clinic_id)
    study = studies.get_clinic_study(session, portal.principal, study_id)
    if study.clinic_id != clinic_id:
        raise studies.StudyNotFound()
    labels = [value for value in form.getlist("labels") if isinstance(value, str)]
    comment = form.get("comment")
    data = _model(
        ReviewCreate,
        {
            "verdict": form.get("verdict"),
            "labels": labels,
            "comment": comment if isinstance(comment, str) else "",
        },
    )
    studies.review_study(session, portal.principal, study_id, data)
    flash(request, "ok", N_("Review saved."))
    return redirect(request, _clinic_url(clinic_id, f"studies/{study_id}"))


@router.get("/{path:path}", dependencies=[PUBLIC])
def unknown_page(path: str) -> Response:
    raise NotFound()
