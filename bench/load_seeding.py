"""Seeding shared by the load benches (booking_load.py, mobile_load.py): the demo clinics with an
ECG room's slots, and signed-in patients (push_dispatch.py takes the patients' rows too). No
side effects on import: each bench configures its environment and creates its database first,
then imports this."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session, select

from booking.models import Resource, ResourceKind, Schedule
from booking.repository import BookingRepository
from booking.service import clinic_today, materialize_slots
from clinics_seed import load_clinics
from services.accounts.models import AuthSession, User
from services.clinics.models import Clinic, ClinicService
from services.db import utcnow
from services.security import create_access_token


def seed_clinics_and_slots(engine: Engine, days: int, slot_minutes: int, capacity: int) -> list[uuid.UUID]:
    """The demo clinics, each with one ECG room open every day 08:00-18:00 for `days` days; their
    ids, by slug."""
    every_day = [{"weekday": day, "start": "08:00", "end": "18:00"} for day in range(7)]
    with Session(engine) as session:
        load_clinics(session)
        session.commit()
        clinics = session.exec(select(Clinic).order_by(Clinic.slug)).all()
        repository = BookingRepository(session)
        for clinic in clinics:
            room = Resource(clinic_id=clinic.id, name="ECG room 1", kind=ResourceKind.room)
            today = clinic_today(clinic, utcnow())
            schedule = Schedule(
                clinic_id=clinic.id,
                resource_id=room.id,
                service=ClinicService.ecg,
                rules=every_day,
                slot_minutes=slot_minutes,
                capacity=capacity,
                valid_from=today,
            )
            repository.add(room, schedule)
            materialize_slots(repository, schedule, clinic, today, today + timedelta(days=days))
        session.commit()
        return [clinic.id for clinic in clinics]


def seed_patients(engine: Engine, count: int) -> list[tuple[uuid.UUID, str]]:
    """`count` patients, each signed in once: (user id, access token) each."""
    users, sessions = patient_rows(count, "load", utcnow())
    with engine.begin() as connection:
        connection.execute(insert(User), users)
        connection.execute(insert(AuthSession), sessions)
    return [
        (user["id"], create_access_token(user["id"], "patient", session["id"])[0])
        for user, session in zip(users, sessions, strict=True)
    ]


def patient_rows(count: int, label: str, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for `count` active patients ({label}{n}@example.uz) and one auth session each, in the
    same order, for a bulk insert."""
    users, sessions = [], []
    for number in range(count):
        user_id = uuid.uuid4()
        users.append(
            {
                "id": user_id,
                "role": "patient",
                "email": f"{label}{number}@example.uz",
                "password_hash": "!",
                "full_name": f"{label.capitalize()} Patient {number}",
                "time_zone": "Asia/Tashkent",
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }
        )
        sessions.append({"id": uuid.uuid4(), "user_id": user_id, "created_at": now, "last_used_at": now})
    return users, sessions
