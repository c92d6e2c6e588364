"""Webhooks to hospital systems: endpoints and their rules (in the rolled-back test database),
and the outbox and its dispatcher against a real HTTP receiver on loopback (in a database of
their own, since the dispatcher commits in its own transactions)."""

import asyncio
import base64
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, text, update
from sqlmodel import Session, col, select

from booking.models import WebhookEndpoint, WebhookEvent, WebhookEventState
from booking.webhooks import (
    HTTPS_REQUIRED,
    LOCAL_ADDRESS,
    MAX_ACTIVE_ENDPOINTS,
    InvalidWebhookUrl,
    TooManyWebhooks,
    WebhookDispatcher,
    WebhookNotFound,
    delete_endpoint,
    emit,
    list_endpoints,
    register_endpoint,
    sign,
    verify,
)
from services.accounts.models import HospitalClient
from services.clinics.models import Clinic
from services.db import make_engine, transaction, utcnow
from services.migrations import upgrade_to_head
from services.settings import Settings
from tests.conftest import POSTGRES_ADMIN_URL
from tests.infra import create_database, drop_database
from tests.notifications.conftest import VirtualClock
from tests.support import clinic_row, make_clinic, make_hospital_client, settings_changed

# A real loopback receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A stdlib HTTP server on 127.0.0.1 that records each POST. `statuses` scripts the answers
    of the next requests (then 200); `delay` makes every answer slow; stop() refuses
    connections until start()."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


# A database of their own, emptied after each test (as tests/notifications/conftest.py does)


@pytest.fixture(scope="module")
def webhook_database() -> Iterator[str]:
    name = f"cardioalert_webhooks_{secrets.token_hex(4)}"
    url = create_database(POSTGRES_ADMIN_URL, name)
    upgrade_to_head(url)
    yield url
    drop_database(POSTGRES_ADMIN_URL, name)


@pytest.fixture
def webhook_engine(webhook_database: str) -> Iterator[Engine]:
    engine = make_engine(webhook_database)
    yield engine
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE users, clinics CASCADE"))
    engine.dispose()


def add_hospital(session: Session) -> tuple[Clinic, HospitalClient]:
    clinic = clinic_row()
    session.add(clinic)
    session.flush()
    client = HospitalClient(
        client_id=f"his_{secrets.token_hex(6)}", secret_digest="0" * 64, clinic_id=clinic.id, name="HIS"
    )
    session.add(client)
    session.flush()
    return clinic, client


@dataclass
class Hospital:
    clinic: Clinic
    client: HospitalClient
    endpoint: WebhookEndpoint
    secret: str


def hospital_with_endpoint(engine: Engine, url: str) -> Hospital:
    with Session(engine, expire_on_commit=False) as session, transaction(session):
        clinic, client = add_hospital(session)
        endpoint, secret = register_endpoint(session, client, url)
    return Hospital(clinic, client, endpoint, secret)


def booking_payload(clinic_id: uuid.UUID, status: str = "booked") -> dict[str, Any]:
    return {
        "booking_id": uuid.uuid4(),
        "clinic_id": clinic_id,
        "status": status,
        "starts_at": datetime(2026, 12, 1, 4, 0, tzinfo=UTC),
    }


def emit_committed(engine: Engine, clinic: Clinic, event_type: str = "booking.created") -> list[WebhookEvent]:
    with Session(engine, expire_on_commit=False) as session, transaction(session):
        return emit(session, clinic_id=clinic.id, event_type=event_type, payload=booking_payload(clinic.id))


def stored_events(engine: Engine) -> list[WebhookEvent]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookEvent).order_by(col(WebhookEvent.created_at))).all())


def webhook_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": "postgresql+psycopg://unused/unused",
        "push_retry_base_seconds": 5.0,
        "push_retry_max_seconds": 60.0,
        "push_max_attempts": 12,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def rounds(
    dispatcher: WebhookDispatcher, count: int, clock: VirtualClock | None = None, step: float = 0
) -> list[int]:
    """`count` dispatcher rounds on one loop, the clock moved `step` seconds after each."""

    async def go() -> list[int]:
        handled = []
        for _ in range(count):
            handled.append(await dispatcher.run_once())
            if clock is not None:
                clock.advance(step)
        await dispatcher.aclose()
        return handled

    return asyncio.run(go())


# Delivery


def test_an_event_emitted_in_a_rolled_back_transaction_is_never_sent(
    webhook_engine: Engine, receiver: Receiver
) -> None:
    hospital = hospital_with_endpoint(webhook_engine, receiver.url + "/hooks")

    with pytest.raises(RuntimeError), Session(webhook_engine) as session, transaction(session):
        queued = emit(
            session, clinic_id=hospital.clinic.id, event_type="booking.created", payload={"booking_id": "b-1"}
        )
        assert len(queued) == 1  # written in the caller's transaction…
        raise RuntimeError("the booking failed")

    assert stored_events(webhook_engine) == []  # …and gone with it
    assert rounds(WebhookDispatcher(webhook_engine, webhook_settings()), 2) == [0, 0]
    assert receiver.requests() == []


def test_a_committed_event_arrives_signed_once_at_each_endpoint_of_its_clinic(
    webhook_engine: Engine, receiver: Receiver
) -> None:
    hospital = hospital_with_endpoint(webhook_engine, receiver.url + "/his/a")
    with Session(webhook_engine, expire_on_commit=False) as session, transaction(session):
        client = session.get(HospitalClient, hospital.client.id)
        assert client is not None
        _, second_secret = register_endpoint(session, client, receiver.url + "/his/b")
        _, other_client = add_hospital(session)
        register_endpoint(session, other_client, receiver.url + "/other")
    (event, second_event) = emit_committed(webhook_engine, hospital.clinic, "booking.confirmed")

    clock = VirtualClock(utcnow())
    assert rounds(WebhookDispatcher(webhook_engine, webhook_settings(), clock=clock), 3) == [2, 0, 0]

    received = {request.path: request for request in receiver.requests()}
    assert sorted(received) == ["/his/a", "/his/b"]  # not the other clinic's endpoint
    first = received["/his/a"]
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-cardioalert-event-id"] == str(event.id)
    assert first.headers["x-cardioalert-event-type"] == "booking.confirmed"
    timestamp = int(first.headers["x-cardioalert-timestamp"])
    assert timestamp == int(clock.now.timestamp())
    signature = first.headers["x-cardioalert-signature"]
    assert signature == "sha256=" + sign(hospital.secret, timestamp, first.body)
    assert verify(hospital.secret, first.headers["x-cardioalert-timestamp"], first.body, signature, clock.now)
    assert not verify(second_secret, timestamp, first.body, signature, clock.now)
    assert first.document == {
        "id": str(event.id),
        "type": "booking.confirmed",
        "created_at": event.created_at.isoformat(),
        "data": {
            "booking_id": event.payload["booking_id"],
            "clinic_id": str(hospital.clinic.id),
            "status": "booked",
            "starts_at": "2026-12-01T04:00:00Z",
        },
    }
    second = received["/his/b"]
    assert second.headers["x-cardioalert-event-id"] == str(second_event.id) != str(event.id)
    assert (
        verify(second_secret, second.headers["x-cardioalert-timestamp"], second.body, "", clock.now) is False
    )
    assert verify(
        second_secret,
        second.headers["x-cardioalert-timestamp"],
        second.body,
        second.headers["x-cardioalert-signature"],
        clock.now,
    )
    for stored in stored_events(webhook_engine):
        assert (stored.state, stored.attempts, stored.last_error) == (WebhookEventState.delivered, 1, None)
        assert stored.delivered_at is not None


def test_server_errors_and_redirects_are_retried_with_backoff_until_delivered(
    webhook_engine: Engine, receiver: Receiver
) -> None:
    hospital = hospital_with_endpoint(webhook_engine, receiver.url)
    (event,) = emit_committed(webhook_engine, hospital.clinic)
    receiver.statuses = [500, 302, 503]
    clock = VirtualClock(utcnow())
    dispatcher = WebhookDispatcher(webhook_engine, webhook_settings(), clock=clock)

    async def until_delivered() -> list[tuple[float, str | None]]:
        seen = []
        for _ in range(3):
            assert await dispatcher.run_once() == 1
            assert await dispatcher.run_once() == 0  # not due again yet
            (stored,) = stored_events(webhook_engine)
            seen.append(((stored.next_attempt_at - clock.now).total_seconds(), stored.last_error))
            clock.advance(60)
        assert await dispatcher.run_once() == 1
        await dispatcher.aclose()
        return seen

    seen = asyncio.run(until_delivered())
    # 2.5–5 s, then 5–10 s, then 10–20 s: exponential, with jitter.
    assert 2.5 <= seen[0][0] <= 5 and 5 <= seen[1][0] <= 10 and 10 <= seen[2][0] <= 20
    assert [error for _, error in seen] == ["HTTP 500", "HTTP 302", "HTTP 503"]
    requests = receiver.requests()
    assert [r.path for r in requests] == ["/"] * 4  # the redirect was not followed
    assert {r.headers["x-cardioalert-event-id"] for r in requests} == {str(event.id)}
    (stored,) = stored_events(webhook_engine)
    assert (stored.state, stored.attempts, stored.last_error) == (WebhookEventState.delivered, 4, None)


def test_a_receiver_down_for_a_while_loses_nothing_and_gets_each_event_once(
    webhook_engine: Engine, receiver: Receiver
) -> None:
    hospital = hospital_with_endpoint(webhook_engine, receiver.url)
    emitted = [event for _ in range(10) for event in emit_committed(webhook_engine, hospital.clinic)]
    clock = VirtualClock(utcnow())
    dispatcher = WebhookDispatcher(webhook_engine, webhook_settings(), clock=clock)

    async def outage_then_recovery() -> None:
        receiver.stop()  # connections refused from now on
        for _ in range(12):  # a minute of rounds every five seconds
            await dispatcher.run_once()
            clock.advance(5)
        events = stored_events(webhook_engine)
        assert {(e.state, e.last_error) for e in events} == {(WebhookEventState.pending, "ConnectError")}
        assert all(e.attempts > 1 for e in events)
        receiver.start()  # back on the same port
        for _ in range(60):
            await dispatcher.run_once()
            if all(e.state is WebhookEventState.delivered for e in stored_events(webhook_engine)):
                break
            clock.advance(5)
        for _ in range(3):
            clock.advance(600)
            assert await dispatcher.run_once() == 0
        await dispatcher.aclose()

    asyncio.run(outage_then_recovery())
    received = [r.headers["x-cardioalert-event-id"] for r in receiver.requests()]
    assert sorted(received) == sorted(str(event.id) for event in emitted)  # each exactly once
    assert {e.state for e in stored_events(webhook_engine)} == {WebhookEventState.delivered}


def test_an_event_fails_after_the_last_attempt_and_is_not_sent_again(
    webhook_engine: Engine, receiver: Receiver
) -> None:
    hospital = hospital_with_endpoint(webhook_engine, receiver.url)
    emit_committed(webhook_engine, hospital.clinic, "booking.cancelled")
    receiver.statuses = [500] * 10
    clock = VirtualClock(utcnow())
    dispatcher = WebhookDispatcher(webhook_engine, webhook_settings(push_max_attempts=3), clock=clock)

    assert rounds(dispatcher, 6, clock, step=120) == [1, 1, 1, 0, 0, 0]

    (stored,) = stored_events(webhook_engine)
    assert (stored.state, stored.attempts, stored.last_error) == (WebhookEventState.failed, 3, "HTTP 500")
    assert stored.delivered_at is None
    assert len(receiver.requests()) == 3


def test_two_dispatchers_at_once_send_each_event_once(webhook_engine: Engine, receiver: Receiver) -> None:
    hospital = hospital_with_endpoint(webhook_engine, receiver.url)
    emitted = [event for _ in range(5) for event in emit_committed(webhook_engine, hospital.clinic)]
    receiver.delay = 0.2  # the first holds its events' locks while the receiver is slow
    first = WebhookDispatcher(webhook_engine, webhook_settings())
    second = WebhookDispatcher(webhook_engine, webhook_settings())

    def one_round(dispatcher: WebhookDispatcher) -> int:
        # Each on its own thread and event loop, with its own database connection.
        async def go() -> int:
            handled = await dispatcher.run_once()
            await dispatcher.aclose()
            return handled

        return asyncio.run(go())

    async def together() -> list[int]:
        return list(
            await asyncio.gather(asyncio.to_thread(one_round, first), asyncio.to_thread(one_round, second))
        )

    handled = asyncio.run(together())
    assert sum(handled) == 5
    received = sorted(r.headers["x-cardioalert-event-id"] for r in receiver.requests())
    assert received == sorted(str(event.id) for event in emitted)


def test_deleting_an_endpoint_stops_its_deliveries(webhook_engine: Engine, receiver: Receiver) -> None:
    hospital = hospital_with_endpoint(webhook_engine, receiver.url)
    emit_committed(webhook_engine, hospital.clinic)
    receiver.statuses = [500]
    clock = VirtualClock(utcnow())
    dispatcher = WebhookDispatcher(webhook_engine, webhook_settings(), clock=clock)
    assert rounds(dispatcher, 1) == [1]

    with Session(webhook_engine, expire_on_commit=False) as session, transaction(session):
        delete_endpoint(session, hospital.client, hospital.endpoint.id)
        assert list_endpoints(session, hospital.client) == []
    assert emit_committed(webhook_engine, hospital.clinic) == []  # nothing queued for it any more

    clock.advance(3600)
    assert rounds(dispatcher, 2) == [0, 0]
    assert len(receiver.requests()) == 1
    (stored,) = stored_events(webhook_engine)
    assert (stored.state, stored.last_error) == (WebhookEventState.failed, "endpoint deleted")


def test_events_of_an_endpoint_turned_off_meanwhile_are_failed_unsent(
    webhook_engine: Engine, receiver: Receiver
) -> None:
    hospital = hospital_with_endpoint(webhook_engine, receiver.url)
    emit_committed(webhook_engine, hospital.clinic)
    with webhook_engine.begin() as connection:
        connection.execute(update(WebhookEndpoint).values(active=False))

    assert rounds(WebhookDispatcher(webhook_engine, webhook_settings()), 2) == [1, 0]

    assert receiver.requests() == []
    (stored,) = stored_events(webhook_engine)
    assert (stored.state, stored.attempts, stored.last_error) == (
        WebhookEventState.failed,
        0,
        "endpoint deleted",
    )


def test_a_revoked_hospital_client_gets_no_events(webhook_engine: Engine, receiver: Receiver) -> None:
    hospital = hospital_with_endpoint(webhook_engine, receiver.url)
    emit_committed(webhook_engine, hospital.clinic)  # queued before the revocation
    with webhook_engine.begin() as connection:
        connection.execute(update(HospitalClient).values(revoked_at=utcnow()))
    assert emit_committed(webhook_engine, hospital.clinic) == []

    assert rounds(WebhookDispatcher(webhook_engine, webhook_settings()), 1) == [1]
    assert receiver.requests() == []
    (stored,) = stored_events(webhook_engine)
    assert (stored.state, stored.last_error) == (WebhookEventState.failed, "client revoked")


def test_the_dispatcher_loop_delivers_and_stops(webhook_engine: Engine, receiver: Receiver) -> None:
    hospital = hospital_with_endpoint(webhook_engine, receiver.url)
    emit_committed(webhook_engine, hospital.clinic)
    dispatcher = WebhookDispatcher(webhook_engine, webhook_settings(dispatch_idle_seconds=0.05))

    async def run_until_delivered() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(dispatcher.run_forever(stop))
        deadline = time.monotonic() + 10
        while not receiver.requests() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(loop, timeout=5)

    asyncio.run(run_until_delivered())
    assert len(receiver.requests()) == 1


# Signing


def test_verify_refuses_tampering_other_secrets_stale_times_and_malformed_headers() -> None:
    secret = "s3cret"
    body = b'{"id":"e-1"}'
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    timestamp = int(now.timestamp())
    header = "sha256=" + sign(secret, timestamp, body)

    assert verify(secret, timestamp, body, header, now)
    assert verify(secret, str(timestamp), body, header, now + timedelta(seconds=299))
    assert not verify(secret, timestamp, body + b" ", header, now)
    assert not verify("other", timestamp, body, header, now)
    assert not verify(secret, timestamp + 1, body, header, now)  # the timestamp is signed too
    assert not verify(secret, timestamp, body, header, now + timedelta(seconds=301))  # a replay
    assert not verify(secret, timestamp, body, header, now - timedelta(seconds=301))  # from the future
    assert verify(secret, timestamp, body, header, now + timedelta(seconds=500), tolerance_seconds=600)
    assert not verify(secret, timestamp, body, header.removeprefix("sha256="), now)
    assert not verify(secret, "yesterday", body, header, now)
    assert not verify(secret, timestamp, body, "sha256=" + "0" * 64, now)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac key
    assert (
        sign("key", 1700000000, b"{}") == "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
    )


# Endpoints


def test_register_returns_the_secret_once_and_lists_the_clients_endpoints(db: Session) -> None:
    clinic = make_clinic(db)
    client, _ = make_hospital_client(db, clinic)

    endpoint, secret = register_endpoint(db, client, "  https://his.example.uz/cardioalert/hooks?x=1  ")

    assert endpoint.url == "https://his.example.uz/cardioalert/hooks?x=1"
    assert endpoint.clinic_id == clinic.id and endpoint.hospital_client_id == client.id
    assert endpoint.active and endpoint.secret == secret
    assert len(secret) == 43  # 32 random bytes, base64url
    assert list_endpoints(db, client) == [endpoint]
    _, another = register_endpoint(db, client, "http://10.0.0.5:8080/hook")
    assert another != secret


@pytest.mark.parametrize(
    "url",
    [
        "",
        "his.example.uz/hooks",
        "/hooks",
        "ftp://his.example.uz/hooks",
        "javascript:alert(1)",
        "https://",
        "https:///hooks",
        "https://user:password@his.example.uz/hooks",
        "https://his.example.uz:99999/hooks",
        "https://his.example.uz:port/hooks",
        "https://his example.uz/hooks",
        "https://his.example.uz/ho\noks",
        "https://his.example.uz/" + "a" * 500,
    ],
)
def test_register_refuses_an_address_it_cannot_post_to(db: Session, url: str) -> None:
    clinic = make_clinic(db)
    client, _ = make_hospital_client(db, clinic)
    with pytest.raises(InvalidWebhookUrl) as raised:
        register_endpoint(db, client, url)
    assert (raised.value.status, raised.value.code) == (422, "invalid_webhook_url")
    assert list_endpoints(db, client) == []


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://his.example.uz/hooks", HTTPS_REQUIRED),
        ("https://localhost/hooks", LOCAL_ADDRESS),
        ("https://api.localhost/hooks", LOCAL_ADDRESS),
        ("https://127.0.0.1/hooks", LOCAL_ADDRESS),
        ("https://[::1]/hooks", LOCAL_ADDRESS),
        ("https://169.254.169.254/latest/meta-data", LOCAL_ADDRESS),
        ("https://0.0.0.0/hooks", LOCAL_ADDRESS),
        # Private networks, carrier NAT, documentation ranges, IPv4 in IPv6 and the short
        # forms the system resolver also reads as 127.0.0.1 (found in the security review).
        ("https://10.0.0.5/hooks", LOCAL_ADDRESS),
        ("https://172.16.4.1/hooks", LOCAL_ADDRESS),
        ("https://192.168.1.20/hooks", LOCAL_ADDRESS),
        ("https://100.64.0.1/hooks", LOCAL_ADDRESS),
        ("https://203.0.113.10:8443/hooks", LOCAL_ADDRESS),
        ("https://[fd00::1]/hooks", LOCAL_ADDRESS),
        ("https://[::ffff:127.0.0.1]/hooks", LOCAL_ADDRESS),
        ("https://[::ffff:10.0.0.1]/hooks", LOCAL_ADDRESS),
        ("https://2130706433/hooks", LOCAL_ADDRESS),
        ("https://127.1/hooks", LOCAL_ADDRESS),
        ("https://0x7f.0.0.1/hooks", LOCAL_ADDRESS),
        ("https://his.example.uz/hooks", None),
        ("https://185.8.212.10:8443/hooks", None),
        ("https://[2a00:1450:4001:80b::200e]/hooks", None),
    ],
)
def test_production_wants_https_and_no_local_addresses(db: Session, url: str, detail: str | None) -> None:
    clinic = make_clinic(db)
    client, _ = make_hospital_client(db, clinic)
    with settings_changed(CARDIOALERT_ENVIRONMENT="production"):
        if detail is None:
            endpoint, _ = register_endpoint(db, client, url)
            assert endpoint.url == url
        else:
            with pytest.raises(InvalidWebhookUrl) as raised:
                register_endpoint(db, client, url)
            assert raised.value.detail == detail


def test_in_production_a_name_that_resolves_inside_gets_no_delivery(
    webhook_engine: Engine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registration sees only the address as written; a name may point at a private or local
    address (or be changed to later), so the dispatcher resolves it before each delivery."""
    local = hospital_with_endpoint(webhook_engine, receiver.url + "/hooks")  # 127.0.0.1
    named = hospital_with_endpoint(webhook_engine, "https://his.example.uz/hooks")
    resolve = socket.getaddrinfo

    def dns_answering(address: str) -> Any:
        def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
            if host == "his.example.uz":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 443))]
            return resolve(host, *args, **kwargs)

        return getaddrinfo

    # Refused before any connection is opened: nothing is sent to the private address.
    monkeypatch.setattr(socket, "getaddrinfo", dns_answering("10.20.30.40"))
    emit_committed(webhook_engine, local.clinic)
    emit_committed(webhook_engine, named.clinic)
    production = webhook_settings(
        environment="production",
        secret_key=secrets.token_urlsafe(48),
        blob_keys="k:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    )

    assert rounds(WebhookDispatcher(webhook_engine, production), 1) == [2]
    assert receiver.requests() == []
    assert {event.last_error for event in stored_events(webhook_engine)} == {"LocalAddress"}
    # Outside production (the tests' own loopback receivers) the same event is delivered; the
    # name now answers with a loopback address where nothing listens.
    monkeypatch.setattr(socket, "getaddrinfo", dns_answering("127.0.0.2"))
    clock = VirtualClock(utcnow() + timedelta(hours=1))
    rounds(WebhookDispatcher(webhook_engine, webhook_settings(), clock=clock), 1)
    assert [request.path for request in receiver.requests()] == ["/hooks"]


def test_at_most_five_active_endpoints_per_hospital_client(db: Session) -> None:
    clinic = make_clinic(db)
    client, _ = make_hospital_client(db, clinic)
    neighbour, _ = make_hospital_client(db, clinic)
    endpoints = [register_endpoint(db, client, f"https://his.example.uz/{n}")[0] for n in range(5)]

    with pytest.raises(TooManyWebhooks) as raised:
        register_endpoint(db, client, "https://his.example.uz/6")
    assert (raised.value.status, raised.value.code) == (409, "too_many_webhooks")
    assert raised.value.extensions == {"limit": MAX_ACTIVE_ENDPOINTS}
    register_endpoint(db, neighbour, "https://lab.example.uz/hook")  # the limit is per client

    delete_endpoint(db, client, endpoints[0].id)
    register_endpoint(db, client, "https://his.example.uz/6")
    assert len(list_endpoints(db, client)) == 5


def test_another_clients_endpoint_is_not_found(db: Session) -> None:
    clinic = make_clinic(db)
    owner, _ = make_hospital_client(db, clinic)
    stranger, _ = make_hospital_client(db, make_clinic(db))
    endpoint, _ = register_endpoint(db, owner, "https://his.example.uz/hooks")

    for client, endpoint_id in ((stranger, endpoint.id), (owner, uuid.uuid4())):
        with pytest.raises(WebhookNotFound) as raised:
            delete_endpoint(db, client, endpoint_id)
        assert (raised.value.status, raised.value.code) == (404, "webhook_not_found")
    assert list_endpoints(db, stranger) == []
    assert list_endpoints(db, owner) == [endpoint]

    delete_endpoint(db, owner, endpoint.id)
    with pytest.raises(WebhookNotFound):
        delete_endpoint(db, owner, endpoint.id)  # already gone
    assert list_endpoints(db, owner) == []


def test_emit_knows_only_booking_event_types(db: Session) -> None:
    clinic = make_clinic(db)
    with pytest.raises(ValueError, match=r"booking\.deleted"):
        emit(db, clinic_id=clinic.id, event_type="booking.deleted", payload={})
    assert emit(db, clinic_id=clinic.id, event_type="booking.status_changed", payload={}) == []
