"""The dispatcher commits in its own transactions (and, in one test, its own process), so these
tests use a database of their own, emptied after each test, instead of the rolled-back one."""

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, text
from sqlmodel import Session

from i18n import Language
from notifications.models import Device, NotificationKind, Platform
from notifications.service import enqueue
from services.accounts.models import AuthSession, Role, User
from services.db import make_engine, utcnow
from services.migrations import upgrade_to_head
from services.settings import Settings
from tests.conftest import POSTGRES_ADMIN_URL
from tests.infra import create_database, drop_database
from tests.push_servers import ApnsTestServer

TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"
TOPIC = "app.cardioalert.ios"
CLINIC = {"en": "Chilonzor Heart Centre", "ru": "Кардиоцентр «Чиланзар»", "uz": "Chilonzor yurak markazi"}


@pytest.fixture(scope="module")
def outbox_database() -> Iterator[str]:
    name = f"cardioalert_outbox_{secrets.token_hex(4)}"
    url = create_database(POSTGRES_ADMIN_URL, name)
    upgrade_to_head(url)
    yield url
    drop_database(POSTGRES_ADMIN_URL, name)


@pytest.fixture
def outbox_engine(outbox_database: str) -> Iterator[Engine]:
    engine = make_engine(outbox_database)
    yield engine
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE users, clinics CASCADE"))
    engine.dispose()


@dataclass
class ApnsKey:
    private_pem: str
    public_pem: bytes
    path: Path


@pytest.fixture(scope="module")
def apns_key(tmp_path_factory: pytest.TempPathFactory) -> ApnsKey:
    private_key = ec.generate_private_key(ec.SECP256R1())
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path_factory.mktemp("apns") / "AuthKey.p8"
    path.write_text(private_pem)
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ApnsKey(private_pem, public_pem, path)


@pytest.fixture
def apns_server(apns_key: ApnsKey, tmp_path: Path) -> Iterator[ApnsTestServer]:
    server = ApnsTestServer(
        team_id=TEAM_ID, key_id=KEY_ID, public_key_pem=apns_key.public_pem, topic=TOPIC, workdir=tmp_path
    )
    with server:
        yield server


def push_settings(apns_key: ApnsKey, server: ApnsTestServer, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": "postgresql+psycopg://unused/unused",
        "apns_key_file": apns_key.path,
        "apns_key_id": KEY_ID,
        "apns_team_id": TEAM_ID,
        "apns_topic": TOPIC,
        "apns_base_url": server.base_url,
        "apns_ca_file": server.ca_file,
        "push_retry_base_seconds": 5.0,
        "push_retry_max_seconds": 60.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def apns_token() -> str:
    return secrets.token_hex(32)


@dataclass
class Patient:
    user: User
    auth_session: AuthSession


def add_patient(session: Session, language: Language | None = None) -> Patient:
    user = User(
        role=Role.patient,
        email=f"{secrets.token_hex(4)}@example.uz",
        password_hash="!",
        full_name="Test",
        preferred_language=language,
    )
    session.add(user)
    session.flush()
    auth_session = AuthSession(user_id=user.id)
    session.add(auth_session)
    session.flush()
    return Patient(user, auth_session)


def add_device(
    session: Session,
    patient: Patient,
    *,
    token: str | None = None,
    platform: Platform = Platform.ios,
    language: Language = Language.en,
) -> Device:
    device = Device(
        user_id=patient.user.id,
        auth_session_id=patient.auth_session.id,
        platform=platform,
        push_token=token or apns_token(),
        app_version="1.4.0",
        language=language,
        time_zone="Asia/Tashkent",
    )
    session.add(device)
    session.flush()
    return device


def booking_reminder(
    session: Session,
    patient: Patient,
    *,
    booking_id: str = "b-1",
    send_at: datetime | None = None,
    starts_at: datetime | None = None,
    clinic: dict[str, str] | None = None,
):  # type: ignore[no-untyped-def]
    starts_at = starts_at or utcnow() + timedelta(hours=2)
    return enqueue(
        session,
        user_id=patient.user.id,
        kind=NotificationKind.booking_reminder,
        dedup_key=f"booking:{booking_id}:reminder:{(send_at or starts_at).isoformat()}",
        params={
            "booking_id": booking_id,
            "clinic_name": clinic or CLINIC,
            "starts_at": starts_at.isoformat(),
            "time_zone": "Asia/Tashkent",
            "hours_before": 2,
        },
        send_at=send_at,
    )


class VirtualClock:
    """A clock the test moves by hand, so backoff over minutes runs in milliseconds."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def virtual_clock() -> Callable[[], VirtualClock]:
    return lambda: VirtualClock(utcnow())
