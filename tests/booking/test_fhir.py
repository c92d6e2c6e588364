"""The FHIR R4 views, validated with fhir.resources' R4B models (R4B keeps R4's Schedule, Slot,
Appointment and Bundle). Those models check structure, types and required elements but not
code values, so the codes are checked here against R4's value sets."""

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.schedule import Schedule as FhirSchedule
from fhir.resources.R4B.slot import Slot as FhirSlot
from sqlmodel import Session

from booking.fhir import (
    SERVICE_SYSTEM,
    appointment_resource,
    bundle,
    schedule_resource,
    slot_resource,
)
from booking.models import Booking, BookingStatus, Resource, ResourceKind, Schedule, Slot, SlotStatus
from services.accounts.models import Role
from services.clinics.models import Clinic, ClinicService
from tests.support import clinic_row, make_clinic, make_user

# R4 value sets (hl7.org/fhir/R4/valueset-slotstatus.html, -appointmentstatus, -participationstatus).
SLOT_STATUSES = {"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"}
APPOINTMENT_STATUSES = {
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
}
PARTICIPATION_STATUSES = {"accepted", "declined", "tentative", "needs-action"}
STARTS = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 09:00 in Tashkent


def a_clinic() -> Clinic:
    return clinic_row(id=uuid.uuid4(), name_en="Chilonzor Heart Centre")


def a_resource(clinic: Clinic) -> Resource:
    return Resource(id=uuid.uuid4(), clinic_id=clinic.id, name="ECG room 1", kind=ResourceKind.room)


def a_slot(clinic: Clinic, resource: Resource, **fields: Any) -> Slot:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "clinic_id": clinic.id,
        "resource_id": resource.id,
        "schedule_id": uuid.uuid4(),
        "service": ClinicService.ecg,
        "starts_at": STARTS,
        "ends_at": STARTS + timedelta(minutes=15),
        "capacity": 2,
        "booked_count": 0,
    }
    values.update(fields)
    return Slot(**values)


def a_booking(clinic: Clinic, slot: Slot, **fields: Any) -> Booking:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "clinic_id": clinic.id,
        "slot_id": slot.id,
        "patient_id": uuid.uuid4(),
        "service": slot.service,
        "starts_at": slot.starts_at,
        "ends_at": slot.ends_at,
        "created_at": datetime(2026, 11, 28, 10, 30, 15, 123456, tzinfo=UTC),
    }
    values.update(fields)
    return Booking(**values)


def test_a_schedule_names_its_clinic_device_service_and_horizon() -> None:
    clinic = a_clinic()
    resource = a_resource(clinic)
    schedule = Schedule(
        id=uuid.uuid4(),
        clinic_id=clinic.id,
        resource_id=resource.id,
        service=ClinicService.holter,
        rules=[{"weekday": 0, "start": "08:00", "end": "12:00"}],
        slot_minutes=30,
        capacity=1,
        valid_from=date(2026, 12, 1),
        valid_until=date(2027, 5, 31),
    )

    data = schedule_resource(schedule, clinic, resource)
    FhirSchedule.model_validate(data)

    assert data["resourceType"] == "Schedule"
    assert data["id"] == str(schedule.id)
    assert data["active"] is True
    (service,) = data["serviceType"]
    assert service["coding"] == [{"system": SERVICE_SYSTEM, "code": "holter", "display": "Holter monitoring"}]
    assert service["text"] == "Holter monitoring"
    assert data["actor"] == [
        {"reference": f"Location/{clinic.id}", "display": "Chilonzor Heart Centre"},
        {"reference": f"Device/{resource.id}", "display": "ECG room 1"},
    ]
    assert data["planningHorizon"] == {"start": "2026-12-01", "end": "2027-05-31"}


def test_an_open_ended_inactive_schedule() -> None:
    clinic = a_clinic()
    resource = a_resource(clinic)
    schedule = Schedule(
        clinic_id=clinic.id,
        resource_id=resource.id,
        service=ClinicService.ecg,
        slot_minutes=15,
        capacity=1,
        valid_from=date(2026, 12, 1),
        active=False,
    )
    data = schedule_resource(schedule, clinic, resource)
    FhirSchedule.model_validate(data)
    assert data["active"] is False
    assert data["planningHorizon"] == {"start": "2026-12-01"}


@pytest.mark.parametrize(
    ("status", "booked_count", "expected"),
    [
        (SlotStatus.open, 0, "free"),
        (SlotStatus.open, 1, "free"),
        (SlotStatus.open, 2, "busy"),
        (SlotStatus.blocked, 0, "busy-unavailable"),
        (SlotStatus.blocked, 2, "busy-unavailable"),
    ],
)
def test_each_slot_state_maps_to_a_fhir_slot_status(
    status: SlotStatus, booked_count: int, expected: str
) -> None:
    clinic = a_clinic()
    slot = a_slot(
        clinic,
        a_resource(clinic),
        status=status,
        booked_count=booked_count,
        blocked_reason="ECG device out of order" if status is SlotStatus.blocked else None,
    )

    data = slot_resource(slot)
    FhirSlot.model_validate(data)

    assert data["status"] == expected
    assert data["status"] in SLOT_STATUSES
    assert data["schedule"] == {"reference": f"Schedule/{slot.schedule_id}"}
    assert "contained" not in data
    assert data["start"] == "2026-12-01T04:00:00+00:00"
    assert data["end"] == "2026-12-01T04:15:00+00:00"
    assert data["serviceType"][0]["coding"][0]["code"] == "ecg"
    extensions = {item["url"].rsplit("/", 1)[1]: item["valueInteger"] for item in data["extension"]}
    assert extensions == {"slot-capacity": 2, "slot-booked-count": booked_count}
    if status is SlotStatus.blocked:
        assert data["comment"] == "ECG device out of order"
    else:
        assert "comment" not in data


def test_a_slot_without_a_weekly_schedule_carries_a_contained_one() -> None:
    clinic = a_clinic()
    resource = a_resource(clinic)
    slot = a_slot(clinic, resource, schedule_id=None)

    data = slot_resource(slot)
    parsed = FhirSlot.model_validate(data)

    assert data["schedule"] == {"reference": "#schedule"}
    (contained,) = data["contained"]
    assert contained["resourceType"] == "Schedule" and contained["id"] == "schedule"
    assert [actor["reference"] for actor in contained["actor"]] == [
        f"Location/{clinic.id}",
        f"Device/{resource.id}",
    ]
    assert parsed.contained is not None and parsed.contained[0].get_resource_type() == "Schedule"


def test_times_in_another_zone_are_given_in_utc_with_the_offset() -> None:
    clinic = a_clinic()
    tashkent = timezone(timedelta(hours=5))
    slot = a_slot(
        clinic,
        a_resource(clinic),
        starts_at=datetime(2026, 12, 1, 9, 0, tzinfo=tashkent),
        ends_at=datetime(2026, 12, 1, 9, 15, tzinfo=tashkent),
    )
    data = slot_resource(slot)
    assert (data["start"], data["end"]) == ("2026-12-01T04:00:00+00:00", "2026-12-01T04:15:00+00:00")


def test_a_naive_time_is_refused() -> None:
    clinic = a_clinic()
    slot = a_slot(clinic, a_resource(clinic), starts_at=datetime(2026, 12, 1, 9, 0))
    with pytest.raises(ValueError, match="time zone"):
        slot_resource(slot)


@pytest.mark.parametrize("status", list(BookingStatus))
def test_every_booking_status_is_a_valid_appointment(status: BookingStatus) -> None:
    clinic = a_clinic()
    slot = a_slot(clinic, a_resource(clinic))
    booking = a_booking(
        clinic, slot, status=status, cancel_reason="patient" if status == "cancelled" else None
    )

    data = appointment_resource(booking, clinic, "Dilnoza Karimova")
    Appointment.model_validate(data)

    assert data["resourceType"] == "Appointment"
    assert data["id"] == str(booking.id)
    assert data["status"] == status.value
    assert data["status"] in APPOINTMENT_STATUSES
    assert data["start"] == "2026-12-01T04:00:00+00:00"
    assert data["end"] == "2026-12-01T04:15:00+00:00"
    assert data["created"] == "2026-11-28T10:30:15+00:00"
    assert data["slot"] == [{"reference": f"Slot/{slot.id}"}]
    assert data["serviceType"][0]["coding"][0] == {
        "system": SERVICE_SYSTEM,
        "code": "ecg",
        "display": "Electrocardiogram (ECG)",
    }
    patient, location = data["participant"]
    assert patient["actor"] == {"reference": f"Patient/{booking.patient_id}", "display": "Dilnoza Karimova"}
    assert location["actor"] == {"reference": f"Location/{clinic.id}", "display": "Chilonzor Heart Centre"}
    assert {patient["status"], location["status"]} == {"accepted"}
    assert {patient["status"], location["status"]} <= PARTICIPATION_STATUSES
    # app-4: a cancellation reason only on a cancelled (or no-show) appointment.
    if status is BookingStatus.cancelled:
        assert data["cancelationReason"]["text"] == "patient"
        assert data["cancelationReason"]["coding"][0]["code"] == "patient"
    else:
        assert "cancelationReason" not in data


def test_a_cancellation_reason_shows_only_on_a_cancelled_appointment() -> None:
    clinic = a_clinic()
    slot = a_slot(clinic, a_resource(clinic))
    without_reason = appointment_resource(
        a_booking(clinic, slot, status=BookingStatus.cancelled), clinic, patient_display=None
    )
    Appointment.model_validate(without_reason)
    assert "cancelationReason" not in without_reason
    assert "display" not in without_reason["participant"][0]["actor"]
    stale_reason = appointment_resource(
        a_booking(clinic, slot, status=BookingStatus.booked, cancel_reason="clinic"), clinic, None
    )
    assert "cancelationReason" not in stale_reason


def test_rows_read_back_from_the_database_map_the_same(db: Session) -> None:
    clinic = make_clinic(db)
    patient = make_user(db, Role.patient)
    resource = Resource(clinic_id=clinic.id, name="Holter 2", kind=ResourceKind.device)
    db.add(resource)
    db.flush()
    schedule = Schedule(
        clinic_id=clinic.id,
        resource_id=resource.id,
        service=ClinicService.ecg,
        rules=[{"weekday": 1, "start": "08:00", "end": "12:00"}],
        slot_minutes=15,
        capacity=1,
        valid_from=date(2026, 12, 1),
    )
    db.add(schedule)
    db.flush()
    slot = a_slot(clinic, resource, schedule_id=schedule.id, capacity=1, booked_count=1)
    db.add(slot)
    db.flush()
    booking = a_booking(clinic, slot, patient_id=patient.id, status=BookingStatus.booked)
    db.add(booking)
    db.commit()
    db.expire_all()

    stored_slot = db.get(Slot, slot.id)
    stored_booking = db.get(Booking, booking.id)
    stored_schedule = db.get(Schedule, schedule.id)
    assert stored_slot is not None and stored_booking is not None and stored_schedule is not None

    resources = [
        schedule_resource(stored_schedule, clinic, resource),
        slot_resource(stored_slot),
        appointment_resource(stored_booking, clinic, patient.full_name),
    ]
    parsed = Bundle.model_validate(bundle(resources, total=3))
    assert [entry.resource.get_resource_type() for entry in parsed.entry or []] == [
        "Schedule",
        "Slot",
        "Appointment",
    ]
    assert resources[1]["status"] == "busy"
    assert resources[1]["schedule"] == {"reference": f"Schedule/{schedule.id}"}
    assert resources[2]["status"] == "booked"
    assert resources[2]["start"] == "2026-12-01T04:00:00+00:00"


def test_a_searchset_bundle_with_total_and_next_page() -> None:
    clinic = a_clinic()
    resource = a_resource(clinic)
    slots = [
        slot_resource(a_slot(clinic, resource, starts_at=STARTS + timedelta(minutes=15 * n)))
        for n in range(3)
    ]

    data = bundle(slots, total=42, next_url="https://api.cardioalert.app/v1/fhir/Slot?cursor=abc")
    parsed = Bundle.model_validate(data)

    assert data["resourceType"] == "Bundle" and data["type"] == "searchset"
    assert data["total"] == 42
    assert data["link"] == [
        {"relation": "next", "url": "https://api.cardioalert.app/v1/fhir/Slot?cursor=abc"}
    ]
    assert [entry["resource"]["id"] for entry in data["entry"]] == [slot["id"] for slot in slots]
    assert {entry["search"]["mode"] for entry in data["entry"]} == {"match"}
    assert parsed.total == 42


def test_an_empty_page_has_no_entries_at_all() -> None:
    data = bundle([])
    Bundle.model_validate(data)
    assert data == {"resourceType": "Bundle", "type": "searchset"}
