"""The rules of booking: schedules become slots, patients hold, confirm, cancel and move
bookings, clinics block time and run their day, hospital systems confirm and record visits.

No double booking: every change of a slot's `booked_count` happens with the slot's row locked
(always in id order), PostgreSQL refuses a count above the capacity, and the patient's row is
locked first so the per-patient limit holds under concurrency. Services never commit."""

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from booking import fhir, webhooks
from booking.models import (
    ACTIVE_STATUSES,
    Booking,
    BookingStatus,
    Resource,
    Schedule,
    ScheduleException,
    Slot,
    SlotStatus,
)
from booking.repository import BookingRepository
from booking.schemas import (
    BlockResult,
    BookingPage,
    BookingPublic,
    DayBooking,
    DayView,
    ExceptionCreate,
    HisBooking,
    HisBookingPage,
    OnBookings,
    PatientSummary,
    ResourceCreate,
    ScheduleCreate,
    SlotBlock,
)
from booking.slots import WeeklyRule, slot_times
from i18n import N_, NP_, Language, pick_localized
from notifications.models import NotificationKind
from notifications.service import enqueue, withdraw
from services.accounts.models import User
from services.auth import Principal
from services.clinics.models import Clinic, ClinicService
from services.clinics.service import ClinicNotFound, clinic_catalogue
from services.db import utcnow
from services.errors import Conflict, InvalidCursor, NotFound, UnprocessableRequest
from services.pagination import decode_cursor, encode_cursor
from services.settings import get_settings


class SlotNotFound(NotFound):
    code = "slot_not_found"
    detail = N_("No such slot.")


class BookingNotFound(NotFound):
    code = "booking_not_found"
    detail = N_("No such booking.")


class ResourceNotFound(NotFound):
    code = "resource_not_found"
    detail = N_("No such room or device at this clinic.")


class ScheduleNotFound(NotFound):
    code = "schedule_not_found"
    detail = N_("No such schedule.")


class SlotFull(Conflict):
    code = "slot_full"
    title = N_("Time already taken")
    detail = N_("This time has just been taken. Please choose another one.")


class SlotUnavailable(Conflict):
    code = "slot_unavailable"
    title = N_("Time not available")
    detail = N_("The clinic does not take bookings at this time. Please choose another one.")


class SlotInPast(Conflict):
    code = "slot_in_past"
    title = N_("Time has passed")
    detail = N_("This time is already in the past. Please choose a later one.")


class TooManyActiveBookings(Conflict):
    code = "too_many_active_bookings"
    title = N_("Booking limit reached")
    detail = NP_(
        "You can have at most {count} active booking. Cancel one to book another.",
        "You can have at most {count} active bookings. Cancel one to book another.",
    )


class OverlappingBooking(Conflict):
    code = "overlapping_booking"
    title = N_("You are already booked at this time")
    detail = N_("You already have a booking at this time.")


class HoldExpired(Conflict):
    code = "hold_expired"
    title = N_("Hold expired")
    detail = N_("You held this time for too long and it was released. Please book again.")
    keeps_changes = True  # the expired hold stays released although the request fails


class BookingStatusConflict(Conflict):
    code = "booking_status_conflict"
    title = N_("Booking cannot be changed")
    detail = N_("This booking can no longer be changed this way.")


class CancellationTooLate(Conflict):
    code = "cancellation_too_late"
    title = N_("Too late to change")
    detail = NP_(
        "Bookings can be cancelled or moved up to {count} hour before they start. Please call the clinic.",
        "Bookings can be cancelled or moved up to {count} hours before they start. Please call the clinic.",
    )


class SameSlot(Conflict):
    code = "same_slot"
    title = N_("Same time")
    detail = N_("The booking is already at this time. Choose a different slot to move it.")


class ScheduleOverlaps(Conflict):
    code = "schedule_overlaps"
    title = N_("Schedules overlap")
    detail = N_("This schedule overlaps another schedule of the same room or device.")


class ScheduleStartsInPast(UnprocessableRequest):
    code = "schedule_starts_in_past"
    title = N_("Schedule starts in the past")
    detail = N_("A schedule cannot start before today.")


class BookingsInTheWay(Conflict):
    code = "slot_has_bookings"
    title = N_("There are bookings at this time")
    detail = N_("Patients are booked at this time. Say whether to move or cancel their bookings.")


# The change feed's cursor before the first change: a client that saw nothing yet keeps this.
FEED_START = encode_cursor(["0001-01-01T00:00:00+00:00", str(uuid.UUID(int=0))])


def _zone(clinic: Clinic) -> ZoneInfo:
    return ZoneInfo(clinic.time_zone)


def _clinic_names(clinic: Clinic) -> dict[str, str]:
    return {"en": clinic.name_en, "ru": clinic.name_ru, "uz": clinic.name_uz}


def booking_public(booking: Booking, clinic: Clinic, language: Language) -> BookingPublic:
    zone = _zone(clinic)
    return BookingPublic(
        id=booking.id,
        clinic_id=booking.clinic_id,
        clinic_name=pick_localized({Language(k): v for k, v in _clinic_names(clinic).items()}, language),
        slot_id=booking.slot_id,
        service=booking.service,
        status=booking.status,
        starts_at=booking.starts_at.astimezone(zone),
        ends_at=booking.ends_at.astimezone(zone),
        time_zone=clinic.time_zone,
        hold_expires_at=booking.hold_expires_at,
        cancel_reason=booking.cancel_reason,
        created_at=booking.created_at,
        updated_at=booking.updated_at,
    )


def booking_event_payload(booking: Booking) -> dict[str, Any]:
    return {
        "booking_id": str(booking.id),
        "clinic_id": str(booking.clinic_id),
        "patient_id": str(booking.patient_id),
        "slot_id": str(booking.slot_id),
        "service": str(booking.service),
        "status": str(booking.status),
        "starts_at": booking.starts_at.isoformat(),
        "ends_at": booking.ends_at.isoformat(),
        "cancel_reason": booking.cancel_reason,
        "updated_at": booking.updated_at.isoformat(),
    }


# Notifications and hospital events, in the booking's own transaction.


def _notification_params(booking: Booking, clinic: Clinic) -> dict[str, Any]:
    return {
        "booking_id": str(booking.id),
        "clinic_name": _clinic_names(clinic),
        "starts_at": booking.starts_at.isoformat(),
        "time_zone": clinic.time_zone,
    }


def _reminder_key(booking: Booking, hours: int) -> str:
    return f"booking:{booking.id}:reminder:{hours}h:{booking.starts_at.isoformat()}"


def _schedule_reminders(session: Session, booking: Booking, clinic: Clinic, now: datetime) -> None:
    for hours in get_settings().booking_reminder_hours:
        send_at = booking.starts_at - timedelta(hours=hours)
        if send_at <= now:
            continue
        enqueue(
            session,
            user_id=booking.patient_id,
            kind=NotificationKind.booking_reminder,
            dedup_key=_reminder_key(booking, hours),
            params={**_notification_params(booking, clinic), "hours_before": hours},
            send_at=send_at,
            expires_at=booking.starts_at,
        )


def _withdraw_reminders(session: Session, booking: Booking) -> None:
    """The reminders of the booking's current time (call before moving or cancelling it)."""
    for hours in get_settings().booking_reminder_hours:
        withdraw(session, user_id=booking.patient_id, dedup_key=_reminder_key(booking, hours))


def _notify(session: Session, booking: Booking, clinic: Clinic, kind: NotificationKind, event: str) -> None:
    enqueue(
        session,
        user_id=booking.patient_id,
        kind=kind,
        dedup_key=f"booking:{booking.id}:{event}:{booking.starts_at.isoformat()}",
        params=_notification_params(booking, clinic),
    )


def _emit(session: Session, booking: Booking, event_type: str) -> None:
    webhooks.emit(
        session, clinic_id=booking.clinic_id, event_type=event_type, payload=booking_event_payload(booking)
    )


# Slots


def _exception_blocks(exception: ScheduleException, resource_id: uuid.UUID) -> bool:
    return exception.resource_id is None or exception.resource_id == resource_id


def materialize_slots(
    repository: BookingRepository, schedule: Schedule, clinic: Clinic, first_day: date, last_day: date
) -> int:
    """Create the schedule's future slots between two days (idempotent: existing ones stay)."""
    first = max(first_day, schedule.valid_from)
    last = min(last_day, schedule.valid_until) if schedule.valid_until else last_day
    if first > last:
        return 0
    now = utcnow()
    rules = [WeeklyRule.from_json(rule) for rule in schedule.rules]
    times = [t for t in slot_times(rules, schedule.slot_minutes, clinic.time_zone, first, last) if t[0] > now]
    if not times:
        return 0
    exceptions = [
        e
        for e in repository.exceptions_between(clinic.id, times[0][0], times[-1][1])
        if _exception_blocks(e, schedule.resource_id)
    ]
    zone = _zone(clinic)
    closed_days = repository.closure_days(clinic.id, first, last)
    rows = []
    for starts_at, ends_at in times:
        blocking = next((e for e in exceptions if e.starts_at < ends_at and e.ends_at > starts_at), None)
        reason = blocking.reason if blocking else None
        if reason is None and starts_at.astimezone(zone).date() in closed_days:
            reason = "clinic closed"
        rows.append(
            {
                "id": uuid.uuid4(),
                "clinic_id": clinic.id,
                "resource_id": schedule.resource_id,
                "schedule_id": schedule.id,
                "service": schedule.service,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "capacity": schedule.capacity,
                "booked_count": 0,
                "status": SlotStatus.blocked if reason else SlotStatus.open,
                "blocked_reason": reason,
                "updated_at": now,
            }
        )
    try:
        with repository.session.begin_nested():
            repository.insert_slots(rows)
    except IntegrityError:
        # The exclusion constraint: a slot of this resource already covers part of this time.
        raise ScheduleOverlaps() from None
    return len(rows)


def clinic_today(clinic: Clinic, now: datetime) -> date:
    return now.astimezone(_zone(clinic)).date()


def extend_slot_horizon(session: Session, now: datetime) -> int:
    """Keep every active schedule's slots generated `slot_horizon_days` ahead (worker task)."""
    repository = BookingRepository(session)
    horizon = get_settings().slot_horizon_days
    created = 0
    for schedule, clinic in repository.all_active_schedules():
        today = clinic_today(clinic, now)
        created += materialize_slots(repository, schedule, clinic, today, today + timedelta(days=horizon))
    return created


def free_slots_json(rows: Sequence[Any], clinic: Clinic, service: ClinicService) -> str:
    """What PostgreSQL renders in BookingRepository.free_slots_json, made here for SQLite."""
    zone = _zone(clinic)
    return json.dumps(
        [
            {
                "id": str(row.id),
                "clinic_id": str(clinic.id),
                "service": str(service),
                "starts_at": row.starts_at.astimezone(zone).isoformat(),
                "ends_at": row.ends_at.astimezone(zone).isoformat(),
                "available": row.capacity - row.booked_count,
                "capacity": row.capacity,
            }
            for row in rows
        ]
    )


def search_slots(
    session: Session, clinic_id: uuid.UUID, service: ClinicService, from_day: date | None, days: int
) -> str:
    """Free slots over some days: the JSON document of SlotSearch, built without per-slot
    models (the app asks for it on every scroll of its calendar)."""
    clinic = clinic_catalogue(session).by_id.get(clinic_id)
    if clinic is None:
        raise ClinicNotFound()
    zone = _zone(clinic)
    now = utcnow()
    first_day = max(from_day or clinic_today(clinic, now), clinic_today(clinic, now))
    start = max(datetime.combine(first_day, datetime.min.time(), tzinfo=zone), now)
    end = datetime.combine(first_day + timedelta(days=days), datetime.min.time(), tzinfo=zone)
    repository = BookingRepository(session)
    items = repository.free_slots_json(clinic.id, service, start, end, clinic.time_zone)
    if items is None:
        items = free_slots_json(repository.free_slots(clinic.id, service, start, end), clinic, service)
    envelope = json.dumps({"clinic_id": str(clinic.id), "time_zone": clinic.time_zone})
    return envelope[:-1] + ', "items": ' + items + "}"


# Patients


def _release_hold(booking: Booking, slot: Slot, now: datetime) -> None:
    booking.status = BookingStatus.cancelled
    booking.cancel_reason = "hold_expired"
    booking.updated_at = now
    slot.booked_count -= 1
    slot.updated_at = now


def _release_expired_holds(repository: BookingRepository, slot: Slot, now: datetime) -> None:
    expired = repository.expired_holds(now, slot_id=slot.id)
    for booking in expired:
        _release_hold(booking, slot, now)
    if expired:
        repository.add(slot, *expired)


def release_expired_holds(session: Session, now: datetime) -> int:
    """Free the slots of holds nobody confirmed in time (worker task)."""
    repository = BookingRepository(session)
    expired = repository.expired_holds(now)
    if not expired:
        return 0
    slots = repository.lock_slots([booking.slot_id for booking in expired])
    for booking in expired:
        _release_hold(booking, slots[booking.slot_id], now)
    repository.add(*slots.values(), *expired)
    return len(expired)


def _check_bookable(slot: Slot, now: datetime) -> None:
    if slot.status is not SlotStatus.open:
        raise SlotUnavailable()
    if slot.starts_at <= now:
        raise SlotInPast()
    if slot.booked_count >= slot.capacity:
        raise SlotFull()


def _lock_one_slot(repository: BookingRepository, slot_id: uuid.UUID) -> Slot:
    slot = repository.lock_slots([slot_id]).get(slot_id)
    if slot is None:
        raise SlotNotFound()
    return slot


def _flush_booking(repository: BookingRepository, *rows: object) -> None:
    try:
        with repository.session.begin_nested():
            repository.add(*rows)
    except IntegrityError:
        # PostgreSQL's exclusion constraint: another active booking of this patient overlaps.
        raise OverlappingBooking() from None


def hold(session: Session, patient: User, slot_id: uuid.UUID, language: Language) -> BookingPublic:
    """Hold a place in a slot for `booking_hold_minutes`; confirm turns it into a booking."""
    now = utcnow()
    settings = get_settings()
    repository = BookingRepository(session)
    repository.lock_patient(patient.id)
    slot = _lock_one_slot(repository, slot_id)
    if slot.booked_count >= slot.capacity:  # expired holds matter only when they fill the slot
        _release_expired_holds(repository, slot, now)
    _check_bookable(slot, now)
    if repository.count_active(patient.id, now) >= settings.booking_max_active_per_patient:
        raise TooManyActiveBookings(count=settings.booking_max_active_per_patient)
    if not repository.database_refuses_overlapping_bookings and repository.overlapping_active(
        patient.id, slot.starts_at, slot.ends_at
    ):
        raise OverlappingBooking()
    booking = Booking(
        clinic_id=slot.clinic_id,
        slot_id=slot.id,
        patient_id=patient.id,
        service=slot.service,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        status=BookingStatus.proposed,
        hold_expires_at=now + timedelta(minutes=settings.booking_hold_minutes),
        created_at=now,
        updated_at=now,
    )
    slot.booked_count += 1
    slot.updated_at = now
    try:
        repository.add(slot, booking)  # no savepoint: a failed hold ends the whole request anyway
    except IntegrityError:
        raise OverlappingBooking() from None  # PostgreSQL's exclusion constraint
    return booking_public(booking, clinic_catalogue(session).by_id[slot.clinic_id], language)


def _patient_booking(
    repository: BookingRepository, patient: User, booking_id: uuid.UUID
) -> tuple[Booking, Clinic]:
    booking = repository.get_booking_of_patient(booking_id, patient.id)
    if booking is None:
        raise BookingNotFound()
    clinic = repository.get_clinic(booking.clinic_id)
    assert clinic is not None
    return booking, clinic


def _make_booked(session: Session, booking: Booking, clinic: Clinic, now: datetime) -> None:
    booking.status = BookingStatus.booked
    booking.updated_at = now
    _notify(session, booking, clinic, NotificationKind.booking_confirmed, "confirmed")
    _schedule_reminders(session, booking, clinic, now)


def confirm(session: Session, patient: User, booking_id: uuid.UUID, language: Language) -> BookingPublic:
    now = utcnow()
    repository = BookingRepository(session)
    booking, clinic = _patient_booking(repository, patient, booking_id)
    if booking.status in (BookingStatus.pending, BookingStatus.booked):
        return booking_public(booking, clinic, language)  # confirmed already: a retry
    if booking.status is not BookingStatus.proposed:
        raise BookingStatusConflict()
    if booking.hold_expires_at is not None and booking.hold_expires_at <= now:
        slot = _lock_one_slot(repository, booking.slot_id)
        _release_hold(booking, slot, now)
        repository.add(slot, booking)
        raise HoldExpired()
    booking.hold_expires_at = None
    if clinic.his_confirms_bookings:
        booking.status = BookingStatus.pending
        booking.updated_at = now
    else:
        _make_booked(session, booking, clinic, now)
    repository.add(booking)
    _emit(session, booking, "booking.created")
    return booking_public(booking, clinic, language)


def _check_cutoff(booking: Booking, now: datetime) -> None:
    cutoff = get_settings().booking_cancel_cutoff_hours
    if booking.status is not BookingStatus.proposed and booking.starts_at - now < timedelta(hours=cutoff):
        raise CancellationTooLate(count=int(cutoff) if cutoff == int(cutoff) else round(cutoff, 1))


def _cancel(session: Session, booking: Booking, reason: str, now: datetime) -> None:
    repository = BookingRepository(session)
    slot = _lock_one_slot(repository, booking.slot_id)
    _withdraw_reminders(session, booking)
    booking.status = BookingStatus.cancelled
    booking.cancel_reason = reason
    booking.hold_expires_at = None
    booking.updated_at = now
    slot.booked_count -= 1
    slot.updated_at = now
    repository.add(slot, booking)
    _emit(session, booking, "booking.cancelled")


def cancel_by_patient(
    session: Session, patient: User, booking_id: uuid.UUID, language: Language
) -> BookingPublic:
    now = utcnow()
    repository = BookingRepository(session)
    booking, clinic = _patient_booking(repository, patient, booking_id)
    if booking.status is BookingStatus.cancelled:
        return booking_public(booking, clinic, language)
    if booking.status not in (BookingStatus.proposed, BookingStatus.pending, BookingStatus.booked):
        raise BookingStatusConflict()
    _check_cutoff(booking, now)
    _cancel(session, booking, "patient", now)
    return booking_public(booking, clinic, language)


def cancel_for_erasure(session: Session, patient_id: uuid.UUID, now: datetime) -> int:
    """Cancel every active booking of a person whose account is being erased, whatever the
    cutoff: the places are freed, reminders withdrawn and the hospital systems told
    (booking.cancelled, reason `account_deleted`). Returns how many."""
    repository = BookingRepository(session)
    active = repository.active_bookings_of(patient_id)
    repository.lock_slots([booking.slot_id for booking in active])  # id order, as everywhere
    for booking in active:
        _cancel(session, booking, "account_deleted", now)
    return len(active)


def _move(session: Session, booking: Booking, clinic: Clinic, new_slot_id: uuid.UUID, now: datetime) -> None:
    """Move a booking to another slot in one step: the old place is given up only together with
    taking the new one."""
    repository = BookingRepository(session)
    if new_slot_id == booking.slot_id:
        raise SameSlot()
    slots = repository.lock_slots([booking.slot_id, new_slot_id])
    new_slot = slots.get(new_slot_id)
    if new_slot is None or new_slot.clinic_id != booking.clinic_id:
        raise SlotNotFound()
    _release_expired_holds(repository, new_slot, now)
    _check_bookable(new_slot, now)
    if repository.overlapping_active(
        booking.patient_id, new_slot.starts_at, new_slot.ends_at, excluding=booking.id
    ):
        raise OverlappingBooking()
    _withdraw_reminders(session, booking)
    old_slot = slots[booking.slot_id]
    old_slot.booked_count -= 1
    new_slot.booked_count += 1
    old_slot.updated_at = new_slot.updated_at = now
    booking.slot_id = new_slot.id
    booking.service = new_slot.service
    booking.starts_at = new_slot.starts_at
    booking.ends_at = new_slot.ends_at
    booking.updated_at = now
    _flush_booking(repository, old_slot, new_slot, booking)
    if booking.status is BookingStatus.booked:
        _notify(session, booking, clinic, NotificationKind.booking_changed, "changed")
        _schedule_reminders(session, booking, clinic, now)
    _emit(session, booking, "booking.rescheduled")


def reschedule(
    session: Session, patient: User, booking_id: uuid.UUID, new_slot_id: uuid.UUID, language: Language
) -> BookingPublic:
    now = utcnow()
    repository = BookingRepository(session)
    repository.lock_patient(patient.id)
    booking, clinic = _patient_booking(repository, patient, booking_id)
    if booking.status not in (BookingStatus.proposed, BookingStatus.pending, BookingStatus.booked):
        raise BookingStatusConflict()
    if new_slot_id == booking.slot_id:
        raise SameSlot()
    _check_cutoff(booking, now)
    _move(session, booking, clinic, new_slot_id, now)
    return booking_public(booking, clinic, language)


def get_patient_booking(
    session: Session, patient: User, booking_id: uuid.UUID, language: Language
) -> BookingPublic:
    booking, clinic = _patient_booking(BookingRepository(session), patient, booking_id)
    return booking_public(booking, clinic, language)


def _page_key(cursor: str) -> tuple[datetime, uuid.UUID]:
    moment, booking_id = decode_cursor(cursor, 2)
    try:
        parsed = datetime.fromisoformat(str(moment))
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, uuid.UUID(str(booking_id))
    except ValueError:
        raise InvalidCursor() from None


def list_patient_bookings(
    session: Session, patient: User, cursor: str | None, limit: int, language: Language
) -> BookingPage:
    repository = BookingRepository(session)
    rows = repository.patient_bookings(patient.id, _page_key(cursor) if cursor else None, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    clinics = {clinic_id: repository.get_clinic(clinic_id) for clinic_id in {b.clinic_id for b in page}}
    return BookingPage(
        items=[booking_public(b, clinics[b.clinic_id], language) for b in page],  # type: ignore[arg-type]
        next_cursor=encode_cursor([page[-1].starts_at.isoformat(), str(page[-1].id)]) if more else None,
    )


# Clinic staff


def _staff_clinic(repository: BookingRepository, principal: Principal, clinic_id: uuid.UUID) -> Clinic:
    clinic = repository.get_clinic(clinic_id) if principal.can_access_clinic(clinic_id) else None
    if clinic is None:
        raise ClinicNotFound()
    return clinic


def create_resource(
    session: Session, principal: Principal, clinic_id: uuid.UUID, data: ResourceCreate
) -> Resource:
    repository = BookingRepository(session)
    clinic = _staff_clinic(repository, principal, clinic_id)
    resource = Resource(clinic_id=clinic.id, name=data.name, kind=data.kind)
    repository.add(resource)
    return resource


def list_resources(session: Session, principal: Principal, clinic_id: uuid.UUID) -> Sequence[Resource]:
    repository = BookingRepository(session)
    clinic = _staff_clinic(repository, principal, clinic_id)
    return repository.list_resources(clinic.id)


def _validity_overlaps(a: Schedule, b: Schedule) -> bool:
    a_end = a.valid_until or date.max
    b_end = b.valid_until or date.max
    return a.valid_from <= b_end and b.valid_from <= a_end


def create_schedule(
    session: Session, principal: Principal, clinic_id: uuid.UUID, data: ScheduleCreate
) -> Schedule:
    repository = BookingRepository(session)
    clinic = _staff_clinic(repository, principal, clinic_id)
    if repository.get_resource(clinic.id, data.resource_id) is None:
        raise ResourceNotFound()
    today = clinic_today(clinic, utcnow())
    if data.valid_from < today:
        raise ScheduleStartsInPast()
    schedule = Schedule(
        clinic_id=clinic.id,
        resource_id=data.resource_id,
        service=data.service,
        rules=[rule.model_dump() for rule in data.rules],
        slot_minutes=data.slot_minutes,
        capacity=data.capacity,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
    )
    new_rules = [WeeklyRule.from_json(rule) for rule in schedule.rules]
    if any(a.overlaps(b) for i, a in enumerate(new_rules) for b in new_rules[i + 1 :]):
        raise ScheduleOverlaps()
    for other in repository.active_schedules_of_resource(data.resource_id):
        other_rules = [WeeklyRule.from_json(rule) for rule in other.rules]
        if _validity_overlaps(schedule, other) and any(a.overlaps(b) for a in new_rules for b in other_rules):
            raise ScheduleOverlaps()
    repository.add(schedule)
    horizon = get_settings().slot_horizon_days
    materialize_slots(repository, schedule, clinic, today, today + timedelta(days=horizon))
    return schedule


def list_schedules(session: Session, principal: Principal, clinic_id: uuid.UUID) -> Sequence[Schedule]:
    repository = BookingRepository(session)
    clinic = _staff_clinic(repository, principal, clinic_id)
    return repository.list_schedules(clinic.id)


def end_schedule(
    session: Session, principal: Principal, clinic_id: uuid.UUID, schedule_id: uuid.UUID
) -> None:
    """Stop a schedule: its future slots without bookings go; booked ones stay as they are."""
    repository = BookingRepository(session)
    clinic = _staff_clinic(repository, principal, clinic_id)
    schedule = repository.get_schedule(clinic.id, schedule_id)
    if schedule is None or not schedule.active:
        raise ScheduleNotFound()
    schedule.active = False
    schedule.updated_at = utcnow()
    repository.add(schedule)
    repository.retire_future_slots(schedule.id, utcnow())


def replace_schedule(
    session: Session, principal: Principal, clinic_id: uuid.UUID, schedule_id: uuid.UUID, data: ScheduleCreate
) -> Schedule:
    """Change a schedule from `data.valid_from` on: the old one ends the day before (or goes
    whole when the change starts with it) and its free slots from then on go, booked ones stay;
    the new one passes every check of create_schedule. One transaction: a refused new schedule
    leaves the old one as it was."""
    repository = BookingRepository(session)
    clinic = _staff_clinic(repository, principal, clinic_id)
    old = repository.get_schedule(clinic.id, schedule_id)
    if old is None or not old.active:
        raise ScheduleNotFound()
    now = utcnow()
    if data.valid_from < clinic_today(clinic, now):
        raise ScheduleStartsInPast()
    if data.valid_from <= old.valid_from:
        old.active = False
    else:
        old.valid_until = min(old.valid_until or date.max, data.valid_from - timedelta(days=1))
    old.updated_at = now
    repository.add(old)
    change_starts = datetime.combine(data.valid_from, datetime.min.time(), tzinfo=_zone(clinic))
    repository.retire_future_slots(old.id, max(now, change_starts))
    return create_schedule(session, principal, clinic_id, data)


def _clear_bookings(
    session: Session, clinic: Clinic, slots: Sequence[Slot], on_bookings: OnBookings | None, now: datetime
) -> tuple[int, int]:
    """Move or cancel (as staff chose) the active bookings of slots that are being blocked."""
    repository = BookingRepository(session)
    bookings = repository.active_bookings_in_slots([slot.id for slot in slots])
    if bookings and on_bookings is None:
        raise BookingsInTheWay(extensions={"booking_ids": [str(booking.id) for booking in bookings]})
    blocked_ids = [slot.id for slot in slots]
    moved = cancelled = 0
    slot_by_id = {slot.id: slot for slot in slots}
    for booking in bookings:
        target = (
            repository.next_free_slot(slot_by_id[booking.slot_id], excluding=blocked_ids)
            if on_bookings == "move"
            else None
        )
        if target is not None:
            try:
                _move(session, booking, clinic, target.id, now)
                moved += 1
                continue
            except (SlotFull, OverlappingBooking, SlotUnavailable):
                pass  # no place for this patient there: cancel instead
        _cancel(session, booking, "clinic", now)
        _notify(session, booking, clinic, NotificationKind.booking_cancelled, "cancelled")
        cancelled += 1
    return moved, cancelled


def add_exception(
    session: Session, principal: Principal, clinic_id: uuid.UUID, data: ExceptionCreate
) -> BlockResult:
    repository = BookingRepository(session)
    clinic = _staff_clinic(repository, principal, clinic_id)
    if data.resource_id is not None and repository.get_resource(clinic.id, data.resource_id) is None:
        raise ResourceNotFound()
    now = utcnow()
    slots = list(repository.slots_between(clinic.id, data.starts_at, data.ends_at, data.resource_id))
    locked = repository.lock_slots([slot.id for slot in slots])
    moved, cancelled = _clear_bookings(session, clinic, list(locked.values()), data.on_bookings, now)
    for slot in locked.values():
        slot.status = SlotStatus.blocked
        slot.blocked_reason = data.reason
        slot.updated_at = now
    repository.add(
        ScheduleException(
            clinic_id=clinic.id,
            resource_id=data.resource_id,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            reason=data.reason,
        ),
        *locked.values(),
    )
    return BlockResult(blocked_slots=len(locked), moved_bookings=moved, cancelled_bookings=cancelled)


def _staff_slot(
    repository: BookingRepository, principal: Principal, slot_id: uuid.UUID
) -> tuple[Slot, Clinic]:
    slot = repository.get_slot(slot_id)
    if slot is None or not principal.can_access_clinic(slot.clinic_id):
        raise SlotNotFound()
    slot = _lock_one_slot(repository, slot_id)
    clinic = repository.get_clinic(slot.clinic_id)
    assert clinic is not None
    return slot, clinic


def block_slot(session: Session, principal: Principal, slot_id: uuid.UUID, data: SlotBlock) -> BlockResult:
    repository = BookingRepository(session)
    slot, clinic = _staff_slot(repository, principal, slot_id)
    now = utcnow()
    moved, cancelled = _clear_bookings(session, clinic, [slot], data.on_bookings, now)
    slot.status = SlotStatus.blocked
    slot.blocked_reason = data.reason
    slot.updated_at = now
    repository.add(slot)
    return BlockResult(blocked_slots=1, moved_bookings=moved, cancelled_bookings=cancelled)


def unblock_slot(session: Session, principal: Principal, slot_id: uuid.UUID) -> Slot:
    repository = BookingRepository(session)
    slot, _ = _staff_slot(repository, principal, slot_id)
    slot.status = SlotStatus.open
    slot.blocked_reason = None
    slot.updated_at = utcnow()
    repository.add(slot)
    return slot


def day_view(session: Session, principal: Principal, clinic_id: uuid.UUID, day: date) -> DayView:
    repository = BookingRepository(session)
    clinic = _staff_clinic(repository, principal, clinic_id)
    zone = _zone(clinic)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    items = [
        DayBooking(
            id=booking.id,
            starts_at=booking.starts_at.astimezone(zone),
            ends_at=booking.ends_at.astimezone(zone),
            service=booking.service,
            resource_name=resource_name,
            status=booking.status,
            patient_name=full_name,
            patient_phone=phone,
        )
        for booking, full_name, phone, resource_name in repository.day_bookings(clinic.id, start, end)
    ]
    return DayView(date=day, time_zone=clinic.time_zone, items=items)


def day_slots(session: Session, principal: Principal, clinic_id: uuid.UUID, day: date) -> list[Slot]:
    """Every slot of a day on the clinic's calendar (open, full or blocked), in time order."""
    repository = BookingRepository(session)
    clinic = _staff_clinic(repository, principal, clinic_id)
    start = datetime.combine(day, datetime.min.time(), tzinfo=_zone(clinic))
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=_zone(clinic))
    return sorted(repository.slots_between(clinic.id, start, end), key=lambda slot: slot.starts_at)


# Transitions by clinic staff or the clinic's hospital system.

STATUS_FROM: dict[BookingStatus, tuple[BookingStatus, ...]] = {
    BookingStatus.arrived: (BookingStatus.booked,),
    BookingStatus.fulfilled: (BookingStatus.booked, BookingStatus.arrived),
    BookingStatus.noshow: (BookingStatus.booked,),
}


def _clinic_booking(
    repository: BookingRepository, principal: Principal, booking_id: uuid.UUID
) -> tuple[Booking, Clinic]:
    clinic_ids = None if principal.role == "admin" else sorted(principal.clinic_ids)
    booking = repository.get_booking_of_clinics(booking_id, clinic_ids)
    if booking is None:
        raise BookingNotFound()
    clinic = repository.get_clinic(booking.clinic_id)
    assert clinic is not None
    return booking, clinic


def get_clinic_booking(
    session: Session, principal: Principal, booking_id: uuid.UUID
) -> tuple[Booking, Clinic]:
    """A booking of one of the caller's clinics (BookingNotFound for any other)."""
    return _clinic_booking(BookingRepository(session), principal, booking_id)


def set_status(
    session: Session,
    principal: Principal,
    booking_id: uuid.UUID,
    status: BookingStatus,
) -> tuple[Booking, Clinic]:
    repository = BookingRepository(session)
    booking, clinic = _clinic_booking(repository, principal, booking_id)
    if booking.status is not status:
        if booking.status not in STATUS_FROM[status]:
            raise BookingStatusConflict()
        now = utcnow()
        if status is BookingStatus.noshow or status is BookingStatus.fulfilled:
            _withdraw_reminders(session, booking)
        booking.status = status
        booking.updated_at = now
        repository.add(booking)
        _emit(session, booking, "booking.status_changed")
    return booking, clinic


def confirm_by_clinic(
    session: Session,
    principal: Principal,
    booking_id: uuid.UUID,
) -> tuple[Booking, Clinic]:
    repository = BookingRepository(session)
    booking, clinic = _clinic_booking(repository, principal, booking_id)
    if booking.status is not BookingStatus.booked:
        if booking.status is not BookingStatus.pending:
            raise BookingStatusConflict()
        _make_booked(session, booking, clinic, utcnow())
        repository.add(booking)
        _emit(session, booking, "booking.confirmed")
    return booking, clinic


def reject_by_clinic(
    session: Session,
    principal: Principal,
    booking_id: uuid.UUID,
) -> tuple[Booking, Clinic]:
    repository = BookingRepository(session)
    booking, clinic = _clinic_booking(repository, principal, booking_id)
    if not (booking.status is BookingStatus.cancelled and booking.cancel_reason == "rejected"):
        if booking.status not in (BookingStatus.proposed, BookingStatus.pending):
            raise BookingStatusConflict()
        _cancel(session, booking, "rejected", utcnow())
        _notify(session, booking, clinic, NotificationKind.booking_rejected, "rejected")
    return booking, clinic


def cancel_by_clinic(
    session: Session,
    principal: Principal,
    booking_id: uuid.UUID,
    reason: str,
) -> tuple[Booking, Clinic]:
    repository = BookingRepository(session)
    booking, clinic = _clinic_booking(repository, principal, booking_id)
    if booking.status is not BookingStatus.cancelled:
        if booking.status not in ACTIVE_STATUSES:
            raise BookingStatusConflict()
        _cancel(session, booking, reason, utcnow())
        _notify(session, booking, clinic, NotificationKind.booking_cancelled, "cancelled")
    return booking, clinic


def move_by_clinic(
    session: Session,
    principal: Principal,
    booking_id: uuid.UUID,
    new_slot_id: uuid.UUID,
) -> tuple[Booking, Clinic]:
    repository = BookingRepository(session)
    booking, clinic = _clinic_booking(repository, principal, booking_id)
    if booking.status not in (BookingStatus.pending, BookingStatus.booked):
        raise BookingStatusConflict()
    _move(session, booking, clinic, new_slot_id, utcnow())
    return booking, clinic


def his_booking(session: Session, booking: Booking, clinic: Clinic, language: Language) -> HisBooking:
    patient = session.get(User, booking.patient_id)
    assert patient is not None
    return HisBooking(
        **booking_public(booking, clinic, language).model_dump(),
        patient=PatientSummary(
            id=patient.id,
            full_name=patient.full_name,
            phone=patient.phone,
            birth_date=patient.birth_date,
            sex=str(patient.sex) if patient.sex else None,
        ),
    )


def changed_bookings(
    session: Session, principal: Principal, cursor: str | None, limit: int, language: Language
) -> HisBookingPage:
    """The hospital's clinic's bookings changed after the cursor, oldest change first."""
    repository = BookingRepository(session)
    (clinic_id,) = principal.clinic_ids
    clinic = repository.get_clinic(clinic_id)
    assert clinic is not None
    after = _page_key(cursor) if cursor else None
    until = utcnow() - timedelta(seconds=get_settings().his_feed_settle_seconds)
    rows = repository.changed_bookings(clinic.id, after, until, limit)
    if rows:
        next_cursor = encode_cursor([rows[-1].updated_at.isoformat(), str(rows[-1].id)])
    else:
        next_cursor = cursor or encode_cursor(
            [datetime.min.replace(tzinfo=until.tzinfo).isoformat(), str(uuid.UUID(int=0))]
        )
    return HisBookingPage(
        items=[his_booking(session, row, clinic, language) for row in rows], next_cursor=next_cursor
    )


# FHIR R4 views for hospital systems


def _hospital_clinic(repository: BookingRepository, principal: Principal) -> Clinic:
    (clinic_id,) = principal.clinic_ids
    clinic = repository.get_clinic(clinic_id)
    assert clinic is not None
    return clinic


def fhir_schedules(session: Session, principal: Principal) -> dict[str, Any]:
    repository = BookingRepository(session)
    clinic = _hospital_clinic(repository, principal)
    resources = {resource.id: resource for resource in repository.list_resources(clinic.id)}
    schedules = repository.list_schedules(clinic.id)
    entries = [fhir.schedule_resource(s, clinic, resources[s.resource_id]) for s in schedules]
    return fhir.bundle(entries, total=len(entries))


def fhir_slots(session: Session, principal: Principal, first_day: date | None, days: int) -> dict[str, Any]:
    repository = BookingRepository(session)
    clinic = _hospital_clinic(repository, principal)
    zone = _zone(clinic)
    day = first_day or clinic_today(clinic, utcnow())
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    slots = repository.slots_between(clinic.id, start, start + timedelta(days=days))
    entries = [fhir.slot_resource(slot) for slot in sorted(slots, key=lambda slot: (slot.starts_at, slot.id))]
    return fhir.bundle(entries, total=len(entries))


def fhir_appointment(session: Session, principal: Principal, booking_id: uuid.UUID) -> dict[str, Any]:
    repository = BookingRepository(session)
    booking, clinic = _clinic_booking(repository, principal, booking_id)
    patient = session.get(User, booking.patient_id)
    return fhir.appointment_resource(booking, clinic, patient.full_name if patient else None)


def fhir_appointments_of_day(session: Session, principal: Principal, day: date) -> dict[str, Any]:
    repository = BookingRepository(session)
    clinic = _hospital_clinic(repository, principal)
    zone = _zone(clinic)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    rows = repository.day_bookings(clinic.id, start, start + timedelta(days=1))
    entries = [fhir.appointment_resource(booking, clinic, full_name) for booking, full_name, _, _ in rows]
    return fhir.bundle(entries, total=len(entries))
