"""Fault drill: Redis down. The app is pointed at a throwaway redis-server of our own
(tests/infra.py), which is stopped while patients sign in, book and upload ECGs.

What must hold: sign-in keeps working and guessing stays limited (the throttle counts in memory
while Redis is away); bookings and their notifications need no Redis (the outbox is a table);
an upload is accepted and recorded as pending in PostgreSQL although its job cannot be queued,
and the periodic sweep queues it once Redis is back; readiness reports Redis unreachable.
Nothing is lost, because PostgreSQL holds the truth and Redis only carries work."""

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from notifications.models import Notification
from services.db import utcnow
from services.jobs import QUEUE, get_broker
from services.settings import get_settings
from services.studies.models import Study, StudyStatus
from services.studies.tasks import resend_waiting_studies
from tests.booking.support import bookable_clinic, free_slots, slot_starting_after
from tests.infra import ServiceUnavailableError, ThrowawayRedis
from tests.support import PASSWORD, make_user, settings_changed, sign_in

PTBXL = Path(__file__).resolve().parents[1] / "data" / "ptbxl"
# "Degrades, never hangs": a refused Redis connection fails at once; the bound only leaves room
# for a loaded 2-core machine (an upload is read and checked before it is stored).
SLOW_ANSWER_SECONDS = 10.0


@pytest.fixture
def redis_server() -> Iterator[ThrowawayRedis]:
    try:
        server = ThrowawayRedis()
    except ServiceUnavailableError as error:
        pytest.skip(str(error))
    get_broker.cache_clear()
    try:
        with settings_changed(CARDIOALERT_REDIS_URL=server.url):
            yield server
    finally:
        server.stop()
        get_broker.cache_clear()  # the next test's broker talks to the run's Redis again


def timed_post(client: TestClient, path: str, **kwargs: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    started = time.monotonic()
    response = client.post(path, **kwargs)  # type: ignore[arg-type]
    assert time.monotonic() - started < SLOW_ANSWER_SECONDS, f"{path} took too long with Redis down"
    return response.status_code, response.json() if response.content else {}


def test_with_redis_down_sign_in_still_works_and_guessing_is_still_limited(
    client: TestClient, db: Session, redis_server: ThrowawayRedis
) -> None:
    victim = make_user(db, email=f"victim-{uuid.uuid4().hex[:6]}@example.uz")
    someone = make_user(db, email=f"someone-{uuid.uuid4().hex[:6]}@example.uz")
    redis_server.stop()

    for _ in range(get_settings().login_max_failures):
        status, body = timed_post(
            client, "/v1/auth/login", json={"login": victim.email, "password": "wrong guess"}
        )
        assert (status, body["code"]) == (401, "invalid_credentials")
    status, body = timed_post(client, "/v1/auth/login", json={"login": victim.email, "password": PASSWORD})
    assert (status, body["code"]) == (429, "too_many_login_attempts")  # counted in memory meanwhile
    status, body = timed_post(client, "/v1/auth/login", json={"login": someone.email, "password": PASSWORD})
    assert status == 200 and body["access_token"]

    redis_server.start()
    status, _ = timed_post(client, "/v1/auth/login", json={"login": someone.email, "password": PASSWORD})
    assert status == 200


def test_with_redis_down_bookings_and_their_notifications_are_written(
    client: TestClient, db: Session, redis_server: ThrowawayRedis
) -> None:
    setup = bookable_clinic(client, db)
    slot = slot_starting_after(free_slots(client, setup.clinic.id), timedelta(hours=3))
    patient = make_user(db)
    headers = sign_in(db, patient)
    redis_server.stop()

    status, held = timed_post(
        client,
        "/v1/bookings",
        json={"slot_id": slot["id"]},
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert status == 201
    status, booked = timed_post(
        client,
        f"/v1/bookings/{held['id']}/confirm",
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert (status, booked["status"]) == (200, "booked")
    keys = [n.dedup_key for n in db.exec(select(Notification).where(Notification.user_id == patient.id))]
    assert any(key.startswith(f"booking:{held['id']}:confirmed") for key in keys)


def test_with_redis_down_an_upload_is_kept_pending_and_queued_by_the_sweep_when_redis_is_back(
    client: TestClient, db: Session, redis_server: ThrowawayRedis, caplog: pytest.LogCaptureFixture
) -> None:
    headers = sign_in(db, make_user(db))
    files = [
        ("file", (name, (PTBXL / name).read_bytes(), "application/octet-stream"))
        for name in ("00001_lr.hea", "00001_lr.dat")
    ]
    redis_server.stop()

    with caplog.at_level(logging.WARNING, logger="cardioalert.jobs"):
        status, body = timed_post(
            client, "/v1/studies", files=files, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
        )
    assert (status, body["status"]) == (202, "pending")
    assert "job queue unreachable; left to the sweep" in caplog.text
    study = db.get(Study, uuid.UUID(body["id"]))
    assert study is not None and study.status is StudyStatus.pending  # PostgreSQL keeps the truth

    later = utcnow() + timedelta(seconds=get_settings().study_resend_after_seconds + 1)
    assert resend_waiting_studies(db, later) == 0  # Redis still down: nothing sent, nothing lost
    db.expire_all()
    assert db.get(Study, study.id).status is StudyStatus.pending  # type: ignore[union-attr]

    redis_server.start()
    broker = get_broker()
    queued = f"{broker.namespace}:{QUEUE}"
    before = broker.client.llen(queued)
    much_later = later + timedelta(seconds=get_settings().study_resend_after_seconds + 1)
    assert resend_waiting_studies(db, much_later) >= 1
    assert broker.client.llen(queued) >= before + 1


def test_with_redis_down_readiness_says_so(client: TestClient, redis_server: ThrowawayRedis) -> None:
    redis_server.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["checks"]["redis"] == "unreachable"
    redis_server.start()
    assert client.get("/readyz").status_code == 200
