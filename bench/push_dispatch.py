"""Push throughput and latency: one dispatcher process sending due notifications to a local
APNs-protocol server (HTTP/2 + TLS on loopback, in its own process).

    .venv/bin/python bench/push_dispatch.py [--count 20000] [--batch 500] [--rate 0]

--rate 0 (burst): everything is due at once; the figure is the dispatcher's throughput, and the
latency tail is the queue.
--rate R (steady): send_at is spread at R per second and the dispatcher runs its real loop
with the production settings; the latency is then what a patient sees under that load.

Needs PostgreSQL (the test suite's rules: CARDIOALERT_TEST_POSTGRES_URL or localhost, else a
throwaway server)."""

import argparse
import asyncio
import multiprocessing
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from load_seeding import patient_rows  # bench/
from sqlalchemy import Engine, func, insert, select

from notifications.dispatcher import Dispatcher, build_senders
from notifications.models import Delivery, DeliveryState, Device, Notification
from services.accounts.models import AuthSession, User
from services.db import make_engine, utcnow
from services.migrations import upgrade_to_head
from services.settings import Settings
from tests.infra import create_database, drop_database, provide_services
from tests.push_servers import ApnsTestServer

TEAM_ID, KEY_ID, TOPIC = "TEAM123456", "KEY1234567", "app.cardioalert.ios"
CLINIC = {"en": "Chilonzor Heart Centre", "ru": "Кардиоцентр «Чиланзар»", "uz": "Chilonzor yurak markazi"}


def serve_apns(conn: Connection, public_pem: bytes, workdir: str) -> None:
    """The server process: starts, reports its address, waits, then hands back receipts."""
    server = ApnsTestServer(
        team_id=TEAM_ID, key_id=KEY_ID, public_key_pem=public_pem, topic=TOPIC, workdir=Path(workdir)
    )
    server.start()
    conn.send((server.base_url, str(server.ca_file)))
    conn.recv()  # "stop"
    receipts = [(r.headers.get("apns-id", ""), r.received_at, r.status) for r in server.requests()]
    server.stop()
    conn.send(receipts)


def make_key(workdir: str) -> tuple[Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    path = Path(workdir) / "AuthKey.p8"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public


def insert_patients(engine: Engine, count: int, rate: float) -> dict[uuid.UUID, datetime]:
    """`count` patients with one iOS device and one reminder each; returns send_at per notification."""
    now = utcnow()
    users, sessions = patient_rows(count, "bench", now)
    devices, notifications = [], []
    for session in sessions:
        devices.append(
            {
                "id": uuid.uuid4(),
                "user_id": session["user_id"],
                "auth_session_id": session["id"],
                "platform": "ios",
                "push_token": secrets.token_hex(32),
                "app_version": "1.4.0",
                "language": "ru",
                "time_zone": "Asia/Tashkent",
                "created_at": now,
                "updated_at": now,
            }
        )
    start = utcnow() + timedelta(seconds=2)
    send_at: dict[uuid.UUID, datetime] = {}
    for number, user in enumerate(users):
        notification_id = uuid.uuid4()
        send_at[notification_id] = start + timedelta(seconds=number / rate if rate else 0)
        notifications.append(
            {
                "id": notification_id,
                "user_id": user["id"],
                "kind": "booking_reminder",
                "category": "reminders",
                "dedup_key": f"bench:{number}",
                "state": "scheduled",
                "send_at": send_at[notification_id],
                "created_at": now,
                "params": {
                    "booking_id": f"b-{number}",
                    "hours_before": 2,
                    "clinic_name": CLINIC,
                    "starts_at": "2026-12-01T09:30:00+00:00",
                    "time_zone": "Asia/Tashkent",
                },
            }
        )
    with engine.begin() as connection:
        for model, rows in (
            (User, users),
            (AuthSession, sessions),
            (Device, devices),
            (Notification, notifications),
        ):
            connection.execute(insert(model), rows)
    return send_at


def sent_count(engine: Engine) -> int:
    with engine.connect() as connection:
        statement = select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.sent)
        return int(connection.execute(statement).scalar_one())


async def run_until_sent(dispatcher: Dispatcher, engine: Engine, count: int, first_due: datetime) -> float:
    """Seconds from the first send_at until every delivery was sent, the dispatcher running its loop."""
    await asyncio.sleep(max(0.0, (first_due - utcnow()).total_seconds()))
    started = time.perf_counter()
    stop = asyncio.Event()
    loop = asyncio.create_task(dispatcher.run_forever(stop))
    while sent_count(engine) < count:
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - started
    stop.set()
    await loop
    return elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args()

    admin_url, _ = provide_services()
    database = f"cardioalert_bench_{secrets.token_hex(4)}"
    url = create_database(admin_url, database)
    upgrade_to_head(url)
    engine = make_engine(url)
    workdir = tempfile.mkdtemp(prefix="cardioalert-push-bench-")
    key_path, public_pem = make_key(workdir)

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve_apns, args=(child, public_pem, workdir)
    )
    server.start()
    base_url, ca_file = parent.recv()
    try:
        send_at = insert_patients(engine, args.count, args.rate)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            apns_key_file=key_path,
            apns_key_id=KEY_ID,
            apns_team_id=TEAM_ID,
            apns_topic=TOPIC,
            apns_base_url=base_url,
            apns_ca_file=Path(ca_file),
            push_batch_size=args.batch,
        )
        dispatcher = Dispatcher(engine, build_senders(settings), settings)
        elapsed = asyncio.run(run_until_sent(dispatcher, engine, args.count, min(send_at.values())))
        with engine.connect() as connection:
            notification_of = dict(connection.execute(select(Delivery.id, Delivery.notification_id)).all())
    finally:
        parent.send("stop")
        receipts = parent.recv()
        server.join(timeout=10)
        engine.dispose()
        drop_database(admin_url, database)

    latencies = [
        received_at - send_at[notification_of[uuid.UUID(apns_id)]].timestamp()
        for apns_id, received_at, status in receipts
        if status == 200
    ]
    mode = f"steady, {args.rate:g} due per second" if args.rate else "burst, all due at once"
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cpus"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"notifications: {args.count} ({mode}), batch {args.batch}, delivered 200 OK: {len(latencies)}")
    print(f"throughput: {len(latencies) / elapsed:,.0f} notifications/s over {elapsed:.2f} s")
    print(
        f"send_at -> received: p50 {statistics.median(latencies):.2f} s, "
        f"p99 {percentile(latencies, 0.99):.2f} s, max {max(latencies):.2f} s"
    )


if __name__ == "__main__":
    main()
