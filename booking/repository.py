"""Every query of the booking domain."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, text, update
from sqlmodel import Session, col, select

from booking.models import (
    ACTIVE_STATUSES,
    Booking,
    BookingStatus,
    Resource,
    Schedule,
    ScheduleException,
    Slot,
    SlotStatus,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventState,
)
from services.accounts.models import HospitalClient, User
from services.clinics.models import Clinic, ClinicClosure, ClinicService
from services.db import insert_ignoring_conflicts


class BookingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, *rows: object) -> None:
        self.session.add_all(rows)
        self.session.flush()

    # Clinics, resources, schedules

    def get_clinic(self, clinic_id: uuid.UUID) -> Clinic | None:
        return self.session.get(Clinic, clinic_id)

    def get_resource(self, clinic_id: uuid.UUID, resource_id: uuid.UUID) -> Resource | None:
        statement = select(Resource).where(Resource.id == resource_id, Resource.clinic_id == clinic_id)
        return self.session.exec(statement).first()

    def list_resources(self, clinic_id: uuid.UUID) -> Sequence[Resource]:
        statement = select(Resource).where(Resource.clinic_id == clinic_id).order_by(col(Resource.name))
        return self.session.exec(statement).all()

    def get_schedule(self, clinic_id: uuid.UUID, schedule_id: uuid.UUID) -> Schedule | None:
        statement = select(Schedule).where(Schedule.id == schedule_id, Schedule.clinic_id == clinic_id)
        return self.session.exec(statement).first()

    def list_schedules(self, clinic_id: uuid.UUID) -> Sequence[Schedule]:
        statement = (
            select(Schedule)
            .where(Schedule.clinic_id == clinic_id, col(Schedule.active).is_(True))
            .order_by(col(Schedule.created_at))
        )
        return self.session.exec(statement).all()

    def active_schedules_of_resource(self, resource_id: uuid.UUID) -> Sequence[Schedule]:
        statement = select(Schedule).where(
            Schedule.resource_id == resource_id, col(Schedule.active).is_(True)
        )
        return self.session.exec(statement).all()

    def all_active_schedules(self) -> Sequence[tuple[Schedule, Clinic]]:
        statement = (
            select(Schedule, Clinic)
            .join(Clinic, col(Clinic.id) == col(Schedule.clinic_id))
            .where(col(Schedule.active).is_(True))
        )
        return self.session.exec(statement).all()  # type: ignore[return-value]

    def exceptions_between(
        self, clinic_id: uuid.UUID, start: datetime, end: datetime
    ) -> Sequence[ScheduleException]:
        statement = select(ScheduleException).where(
            ScheduleException.clinic_id == clinic_id,
            col(ScheduleException.starts_at) < end,
            col(ScheduleException.ends_at) > start,
        )
        return self.session.exec(statement).all()

    def closure_days(self, clinic_id: uuid.UUID, first: date, last: date) -> set[date]:
        statement = select(ClinicClosure.day).where(
            ClinicClosure.clinic_id == clinic_id,
            col(ClinicClosure.day) >= first,
            col(ClinicClosure.day) <= last,
        )
        return set(self.session.exec(statement).all())

    # Slots

    def insert_slots(self, rows: list[dict[str, Any]]) -> None:
        """New slots; a slot already there for the same resource and start is left alone."""
        if not rows:
            return
        statement = insert_ignoring_conflicts(self.session, Slot, ["resource_id", "starts_at"])
        self.session.execute(statement, rows)

    def retire_future_slots(self, schedule_id: uuid.UUID, after: datetime) -> None:
        """Slots of a schedule from `after` on that nobody holds go: deleted when no booking ever
        pointed at them, blocked otherwise (cancelled bookings keep their slot for history)."""
        unbooked = and_(
            col(Slot.schedule_id) == schedule_id, col(Slot.starts_at) >= after, col(Slot.booked_count) == 0
        )
        ever_booked = exists().where(col(Booking.slot_id) == col(Slot.id))
        self.session.execute(delete(Slot).where(unbooked, ~ever_booked))
        self.session.execute(
            update(Slot).where(unbooked).values(status=SlotStatus.blocked, blocked_reason="schedule changed")
        )

    def get_slot(self, slot_id: uuid.UUID) -> Slot | None:
        return self.session.get(Slot, slot_id)

    def lock_slots(self, slot_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Slot]:
        """Row locks on slots, always taken in id order so two transactions never deadlock."""
        statement = (
            select(Slot)
            .where(col(Slot.id).in_(sorted(set(slot_ids))))
            .order_by(col(Slot.id))
            .with_for_update()
        )
        return {slot.id: slot for slot in self.session.exec(statement).all()}

    def slots_between(
        self, clinic_id: uuid.UUID, start: datetime, end: datetime, resource_id: uuid.UUID | None = None
    ) -> Sequence[Slot]:
        statement = select(Slot).where(
            Slot.clinic_id == clinic_id, col(Slot.starts_at) < end, col(Slot.ends_at) > start
        )
        if resource_id is not None:
            statement = statement.where(Slot.resource_id == resource_id)
        return self.session.exec(statement.order_by(col(Slot.id))).all()

    def free_slots(
        self, clinic_id: uuid.UUID, service: ClinicService, start: datetime, end: datetime
    ) -> Sequence[Any]:
        statement = (
            select(Slot.id, Slot.starts_at, Slot.ends_at, Slot.capacity, Slot.booked_count)
            .where(
                col(Slot.clinic_id) == clinic_id,
                col(Slot.service) == service,
                col(Slot.starts_at) >= start,
                col(Slot.starts_at) < end,
                col(Slot.status) == SlotStatus.open,
                col(Slot.booked_count) < col(Slot.capacity),
            )
            .order_by(col(Slot.starts_at), col(Slot.id))
        )
        return self.session.connection().execute(statement).all()

    def free_slots_json(
        self, clinic_id: uuid.UUID, service: ClinicService, start: datetime, end: datetime, time_zone: str
    ) -> str | None:
        """The free slots as a JSON array, times on the clinic's clock, rendered by PostgreSQL
        (a third of the CPU of building it here: slot search is the app's hottest read). None on
        other databases: the caller builds it from `free_slots`."""
        if self.session.get_bind().dialect.name != "postgresql":
            return None
        connection = self.session.connection()
        connection.execute(text("SELECT set_config('TimeZone', :zone, true)"), {"zone": time_zone})
        return connection.execute(
            text(
                "SELECT coalesce(json_agg(json_build_object('id', id, 'clinic_id', clinic_id,"
                " 'service', service, 'starts_at', starts_at, 'ends_at', ends_at,"
                " 'available', capacity - booked_count, 'capacity', capacity)"
                " ORDER BY starts_at, id), '[]')::text"
                " FROM slots WHERE clinic_id = :clinic_id AND service = :service AND starts_at >= :start"
                " AND starts_at < :end AND status = 'open' AND booked_count < capacity"
            ),
            {"clinic_id": clinic_id, "service": str(service), "start": start, "end": end},
        ).scalar_one()

    def next_free_slot(self, slot: Slot, excluding: Sequence[uuid.UUID]) -> Slot | None:
        """The earliest open slot with room for the same clinic and service after `slot`."""
        statement = (
            select(Slot)
            .where(
                Slot.clinic_id == slot.clinic_id,
                Slot.service == slot.service,
                col(Slot.starts_at) >= slot.ends_at,
                col(Slot.status) == SlotStatus.open,
                col(Slot.booked_count) < col(Slot.capacity),
                col(Slot.id).not_in(list(excluding)),
            )
            .order_by(col(Slot.starts_at))
            .limit(1)
        )
        return self.session.exec(statement).first()

    # Bookings

    @property
    def database_refuses_overlapping_bookings(self) -> bool:
        """PostgreSQL has the exclusion constraint (see the migration); SQLite has not."""
        return self.session.get_bind().dialect.name == "postgresql"

    def active_bookings_of(self, patient_id: uuid.UUID) -> Sequence[Booking]:
        return self.session.exec(
            select(Booking).where(Booking.patient_id == patient_id, col(Booking.status).in_(ACTIVE_STATUSES))
        ).all()

    def lock_patient(self, patient_id: uuid.UUID) -> None:
        """Serialises one patient's booking changes (the active-bookings limit is per patient)."""
        self.session.exec(select(User.id).where(User.id == patient_id).with_for_update()).first()

    def count_active(self, patient_id: uuid.UUID, now: datetime) -> int:
        statement = (
            select(func.count())
            .select_from(Booking)
            .where(
                Booking.patient_id == patient_id,
                col(Booking.status).in_(ACTIVE_STATUSES),
                col(Booking.ends_at) > now,
                or_(col(Booking.hold_expires_at).is_(None), col(Booking.hold_expires_at) > now),
            )
        )
        return int(self.session.exec(statement).one())

    def overlapping_active(
        self, patient_id: uuid.UUID, start: datetime, end: datetime, excluding: uuid.UUID | None = None
    ) -> Booking | None:
        statement = select(Booking).where(
            Booking.patient_id == patient_id,
            col(Booking.status).in_(ACTIVE_STATUSES),
            col(Booking.starts_at) < end,
            col(Booking.ends_at) > start,
        )
        if excluding is not None:
            statement = statement.where(Booking.id != excluding)
        return self.session.exec(statement).first()

    def expired_holds(
        self, now: datetime, slot_id: uuid.UUID | None = None, limit: int = 500
    ) -> Sequence[Booking]:
        statement = select(Booking).where(
            col(Booking.status) == BookingStatus.proposed, col(Booking.hold_expires_at) <= now
        )
        if slot_id is not None:
            statement = statement.where(Booking.slot_id == slot_id)
        return self.session.exec(statement.limit(limit).with_for_update(skip_locked=True)).all()

    def active_bookings_in_slots(self, slot_ids: Sequence[uuid.UUID]) -> Sequence[Booking]:
        statement = (
            select(Booking)
            .where(col(Booking.slot_id).in_(list(slot_ids)), col(Booking.status).in_(ACTIVE_STATUSES))
            .order_by(col(Booking.starts_at), col(Booking.id))
            .with_for_update()
        )
        return self.session.exec(statement).all()

    def get_booking_of_patient(self, booking_id: uuid.UUID, patient_id: uuid.UUID) -> Booking | None:
        statement = (
            select(Booking)
            .where(Booking.id == booking_id, Booking.patient_id == patient_id)
            .with_for_update()
        )
        return self.session.exec(statement).first()

    def get_booking_of_clinics(
        self, booking_id: uuid.UUID, clinic_ids: Sequence[uuid.UUID] | None
    ) -> Booking | None:
        """A booking of one of these clinics (None: any clinic), locked."""
        statement = select(Booking).where(Booking.id == booking_id)
        if clinic_ids is not None:
            statement = statement.where(col(Booking.clinic_id).in_(list(clinic_ids)))
        return self.session.exec(statement.with_for_update()).first()

    def patient_bookings(
        self, patient_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> Sequence[Booking]:
        """Newest appointment first."""
        statement = select(Booking).where(Booking.patient_id == patient_id)
        if after is not None:
            starts_at, last_id = after
            statement = statement.where(
                or_(
                    col(Booking.starts_at) < starts_at,
                    and_(col(Booking.starts_at) == starts_at, col(Booking.id) < last_id),
                )
            )
        statement = statement.order_by(col(Booking.starts_at).desc(), col(Booking.id).desc()).limit(limit)
        return self.session.exec(statement).all()

    def day_bookings(self, clinic_id: uuid.UUID, start: datetime, end: datetime) -> Sequence[Any]:
        statement = (
            select(Booking, User.full_name, User.phone, Resource.name)
            .join(User, col(User.id) == col(Booking.patient_id))
            .join(Slot, col(Slot.id) == col(Booking.slot_id))
            .join(Resource, col(Resource.id) == col(Slot.resource_id))
            .where(
                Booking.clinic_id == clinic_id,
                col(Booking.starts_at) >= start,
                col(Booking.starts_at) < end,
                col(Booking.status) != BookingStatus.proposed,
            )
            .order_by(col(Booking.starts_at), col(Resource.name))
        )
        return self.session.exec(statement).all()

    def changed_bookings(
        self, clinic_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, until: datetime, limit: int
    ) -> Sequence[Booking]:
        statement = select(Booking).where(Booking.clinic_id == clinic_id, col(Booking.updated_at) <= until)
        if after is not None:
            updated_at, last_id = after
            statement = statement.where(
                or_(
                    col(Booking.updated_at) > updated_at,
                    and_(col(Booking.updated_at) == updated_at, col(Booking.id) > last_id),
                )
            )
        statement = statement.order_by(col(Booking.updated_at), col(Booking.id)).limit(limit)
        return self.session.exec(statement).all()


class WebhookRepository:
    """The queries of hospital webhooks."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def active_endpoints_of_client(self, client_id: uuid.UUID) -> Sequence[WebhookEndpoint]:
        statement = (
            select(WebhookEndpoint)
            .where(WebhookEndpoint.hospital_client_id == client_id, col(WebhookEndpoint.active).is_(True))
            .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
        )
        return self.session.exec(statement).all()

    def count_active_endpoints(self, client_id: uuid.UUID) -> int:
        statement = (
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.hospital_client_id == client_id, col(WebhookEndpoint.active).is_(True))
        )
        return int(self.session.exec(statement).one())

    def lock_client(self, client_id: uuid.UUID) -> None:
        """Serialise registrations of one client, so two at once cannot both pass the limit."""
        self.session.exec(
            select(HospitalClient.id).where(HospitalClient.id == client_id).with_for_update()
        ).first()

    def deliverable_endpoints_of_clinic(self, clinic_id: uuid.UUID) -> Sequence[WebhookEndpoint]:
        statement = (
            select(WebhookEndpoint)
            .join(HospitalClient, col(HospitalClient.id) == col(WebhookEndpoint.hospital_client_id))
            .where(
                WebhookEndpoint.clinic_id == clinic_id,
                col(WebhookEndpoint.active).is_(True),
                col(HospitalClient.revoked_at).is_(None),
            )
            .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
        )
        return self.session.exec(statement).all()

    def fail_pending_events(self, endpoint_id: uuid.UUID, reason: str) -> None:
        self.session.execute(
            update(WebhookEvent)
            .where(
                col(WebhookEvent.endpoint_id) == endpoint_id,
                col(WebhookEvent.state) == WebhookEventState.pending,
            )
            .values(state=WebhookEventState.failed, last_error=reason)
        )

    def claim_due_events(
        self, now: datetime, limit: int
    ) -> Sequence[tuple[WebhookEvent, WebhookEndpoint, datetime | None]]:
        """Due events with their endpoint and the revocation time of its client, locked for this
        dispatcher; events another dispatcher holds are skipped."""
        statement = (
            select(WebhookEvent, WebhookEndpoint, HospitalClient.revoked_at)
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookEvent.endpoint_id))
            .join(HospitalClient, col(HospitalClient.id) == col(WebhookEndpoint.hospital_client_id))
            .where(
                col(WebhookEvent.state) == WebhookEventState.pending, col(WebhookEvent.next_attempt_at) <= now
            )
            .order_by(col(WebhookEvent.next_attempt_at), col(WebhookEvent.created_at))
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookEvent)  # type: ignore[arg-type]
        )
        return self.session.exec(statement).all()  # type: ignore[return-value]
