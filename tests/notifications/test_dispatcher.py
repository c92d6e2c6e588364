"""The dispatcher against a local APNs-protocol server over real HTTP/2 + TLS on loopback."""

import asyncio
import json
import logging
import secrets
import ssl
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from i18n import Language
from notifications.apns import ApnsSender, ProviderToken
from notifications.dispatcher import Dispatcher, build_senders
from notifications.models import (
    Delivery,
    DeliveryState,
    Device,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from notifications.senders import LogSender, Outcome, PushMessage
from notifications.service import enqueue
from services.db import utcnow
from services.settings import Settings
from tests.notifications.conftest import (
    KEY_ID,
    TEAM_ID,
    TOPIC,
    ApnsKey,
    VirtualClock,
    add_device,
    add_patient,
    booking_reminder,
    push_settings,
)
from tests.push_servers import ApnsTestServer


def dispatcher(
    engine: Engine,
    apns_key: ApnsKey,
    server: ApnsTestServer,
    clock: VirtualClock | None = None,
    **settings: object,
) -> Dispatcher:
    values = push_settings(apns_key, server, **settings)
    return Dispatcher(engine, build_senders(values), values, **({"clock": clock} if clock else {}))


def deliveries(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.exec(select(Delivery)).all())


def run(dispatcher: Dispatcher, rounds: int = 1) -> None:
    """Some rounds on one event loop (the senders' connections belong to it), then close."""

    async def go() -> None:
        for _ in range(rounds):
            await dispatcher.run_once()
        await close(dispatcher)

    asyncio.run(go())


def test_a_due_notification_reaches_each_live_device_once_in_its_language(
    outbox_engine: Engine, apns_key: ApnsKey, apns_server: ApnsTestServer
) -> None:
    with Session(outbox_engine, expire_on_commit=False) as session:
        patient = add_patient(session)
        russian = add_device(session, patient, language=Language.ru)
        cyrillic = add_device(session, patient, language=Language.uz_cyrl)
        disabled = add_device(session, patient)
        disabled.disabled_at = utcnow()
        other_session = add_patient(session)  # a device whose sign-in session was revoked
        revoked = add_device(session, other_session)
        other_session.auth_session.revoked_at = utcnow()
        notification = booking_reminder(session, patient, booking_id="b-42")
        enqueue(
            session,
            user_id=other_session.user.id,
            kind=NotificationKind.ecg_result_ready,
            dedup_key="study:1:result",
            params={"study_id": "s-1"},
        )
        session.add_all([disabled, other_session.auth_session])
        session.commit()

    run(dispatcher(outbox_engine, apns_key, apns_server), rounds=3)

    received = apns_server.requests()
    assert sorted(r.device_token for r in received) == sorted([russian.push_token, cyrillic.push_token])
    assert revoked.push_token not in {r.device_token for r in received}
    by_token = {r.device_token: r for r in received}
    ru = by_token[russian.push_token]
    assert ru.status == 200
    assert ru.headers["apns-topic"] == TOPIC
    assert ru.headers["apns-push-type"] == "alert"
    assert ru.headers["apns-collapse-id"] == "reminder-b-42"
    assert ru.payload["aps"]["alert"]["title"] == "Напоминание об ЭКГ"
    assert ru.payload["aps"]["alert"]["body"].startswith("Напоминаем: ЭКГ через 2 часа")
    assert ru.payload["aps"]["thread-id"] == "booking-b-42"
    assert ru.payload["deep_link"] == "cardioalert://bookings/b-42"
    assert ru.payload["notification_id"] == str(notification.id)
    assert by_token[cyrillic.push_token].payload["aps"]["alert"]["title"] == "ЭКГ ҳақида эслатма"
    sent = deliveries(outbox_engine)
    assert {d.state for d in sent} == {DeliveryState.sent}
    assert {r.headers["apns-id"] for r in received} == {str(d.id) for d in sent}


def test_nothing_goes_before_send_at_and_a_reminder_leaves_within_a_minute(
    outbox_engine: Engine, apns_key: ApnsKey, apns_server: ApnsTestServer
) -> None:
    send_at = utcnow() + timedelta(seconds=2)
    with Session(outbox_engine, expire_on_commit=False) as session:
        patient = add_patient(session)
        add_device(session, patient)
        booking_reminder(session, patient, send_at=send_at)
        session.commit()

    worker = dispatcher(outbox_engine, apns_key, apns_server, dispatch_idle_seconds=0.2)

    async def run_until_delivered() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(worker.run_forever(stop))
        deadline = time.monotonic() + 60
        while not apns_server.requests() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await loop

    asyncio.run(run_until_delivered())
    received = apns_server.requests()
    assert len(received) == 1
    delay = received[0].received_at - send_at.timestamp()
    assert 0 <= delay < 60, delay


def test_dead_tokens_disable_their_devices_and_are_not_retried(
    outbox_engine: Engine, apns_key: ApnsKey, apns_server: ApnsTestServer
) -> None:
    with Session(outbox_engine, expire_on_commit=False) as session:
        patient = add_patient(session)
        gone = add_device(session, patient)
        foreign = add_device(session, patient)
        malformed = add_device(session, patient, token="not-a-hex-token-at-all")
        healthy = add_device(session, patient)
        booking_reminder(session, patient)
        session.commit()
    apns_server.unregistered.add(gone.push_token)
    apns_server.other_app_tokens.add(foreign.push_token)

    run(dispatcher(outbox_engine, apns_key, apns_server), rounds=3)

    with Session(outbox_engine, expire_on_commit=False) as session:
        devices = {device.id: device for device in session.exec(select(Device)).all()}
        states = {d.device_id: (d.state, d.last_error) for d in session.exec(select(Delivery)).all()}
    for dead, reason in (
        (gone, "Unregistered"),
        (foreign, "DeviceTokenNotForTopic"),
        (malformed, "BadDeviceToken"),
    ):
        assert devices[dead.id].disabled_reason == "token_invalid"
        assert states[dead.id] == (DeliveryState.failed, reason)
    assert devices[healthy.id].disabled_at is None
    assert states[healthy.id] == (DeliveryState.sent, None)
    assert len(apns_server.requests()) == 4  # one try each, no retries of dead tokens


def test_busy_and_failing_provider_answers_are_retried_with_backoff(
    outbox_engine: Engine,
    apns_key: ApnsKey,
    apns_server: ApnsTestServer,
    virtual_clock: Callable[[], VirtualClock],
) -> None:
    with Session(outbox_engine, expire_on_commit=False) as session:
        patient = add_patient(session)
        device = add_device(session, patient)
        booking_reminder(session, patient)
        session.commit()
    apns_server.scripted[device.push_token] = [(429, "TooManyRequests"), (503, "ServiceUnavailable")]
    clock = virtual_clock()
    worker = dispatcher(outbox_engine, apns_key, apns_server, clock=clock)

    async def three_rounds() -> list[float]:
        delays = []
        for _ in range(3):
            await worker.run_once()
            (delivery,) = deliveries(outbox_engine)
            delays.append((delivery.next_attempt_at - clock.now).total_seconds())
            clock.advance(120)
        await close(worker)
        return delays

    delays = asyncio.run(three_rounds())
    (delivery,) = deliveries(outbox_engine)
    assert (delivery.state, delivery.attempts) == (DeliveryState.sent, 3)
    # First retry after 2.5–5 s, the second after 5–10 s: exponential, with jitter.
    assert 2.5 <= delays[0] <= 5 and 5 <= delays[1] <= 10


async def close(worker: Dispatcher) -> None:
    for sender in worker.senders.values():
        await sender.aclose()


def test_provider_down_for_a_minute_loses_nothing(
    outbox_engine: Engine,
    apns_key: ApnsKey,
    apns_server: ApnsTestServer,
    virtual_clock: Callable[[], VirtualClock],
) -> None:
    with Session(outbox_engine, expire_on_commit=False) as session:
        patients = [add_patient(session) for _ in range(20)]
        devices = [add_device(session, patient) for patient in patients]
        for patient in patients:
            booking_reminder(session, patient)
        session.commit()
    clock = virtual_clock()
    worker = dispatcher(outbox_engine, apns_key, apns_server, clock=clock)

    async def outage_then_recovery() -> None:
        apns_server.stop()  # connections refused from now on
        for _ in range(12):  # a minute of rounds every five seconds
            await worker.run_once()
            clock.advance(5)
        assert apns_server.requests() == []
        assert {d.state for d in deliveries(outbox_engine)} == {DeliveryState.pending}
        apns_server.start()
        for _ in range(60):
            await worker.run_once()
            if all(d.state is DeliveryState.sent for d in deliveries(outbox_engine)):
                break
            clock.advance(5)
        await close(worker)

    asyncio.run(outage_then_recovery())
    received = [r.device_token for r in apns_server.requests()]
    assert sorted(received) == sorted(device.push_token for device in devices)  # each exactly once
    assert all(d.state is DeliveryState.sent and d.attempts > 1 for d in deliveries(outbox_engine))


def test_preferences_keep_pushes_off_but_the_inbox_gets_everything(
    outbox_engine: Engine, apns_key: ApnsKey, apns_server: ApnsTestServer
) -> None:
    with Session(outbox_engine, expire_on_commit=False) as session:
        patient = add_patient(session)
        add_device(session, patient)
        session.add(NotificationPreference(user_id=patient.user.id, reminders=False))
        reminder = booking_reminder(session, patient)
        result = enqueue(
            session,
            user_id=patient.user.id,
            kind=NotificationKind.ecg_result_ready,
            dedup_key="study:7:result",
            params={"study_id": "s-7"},
        )
        session.commit()

    run(dispatcher(outbox_engine, apns_key, apns_server), rounds=2)

    (pushed,) = apns_server.requests()
    assert pushed.payload["notification_id"] == str(result.id)
    assert pushed.payload["deep_link"] == "cardioalert://studies/s-7"
    with Session(outbox_engine) as session:
        assert {n.id for n in session.exec(select(Notification)).all()} == {reminder.id, result.id}


def test_a_notification_past_its_expiry_is_not_pushed(
    outbox_engine: Engine, apns_key: ApnsKey, apns_server: ApnsTestServer
) -> None:
    with Session(outbox_engine, expire_on_commit=False) as session:
        patient = add_patient(session)
        add_device(session, patient)
        enqueue(
            session,
            user_id=patient.user.id,
            kind=NotificationKind.booking_reminder,
            dedup_key="late",
            params={"booking_id": "b-9", "hours_before": 1},
            send_at=utcnow() - timedelta(hours=2),
            expires_at=utcnow() - timedelta(hours=1),
        )
        session.commit()
    run(dispatcher(outbox_engine, apns_key, apns_server), rounds=2)
    assert apns_server.requests() == []
    assert deliveries(outbox_engine) == []


def test_the_provider_token_is_reused_and_renewed_after_forty_minutes(
    apns_key: ApnsKey, apns_server: ApnsTestServer
) -> None:
    now = [0.0]
    token = ProviderToken(apns_key.private_pem, KEY_ID, TEAM_ID, clock=lambda: now[0])
    sender = ApnsSender(
        base_url=apns_server.base_url,
        topic=TOPIC,
        provider_token=token,
        verify=ssl.create_default_context(cafile=str(apns_server.ca_file)),
    )
    messages = [
        PushMessage(
            delivery_id=str(uuid.uuid4()),
            token=secrets.token_hex(32),
            title="t",
            body="b",
            collapse_id="c",
            thread_id="t",
        )
        for _ in range(50)
    ]

    async def send_twice() -> None:
        now[0] = time.time() - 41 * 60  # the server refuses tokens issued in its future
        first = await sender.send_batch(messages)
        now[0] += 39 * 60
        second = await sender.send_batch(messages[:5])
        now[0] += 2 * 60
        third = await sender.send_batch(messages[:5])
        await sender.aclose()
        assert {r.outcome for r in first + second + third} == {Outcome.delivered}

    asyncio.run(send_twice())
    assert len(apns_server.distinct_provider_tokens()) == 2
    assert apns_server.connections_opened == 1  # one HTTP/2 connection carried all 60 requests


def test_an_oversized_text_is_shortened_to_fit_apns_4kb(
    outbox_engine: Engine, apns_key: ApnsKey, apns_server: ApnsTestServer
) -> None:
    long_name = {"en": "Heart " * 900, "ru": "Сердце " * 900, "uz": "Yurak " * 900}
    with Session(outbox_engine, expire_on_commit=False) as session:
        patient = add_patient(session)
        add_device(session, patient, language=Language.ru)
        booking_reminder(session, patient, clinic=long_name)
        session.commit()
    run(dispatcher(outbox_engine, apns_key, apns_server))
    (request,) = apns_server.requests()
    assert request.status == 200
    body = request.payload["aps"]["alert"]["body"]
    assert body.endswith("…") and body.startswith("Напоминаем")
    assert len(json.dumps(request.payload, ensure_ascii=False, separators=(",", ":")).encode()) <= 4096


def test_without_credentials_pushes_go_to_the_log_only(
    outbox_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with Session(outbox_engine, expire_on_commit=False) as session:
        patient = add_patient(session)
        add_device(session, patient, language=Language.ru)
        booking_reminder(session, patient)
        session.commit()
    settings = Settings(_env_file=None, database_url="postgresql+psycopg://unused/unused")  # type: ignore[call-arg]
    senders = build_senders(settings)
    assert {type(sender) for sender in senders.values()} == {LogSender}

    with caplog.at_level(logging.INFO, logger="cardioalert.push"):
        run(Dispatcher(outbox_engine, senders, settings))
    (delivery,) = deliveries(outbox_engine)
    assert delivery.state is DeliveryState.sent
    assert str(delivery.id) in caplog.text
    assert "Кардиоцентр" not in caplog.text  # the log carries ids, not the text
