"""A worker process killed in the middle of a batch: nothing is lost, and a re-sent push is the
same push again (same apns-id and collapse id), which the phone shows once."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from sqlalchemy import Engine
from sqlmodel import Session, select

from notifications.dispatcher import Dispatcher, build_senders
from notifications.models import Delivery, DeliveryState
from tests.infra import PROJECT_ROOT
from tests.notifications.conftest import (
    KEY_ID,
    TEAM_ID,
    TOPIC,
    ApnsKey,
    add_device,
    add_patient,
    booking_reminder,
    push_settings,
)
from tests.push_servers import ApnsTestServer

BATCH = 50
NOTIFICATIONS = 120


def test_a_worker_killed_mid_batch_loses_nothing(
    outbox_engine: Engine, outbox_database: str, apns_key: ApnsKey, apns_server: ApnsTestServer
) -> None:
    with Session(outbox_engine, expire_on_commit=False) as session:
        devices = []
        for number in range(NOTIFICATIONS):
            patient = add_patient(session)
            devices.append(add_device(session, patient))
            booking_reminder(session, patient, booking_id=f"b-{number}")
        session.commit()

    apns_server.response_delay = 5.0  # the first batch is still in flight when the worker dies
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARDIOALERT_")} | {
        "CARDIOALERT_ENVIRONMENT": "test",
        "CARDIOALERT_DATABASE_URL": outbox_database,
        "CARDIOALERT_SECRET_KEY": "x" * 40,
        "CARDIOALERT_APNS_KEY_FILE": str(apns_key.path),
        "CARDIOALERT_APNS_KEY_ID": KEY_ID,
        "CARDIOALERT_APNS_TEAM_ID": TEAM_ID,
        "CARDIOALERT_APNS_TOPIC": TOPIC,
        "CARDIOALERT_APNS_BASE_URL": apns_server.base_url,
        "CARDIOALERT_APNS_CA_FILE": str(apns_server.ca_file),
        "CARDIOALERT_PUSH_BATCH_SIZE": str(BATCH),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "services", "worker"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while len(apns_server.requests()) < BATCH and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(apns_server.requests()) == BATCH, "the worker never got its first batch out"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    apns_server.response_delay = 0.0

    settings = push_settings(apns_key, apns_server)
    survivor = Dispatcher(outbox_engine, build_senders(settings), settings)

    async def drain() -> None:
        for _ in range(20):
            await survivor.run_once()
            with Session(outbox_engine) as session:
                if all(d.state is DeliveryState.sent for d in session.exec(select(Delivery)).all()):
                    break
        for sender in survivor.senders.values():
            await sender.aclose()

    asyncio.run(drain())

    received = apns_server.requests()
    per_device = Counter(request.device_token for request in received)
    assert set(per_device) == {device.push_token for device in devices}  # nothing lost
    assert max(per_device.values()) <= 2
    resent = [token for token, count in per_device.items() if count == 2]
    assert 0 < len(resent) <= BATCH  # only the batch that was in flight went twice
    for token in resent:
        first, second = [request for request in received if request.device_token == token]
        assert first.headers["apns-id"] == second.headers["apns-id"]
        assert first.headers["apns-collapse-id"] == second.headers["apns-collapse-id"]
    with Session(outbox_engine) as session:
        assert Counter(d.state for d in session.exec(select(Delivery)).all()) == {
            DeliveryState.sent: NOTIFICATIONS
        }
