"""What the booking API takes and returns. Times go out on the clinic's clock (an ISO 8601
offset) with the clinic's time zone beside them."""

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from booking.models import BookingStatus, ResourceKind, SlotStatus
from services.accounts.schemas import InputModel
from services.clinics.models import ClinicService

CLINIC_ID = "3d6f0a8e-2b1c-4e5f-9a7b-8c6d5e4f3a21"
SLOT_ID = "8e2f4a6c-1b3d-4c5e-9f7a-0b1c2d3e4f5a"
BOOKING_ID = "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f"
RESOURCE_ID = "4b6d8f0a-2c4e-4a6b-8d0f-1a3c5e7a9b1d"
_CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def check_clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise PydanticCustomError("invalid_clock_time", "time must be HH:MM")
    return value


Clock = Annotated[str, AfterValidator(check_clock)]


class SlotPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": SLOT_ID,
                    "clinic_id": CLINIC_ID,
                    "service": "ecg",
                    "starts_at": "2026-12-01T09:30:00+05:00",
                    "ends_at": "2026-12-01T09:45:00+05:00",
                    "available": 2,
                    "capacity": 3,
                }
            ]
        }
    )

    id: uuid.UUID
    clinic_id: uuid.UUID
    service: ClinicService
    starts_at: datetime
    ends_at: datetime
    available: int = Field(description="Places still free.")
    capacity: int


class SlotSearch(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "clinic_id": CLINIC_ID,
                    "time_zone": "Asia/Tashkent",
                    "items": [
                        {
                            "id": SLOT_ID,
                            "clinic_id": CLINIC_ID,
                            "service": "ecg",
                            "starts_at": "2026-12-01T09:30:00+05:00",
                            "ends_at": "2026-12-01T09:45:00+05:00",
                            "available": 2,
                            "capacity": 3,
                        }
                    ],
                }
            ]
        }
    )

    clinic_id: uuid.UUID
    time_zone: str
    items: list[SlotPublic]


BOOKING_EXAMPLE = {
    "id": BOOKING_ID,
    "clinic_id": CLINIC_ID,
    "clinic_name": "Chilonzor Heart Centre",
    "slot_id": SLOT_ID,
    "service": "ecg",
    "status": "booked",
    "starts_at": "2026-12-01T09:30:00+05:00",
    "ends_at": "2026-12-01T09:45:00+05:00",
    "time_zone": "Asia/Tashkent",
    "hold_expires_at": None,
    "cancel_reason": None,
    "created_at": "2026-11-25T10:00:00Z",
    "updated_at": "2026-11-25T10:01:00Z",
}


class BookingPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [BOOKING_EXAMPLE]})

    id: uuid.UUID
    clinic_id: uuid.UUID
    clinic_name: str
    slot_id: uuid.UUID
    service: ClinicService
    status: BookingStatus = Field(description="FHIR R4 Appointment.status.")
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    hold_expires_at: datetime | None = Field(
        description="Set while held: confirm before it, or the slot is freed."
    )
    cancel_reason: str | None
    created_at: datetime
    updated_at: datetime


class BookingPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [BOOKING_EXAMPLE], "next_cursor": None}]}
    )

    items: list[BookingPublic]
    next_cursor: str | None


class BookingHold(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"slot_id": SLOT_ID}]})

    slot_id: uuid.UUID


class BookingMove(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"slot_id": SLOT_ID}]})

    slot_id: uuid.UUID = Field(description="The new slot.")


class ResourceCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "ECG room 1", "kind": "room"}]}
    )

    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: ResourceKind


class ResourcePublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [{"id": RESOURCE_ID, "name": "ECG room 1", "kind": "room", "active": True}]
        },
    )

    id: uuid.UUID
    name: str
    kind: ResourceKind
    active: bool


class WeeklyRuleIn(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"weekday": 0, "start": "08:00", "end": "12:00"}]}
    )

    weekday: int = Field(ge=0, le=6, description="Monday 0 … Sunday 6.")
    start: Clock
    end: Clock

    @model_validator(mode="after")
    def end_after_start(self) -> "WeeklyRuleIn":
        if self.end != "24:00" and self.end <= self.start:
            raise PydanticCustomError("end_before_start", "end must be after start")
        return self


SCHEDULE_EXAMPLE = {
    "resource_id": RESOURCE_ID,
    "service": "ecg",
    "rules": [
        {"weekday": 0, "start": "08:00", "end": "12:00"},
        {"weekday": 2, "start": "14:00", "end": "18:00"},
    ],
    "slot_minutes": 15,
    "capacity": 1,
    "valid_from": "2026-12-01",
    "valid_until": None,
}


class ScheduleCreate(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SCHEDULE_EXAMPLE]})

    resource_id: uuid.UUID
    service: ClinicService
    rules: list[WeeklyRuleIn] = Field(min_length=1, max_length=50)
    slot_minutes: int = Field(ge=5, le=480)
    capacity: int = Field(ge=1, le=100)
    valid_from: date
    valid_until: date | None = None

    @model_validator(mode="after")
    def until_after_from(self) -> "ScheduleCreate":
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise PydanticCustomError("end_before_start", "valid_until before valid_from")
        return self


class SchedulePublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [{**SCHEDULE_EXAMPLE, "id": "6a8c0e2b-4d6f-4a8c-9e0b-2d4f6a8c0e2b", "active": True}]
        },
    )

    id: uuid.UUID
    resource_id: uuid.UUID
    service: ClinicService
    rules: list[dict[str, int | str]]
    slot_minutes: int
    capacity: int
    valid_from: date
    valid_until: date | None
    active: bool


OnBookings = Literal["cancel", "move"]


class ExceptionCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resource_id": RESOURCE_ID,
                    "starts_at": "2026-12-08T00:00:00+05:00",
                    "ends_at": "2026-12-09T00:00:00+05:00",
                    "reason": "Constitution Day",
                    "on_bookings": "move",
                }
            ]
        },
    )

    resource_id: uuid.UUID | None = Field(default=None, description="Leave out to close the whole clinic.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    on_bookings: OnBookings | None = Field(
        default=None, description="What to do with bookings in the span; required when there are any."
    )

    @model_validator(mode="after")
    def ends_after_start(self) -> "ExceptionCreate":
        if self.ends_at <= self.starts_at:
            raise PydanticCustomError("end_before_start", "ends_at before starts_at")
        return self


class SlotBlock(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "ECG device out of order", "on_bookings": "move"}]},
    )

    reason: Annotated[str, Field(min_length=1, max_length=200)]
    on_bookings: OnBookings | None = Field(
        default=None, description="What to do with the slot's bookings; required when it has any."
    )


class BlockResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"blocked_slots": 4, "moved_bookings": 1, "cancelled_bookings": 0}]}
    )

    blocked_slots: int
    moved_bookings: int
    cancelled_bookings: int


class SlotStatusPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": SLOT_ID, "status": "blocked", "booked": 0, "capacity": 1}]}
    )

    id: uuid.UUID
    status: SlotStatus
    booked: int
    capacity: int


class DayBooking(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": BOOKING_ID,
                    "starts_at": "2026-12-01T09:30:00+05:00",
                    "ends_at": "2026-12-01T09:45:00+05:00",
                    "service": "ecg",
                    "resource_name": "ECG room 1",
                    "status": "booked",
                    "patient_name": "Dilnoza Karimova",
                    "patient_phone": "+998901234567",
                }
            ]
        }
    )

    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    service: ClinicService
    resource_name: str
    status: BookingStatus
    patient_name: str
    patient_phone: str | None


class DayView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"date": "2026-12-01", "time_zone": "Asia/Tashkent", "items": []}]}
    )

    date: date
    time_zone: str
    items: list[DayBooking]


class StatusUpdate(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "arrived"}]})

    status: Literal[BookingStatus.arrived, BookingStatus.fulfilled, BookingStatus.noshow]


class ClinicCancel(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "doctor_unavailable"}]}
    )

    reason: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")] = "clinic"


class PatientSummary(BaseModel):
    """What the clinic's hospital system needs to match the patient in its own records."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6f1c1f0e-8f2a-4d53-9d8e-0c5b2f7f3a10",
                    "full_name": "Dilnoza Karimova",
                    "phone": "+998901234567",
                    "birth_date": "1978-04-12",
                    "sex": "female",
                }
            ]
        }
    )

    id: uuid.UUID
    full_name: str
    phone: str | None
    birth_date: date | None
    sex: str | None


class HisBooking(BookingPublic):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **BOOKING_EXAMPLE,
                    "patient": {
                        "id": "6f1c1f0e-8f2a-4d53-9d8e-0c5b2f7f3a10",
                        "full_name": "Dilnoza Karimova",
                        "phone": "+998901234567",
                        "birth_date": "1978-04-12",
                        "sex": "female",
                    },
                }
            ]
        }
    )

    patient: PatientSummary


class HisBookingPage(BaseModel):
    """Bookings changed after the cursor, oldest change first. Changes become visible a few
    seconds after they happen (so none can commit behind a cursor already handed out)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [], "next_cursor": "WyIyMDI2Li4uIl0"}]}
    )

    items: list[HisBooking]
    next_cursor: str | None = Field(description="Keep it and ask again with it; it is never null.")


class WebhookCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"url": "https://his.clinic.example.uz/cardioalert/events"}]},
    )

    url: str = Field(min_length=8, max_length=500)


WEBHOOK_EXAMPLE = {
    "id": "7c9e1a3b-5d7f-4b9d-8f1a-3c5e7a9b1d3f",
    "url": "https://his.clinic.example.uz/cardioalert/events",
    "active": True,
    "created_at": "2026-11-25T10:00:00Z",
}


class WebhookPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [WEBHOOK_EXAMPLE]})

    id: uuid.UUID
    url: str
    active: bool
    created_at: datetime


class WebhookCreated(WebhookPublic):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**WEBHOOK_EXAMPLE, "secret": "q8Jt0-vK3n4HfE7mWz2xYc1bNd9uRa5sLpG6oT4iVe0"}]
        }
    )

    secret: str = Field(
        description="Shown only here: verify each delivery's X-CardioAlert-Signature with it."
    )
