"""Shared set-up for booking tests: a clinic with an ECG room and a schedule, made through the
staff API as clinic staff would."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlmodel import Session

from booking import webhooks
from booking.models import Booking, BookingStatus, Resource, ResourceKind, Schedule, Slot
from services.accounts.models import Role
from services.clinics.models import Clinic, ClinicService
from services.db import utcnow
from tests.support import hospital_headers, make_clinic, make_hospital_client, make_user, sign_in

ALL_WEEK_ALL_DAY = [{"weekday": day, "start": "00:00", "end": "24:00"} for day in range(7)]


@dataclass
class BookableClinic:
    clinic: Clinic
    staff_headers: dict[str, str]
    resource_id: str
    schedule_id: str


def bookable_clinic(
    client: TestClient,
    db: Session,
    *,
    capacity: int = 1,
    slot_minutes: int = 30,
    rules: list[dict[str, object]] | None = None,
    time_zone: str = "Asia/Tashkent",
    his_confirms_bookings: bool = False,
) -> BookableClinic:
    clinic = make_clinic(db, time_zone=time_zone, his_confirms_bookings=his_confirms_bookings)
    staff = make_user(db, Role.clinic_staff, clinics=[clinic])
    headers = sign_in(db, staff)
    resource = client.post(
        f"/v1/staff/clinics/{clinic.id}/resources",
        json={"name": "ECG room 1", "kind": "room"},
        headers=headers,
    )
    assert resource.status_code == 201, resource.text
    today = utcnow().astimezone(ZoneInfo(time_zone)).date()
    schedule = client.post(
        f"/v1/staff/clinics/{clinic.id}/schedules",
        json={
            "resource_id": resource.json()["id"],
            "service": "ecg",
            "rules": rules or ALL_WEEK_ALL_DAY,
            "slot_minutes": slot_minutes,
            "capacity": capacity,
            "valid_from": today.isoformat(),
        },
        headers=headers,
    )
    assert schedule.status_code == 201, schedule.text
    return BookableClinic(clinic, headers, resource.json()["id"], schedule.json()["id"])


def free_slots(
    client: TestClient, clinic_id: uuid.UUID, days: int = 3, from_day: date | None = None
) -> list[dict]:
    params: dict[str, object] = {"service": "ecg", "days": days}
    if from_day is not None:
        params["from"] = from_day.isoformat()
    response = client.get(f"/v1/clinics/{clinic_id}/slots", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def slot_starting_after(slots: list[dict], after: timedelta) -> dict:
    """The first slot starting at least `after` from now."""
    threshold = utcnow() + after
    return next(slot for slot in slots if datetime.fromisoformat(slot["starts_at"]) >= threshold)


@dataclass
class BookingWorld:
    """Clinic A (ours) and clinic B (someone else's), with their people, for access tests."""

    clinic: Clinic
    other_clinic: Clinic
    staff: dict[str, str]
    other_staff: dict[str, str]
    patient: dict[str, str]
    other_patient: dict[str, str]
    hospital: dict[str, str]
    other_hospital: dict[str, str]
    resource_id: uuid.UUID
    schedule_id: uuid.UUID
    slot_ids: list[uuid.UUID]
    booking_id: uuid.UUID  # the patient's, booked, in slot_ids[0]
    webhook_id: uuid.UUID  # the hospital's


def booking_world(db: Session, booking_status: BookingStatus = BookingStatus.booked) -> BookingWorld:
    clinic, other_clinic = make_clinic(db), make_clinic(db)
    resource = Resource(clinic_id=clinic.id, name="ECG room 1", kind=ResourceKind.room)
    db.add(resource)
    db.flush()
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    schedule = Schedule(
        clinic_id=clinic.id,
        resource_id=resource.id,
        service=ClinicService.ecg,
        rules=[{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)],
        slot_minutes=30,
        capacity=1,
        valid_from=start.date(),
        valid_until=start.date() + timedelta(days=30),
    )
    db.add(schedule)
    db.flush()
    slots = [
        Slot(
            clinic_id=clinic.id,
            resource_id=resource.id,
            schedule_id=schedule.id,
            service=ClinicService.ecg,
            capacity=1,
            starts_at=start + timedelta(minutes=30 * i),
            ends_at=start + timedelta(minutes=30 * (i + 1)),
        )
        for i in range(3)
    ]
    patient, other_patient = make_user(db), make_user(db)
    slots[0].booked_count = 1
    db.add_all(slots)
    db.flush()
    booking = Booking(
        clinic_id=clinic.id,
        slot_id=slots[0].id,
        patient_id=patient.id,
        service=ClinicService.ecg,
        starts_at=slots[0].starts_at,
        ends_at=slots[0].ends_at,
        status=booking_status,
    )
    db.add(booking)
    his, _ = make_hospital_client(db, clinic)
    other_his, _ = make_hospital_client(db, other_clinic)
    endpoint, _ = webhooks.register_endpoint(db, his, "https://his.example.uz/events")
    db.commit()
    return BookingWorld(
        clinic=clinic,
        other_clinic=other_clinic,
        staff=sign_in(db, make_user(db, Role.clinic_staff, clinics=[clinic])),
        other_staff=sign_in(db, make_user(db, Role.clinic_staff, clinics=[other_clinic])),
        patient=sign_in(db, patient),
        other_patient=sign_in(db, other_patient),
        hospital=hospital_headers(his),
        other_hospital=hospital_headers(other_his),
        resource_id=resource.id,
        schedule_id=schedule.id,
        slot_ids=[slot.id for slot in slots],
        booking_id=booking.id,
        webhook_id=endpoint.id,
    )
