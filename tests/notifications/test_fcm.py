"""The FCM sender (firebase-admin, HTTP v1) against a local FCM-protocol server on loopback."""

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from i18n import Language
from notifications.dispatcher import Dispatcher
from notifications.fcm import FcmSender
from notifications.models import Delivery, DeliveryState, Device, Platform
from notifications.senders import LogSender
from services.settings import Settings
from tests.notifications.conftest import add_device, add_patient, booking_reminder
from tests.push_servers import FcmTestServer, point_firebase_app_at


@pytest.fixture
def fcm_server() -> Iterator[FcmTestServer]:
    with FcmTestServer(project_id="cardioalert-test") as server:
        yield server


def fcm_dispatcher(engine: Engine, server: FcmTestServer, tmp_path: Path) -> Dispatcher:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="postgresql+psycopg://unused/unused",
        fcm_credentials_file=server.write_service_account(tmp_path / "service-account.json"),
    )
    sender = FcmSender.from_settings(settings)
    point_firebase_app_at(sender.app, server)
    return Dispatcher(engine, {Platform.android: sender, Platform.ios: LogSender(Platform.ios)}, settings)


def run_rounds(dispatcher: Dispatcher, rounds: int) -> None:
    async def go() -> None:
        for _ in range(rounds):
            await dispatcher.run_once()
        for sender in dispatcher.senders.values():
            await sender.aclose()

    asyncio.run(go())


def test_android_devices_get_localized_collapsible_pushes_and_dead_tokens_are_disabled(
    outbox_engine: Engine, fcm_server: FcmTestServer, tmp_path: Path
) -> None:
    tokens = {name: f"{name}-{secrets.token_hex(20)}" for name in ("ok", "gone", "invalid", "busy")}
    with Session(outbox_engine, expire_on_commit=False) as session:
        patient = add_patient(session)
        devices = {
            name: add_device(session, patient, token=token, platform=Platform.android, language=Language.uz)
            for name, token in tokens.items()
        }
        booking_reminder(session, patient, booking_id="b-7")
        session.commit()
    fcm_server.unregistered.add(tokens["gone"])
    fcm_server.invalid.add(tokens["invalid"])
    fcm_server.scripted[tokens["busy"]] = [(429, "QUOTA_EXCEEDED")]

    run_rounds(fcm_dispatcher(outbox_engine, fcm_server, tmp_path), rounds=1)

    first = {
        request.message.get("fid") or request.message.get("token"): request
        for request in fcm_server.requests()
    }
    assert set(first) == set(tokens.values())
    message = first[tokens["ok"]].message
    assert message["notification"]["title"] == "EKG haqida eslatma"
    assert message["android"]["collapse_key"] == "reminder-b-7"
    assert message["android"]["notification"]["tag"] == "reminder-b-7"
    assert message["data"]["deep_link"] == "cardioalert://bookings/b-7"
    with Session(outbox_engine) as session:
        states = {d.device_id: d.state for d in session.exec(select(Delivery)).all()}
        disabled = {d.id: d.disabled_reason for d in session.exec(select(Device)).all()}
    assert states[devices["ok"].id] is DeliveryState.sent
    assert states[devices["gone"].id] is DeliveryState.failed
    assert states[devices["invalid"].id] is DeliveryState.failed
    assert states[devices["busy"].id] is DeliveryState.pending  # quota: tried again later
    assert (disabled[devices["gone"].id], disabled[devices["invalid"].id]) == (
        "token_invalid",
        "token_invalid",
    )
    assert disabled[devices["ok"].id] is None and disabled[devices["busy"].id] is None
