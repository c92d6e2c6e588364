"""Resources, weekly schedules, their exceptions, slots, bookings, and the hospital systems'
webhooks.

A slot is one bookable time of one resource (an ECG room or device) with a capacity. Its
`booked_count` counts the bookings holding it; PostgreSQL refuses a count above the capacity
(CHECK) and two overlapping slots of one resource (an exclusion constraint made in the
migration), and a booking changes the count only with the slot's row locked."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.clinics.models import ClinicService
from services.db import enum_column, utc_column, utcnow


class ResourceKind(StrEnum):
    room = "room"
    device = "device"


class SlotStatus(StrEnum):
    open = "open"
    blocked = "blocked"


class BookingStatus(StrEnum):
    """FHIR R4 Appointment.status (the subset a booking passes through)."""

    proposed = "proposed"  # held by the patient, not yet confirmed; the hold expires
    pending = "pending"  # confirmed by the patient, waiting for the clinic's hospital system
    booked = "booked"
    arrived = "arrived"
    fulfilled = "fulfilled"
    cancelled = "cancelled"
    noshow = "noshow"


ACTIVE_STATUSES = (BookingStatus.proposed, BookingStatus.pending, BookingStatus.booked, BookingStatus.arrived)


class Resource(SQLModel, table=True):
    __tablename__ = "resources"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("clinics.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    name: str = Field(max_length=100)
    kind: ResourceKind = Field(sa_column=enum_column(ResourceKind))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Schedule(SQLModel, table=True):
    """Weekly opening of one resource for one service: slots of `slot_minutes`, each taking
    `capacity` patients, on the clinic's clock, between valid_from and valid_until."""

    __tablename__ = "schedules"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("slot_minutes BETWEEN 5 AND 480", name="slot_minutes_range"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("clinics.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    resource_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("resources.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    service: ClinicService = Field(sa_column=enum_column(ClinicService))
    # [{"weekday": 0-6 (Monday 0), "start": "08:00", "end": "12:00"}, ...]
    rules: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    slot_minutes: int
    capacity: int
    valid_from: date
    valid_until: date | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ScheduleException(SQLModel, table=True):
    """A span when a resource (or, without one, the whole clinic) takes no bookings: a
    holiday, a closure, a device out of order."""

    __tablename__ = "schedule_exceptions"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("clinics.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    resource_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("resources.id", ondelete="CASCADE"), nullable=True)
    )
    starts_at: datetime = Field(sa_column=utc_column())
    ends_at: datetime = Field(sa_column=utc_column())
    reason: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Slot(SQLModel, table=True):
    __tablename__ = "slots"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("booked_count >= 0 AND booked_count <= capacity", name="within_capacity"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        UniqueConstraint("resource_id", "starts_at"),
        Index("ix_slots_search", "clinic_id", "service", "starts_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("clinics.id", ondelete="CASCADE"), nullable=False)
    )
    resource_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("resources.id", ondelete="CASCADE"), nullable=False)
    )
    schedule_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey("schedules.id", ondelete="SET NULL"), nullable=True, index=True),
    )
    service: ClinicService = Field(sa_column=enum_column(ClinicService))
    starts_at: datetime = Field(sa_column=utc_column())
    ends_at: datetime = Field(sa_column=utc_column())
    capacity: int
    booked_count: int = 0
    status: SlotStatus = Field(default=SlotStatus.open, sa_column=enum_column(SlotStatus))
    blocked_reason: str | None = Field(default=None, max_length=200)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Booking(SQLModel, table=True):
    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_changes", "clinic_id", "updated_at", "id"),
        Index("ix_bookings_patient", "patient_id", "status"),
        Index("ix_bookings_day", "clinic_id", "starts_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("clinics.id", ondelete="CASCADE"), nullable=False)
    )
    slot_id: uuid.UUID = Field(sa_column=Column(ForeignKey("slots.id"), nullable=False, index=True))
    patient_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    service: ClinicService = Field(sa_column=enum_column(ClinicService))
    starts_at: datetime = Field(sa_column=utc_column())
    ends_at: datetime = Field(sa_column=utc_column())
    status: BookingStatus = Field(default=BookingStatus.proposed, sa_column=enum_column(BookingStatus))
    hold_expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    cancel_reason: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class WebhookEndpoint(SQLModel, table=True):
    """Where a hospital system wants its clinic's booking events."""

    __tablename__ = "webhook_endpoints"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    hospital_client_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("hospital_clients.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    clinic_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("clinics.id", ondelete="CASCADE"), nullable=False)
    )
    url: str = Field(sa_column=Column(String(500), nullable=False))
    # Kept to sign each delivery; shown to the hospital once, when the endpoint is registered.
    secret: str = Field(max_length=100)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class WebhookEventState(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"  # out of attempts


class WebhookEvent(SQLModel, table=True):
    """One booking event for one endpoint, written in the booking's transaction (an outbox);
    its id is the event id receivers de-duplicate on."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_due", "state", "next_attempt_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    endpoint_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    event_type: str = Field(max_length=50)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: WebhookEventState = Field(
        default=WebhookEventState.pending, sa_column=enum_column(WebhookEventState)
    )
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    delivered_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
