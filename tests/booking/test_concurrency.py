"""No double booking under real concurrency: the API served by uvicorn on loopback, many
simultaneous HTTP requests, each on its own PostgreSQL connection, in a database of its own."""

import asyncio
import random
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from booking.models import ACTIVE_STATUSES, Booking, BookingStatus, Resource, ResourceKind, Slot
from services.accounts.models import AuthSession, Role, User
from services.app import create_app
from services.clinics.models import ClinicService
from services.db import make_engine, utcnow
from services.migrations import upgrade_to_head
from services.security import create_access_token
from tests.conftest import POSTGRES_ADMIN_URL
from tests.infra import _free_port, create_database, drop_database
from tests.support import clinic_row, settings_changed

PATIENTS = 200


@dataclass
class LiveApi:
    base_url: str
    engine: Engine


@pytest.fixture(scope="module")
def live_api() -> Iterator[LiveApi]:
    name = f"cardioalert_concurrency_{secrets.token_hex(4)}"
    url = create_database(POSTGRES_ADMIN_URL, name)
    upgrade_to_head(url)
    port = _free_port()
    with settings_changed(CARDIOALERT_DATABASE_URL=url, CARDIOALERT_BOOKING_MAX_ACTIVE_PER_PATIENT="5"):
        server = uvicorn.Server(
            uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        engine = make_engine(url)
        try:
            yield LiveApi(f"http://127.0.0.1:{port}", engine)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            engine.dispose()
    drop_database(POSTGRES_ADMIN_URL, name)


def make_patients(engine: Engine, count: int) -> list[dict[str, str]]:
    headers = []
    with Session(engine) as session:
        for _ in range(count):
            user = User(
                role=Role.patient,
                email=f"{secrets.token_hex(6)}@example.uz",
                password_hash="!",
                full_name="P",
            )
            session.add(user)
            session.flush()
            auth_session = AuthSession(user_id=user.id)
            session.add(auth_session)
            session.flush()
            token, _ = create_access_token(user.id, user.role, auth_session.id)
            headers.append({"Authorization": f"Bearer {token}"})
        session.commit()
    return headers


def make_slots(engine: Engine, count: int, capacity: int) -> list[uuid.UUID]:
    """A clinic with one ECG room and `count` consecutive slots tomorrow."""
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    with Session(engine) as session:
        clinic = clinic_row()
        session.add(clinic)
        session.flush()
        room = Resource(clinic_id=clinic.id, name="ECG room", kind=ResourceKind.room)
        session.add(room)
        session.flush()
        slots = [
            Slot(
                clinic_id=clinic.id,
                resource_id=room.id,
                service=ClinicService.ecg,
                capacity=capacity,
                starts_at=start + timedelta(minutes=15 * i),
                ends_at=start + timedelta(minutes=15 * (i + 1)),
            )
            for i in range(count)
        ]
        session.add_all(slots)
        session.commit()
        return [slot.id for slot in slots]


async def post_all(base_url: str, requests: list[tuple[str, dict, dict[str, str]]]) -> list[httpx.Response]:
    """All requests at once, each with its own Idempotency-Key."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post(path, json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
                    for path, body, headers in requests
                )
            )
        )


def assert_consistent(engine: Engine) -> None:
    """Every slot's count equals its active bookings and stays within its capacity."""
    with Session(engine) as session:
        active = Counter(
            session.exec(select(Booking.slot_id).where(col(Booking.status).in_(ACTIVE_STATUSES))).all()
        )
        for slot in session.exec(select(Slot)).all():
            assert slot.booked_count == active.get(slot.id, 0) <= slot.capacity, slot.id


@pytest.mark.parametrize("capacity", [1, 3])
def test_many_patients_racing_for_one_slot(live_api: LiveApi, capacity: int) -> None:
    (slot_id,) = make_slots(live_api.engine, 1, capacity)
    patients = make_patients(live_api.engine, PATIENTS)
    responses = asyncio.run(
        post_all(
            live_api.base_url, [("/v1/bookings", {"slot_id": str(slot_id)}, headers) for headers in patients]
        )
    )
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: capacity, 409: PATIENTS - capacity}, statuses
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"slot_full"}
    assert all(
        r.headers["content-type"] == "application/problem+json" for r in responses if r.status_code == 409
    )
    with Session(live_api.engine) as session:
        held = session.exec(select(func.count()).select_from(Booking).where(Booking.slot_id == slot_id)).one()
    assert held == capacity
    assert_consistent(live_api.engine)


def test_a_storm_of_reschedules_never_double_books(live_api: LiveApi) -> None:
    movers = 60
    slot_ids = make_slots(live_api.engine, movers + 10, capacity=1)
    patients = make_patients(live_api.engine, movers)

    async def book_everyone() -> list[str]:
        held = await post_all(
            live_api.base_url,
            [("/v1/bookings", {"slot_id": str(slot_ids[i])}, patients[i]) for i in range(movers)],
        )
        assert {r.status_code for r in held} == {201}
        confirmed = await post_all(
            live_api.base_url,
            [(f"/v1/bookings/{r.json()['id']}/confirm", {}, patients[i]) for i, r in enumerate(held)],
        )
        assert {r.status_code for r in confirmed} == {200}
        return [r.json()["id"] for r in held]

    booking_ids = asyncio.run(book_everyone())
    target = slot_ids[movers]  # free, capacity 1: everyone wants it at once
    responses = asyncio.run(
        post_all(
            live_api.base_url,
            [
                (f"/v1/bookings/{booking_ids[i]}/reschedule", {"slot_id": str(target)}, patients[i])
                for i in range(movers)
            ],
        )
    )
    assert Counter(r.status_code for r in responses) == {200: 1, 409: movers - 1}
    assert_consistent(live_api.engine)

    # Then everyone moves at once to a random slot among a few, several rounds over.
    rng = random.Random(7)
    for _ in range(3):
        asyncio.run(
            post_all(
                live_api.base_url,
                [
                    (
                        f"/v1/bookings/{booking_ids[i]}/reschedule",
                        {"slot_id": str(rng.choice(slot_ids[movers - 5 :]))},
                        patients[i],
                    )
                    for i in range(movers)
                ],
            )
        )
        assert_consistent(live_api.engine)
    with Session(live_api.engine) as session:
        statuses = Counter(
            session.exec(
                select(Booking.status).where(col(Booking.id).in_([uuid.UUID(b) for b in booking_ids]))
            ).all()
        )
    assert statuses == {BookingStatus.booked: movers}  # every patient still has exactly their one booking


def test_the_database_itself_refuses_overbooking_and_overlapping_slots(live_api: LiveApi) -> None:
    """The guarantees hold even for writes that skip the service's checks."""
    (slot_id,) = make_slots(live_api.engine, 1, capacity=1)
    with Session(live_api.engine) as session:
        slot = session.get(Slot, slot_id)
        assert slot is not None
        slot.booked_count = 2
        session.add(slot)
        with pytest.raises(Exception, match="within_capacity"):
            session.commit()
    with Session(live_api.engine) as session:
        slot = session.get(Slot, slot_id)
        assert slot is not None
        overlapping = Slot(
            clinic_id=slot.clinic_id,
            resource_id=slot.resource_id,
            service=slot.service,
            capacity=1,
            starts_at=slot.starts_at + timedelta(minutes=5),
            ends_at=slot.ends_at + timedelta(minutes=5),
        )
        session.add(overlapping)
        with pytest.raises(Exception, match="ex_slots_resource_overlap"):
            session.commit()
