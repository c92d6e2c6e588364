"""Factories for test data and small helpers shared by the tests.

Factories commit: inside the per-test transaction a commit only releases a savepoint, and it
keeps the data apart from the savepoint of the next request, which a failing request rolls
back (everything is still rolled back at the end of the test)."""

import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from services import security
from services.accounts.models import AuthSession, ClinicMembership, HospitalClient, Role, User
from services.clinics.models import Clinic
from services.db import get_engine
from services.redis_client import get_redis
from services.security import create_access_token, hash_password, new_opaque_token, token_digest
from services.settings import get_settings
from services.storage import get_blob_store

PASSWORD = "correct horse battery"


def make_clinic(db: Session, **fields: Any) -> Clinic:
    clinic = clinic_row(**fields)
    db.add(clinic)
    db.commit()
    return clinic


def clinic_row(**fields: Any) -> Clinic:
    """A clinic not yet added to any session."""
    slug = fields.pop("slug", f"test-clinic-{secrets.token_hex(3)}")
    values: dict[str, Any] = {
        "slug": slug,
        "name_en": "Test Heart Clinic",
        "name_ru": "Тестовая кардиологическая клиника",
        "name_uz": "Sinov yurak klinikasi",
        "city_en": "Tashkent",
        "city_ru": "Ташкент",
        "city_uz": "Toshkent",
        "address_en": "1 Amir Temur Avenue",
        "address_ru": "проспект Амира Темура, 1",
        "address_uz": "Amir Temur shoh koʻchasi, 1",
        "latitude": 41.3,
        "longitude": 69.24,
    }
    values.update(fields)
    return Clinic(**values)


def make_user(
    db: Session,
    role: Role = Role.patient,
    *,
    email: str | None = None,
    phone: str | None = None,
    password: str = PASSWORD,
    clinics: Iterable[Clinic] = (),
    **fields: Any,
) -> User:
    user = User(
        role=role,
        email=email if email is not None or phone is not None else f"user-{secrets.token_hex(4)}@example.uz",
        phone=phone,
        password_hash=hash_password(password),
        full_name=fields.pop("full_name", "Test Person"),
        **fields,
    )
    db.add(user)
    db.commit()
    for clinic in clinics:
        db.add(ClinicMembership(user_id=user.id, clinic_id=clinic.id))
    db.commit()
    return user


def sign_in(db: Session, user: User) -> dict[str, str]:
    """Authorization headers of a fresh sign-in session of `user`."""
    auth_session = AuthSession(user_id=user.id)
    db.add(auth_session)
    db.commit()
    token, _ = create_access_token(user.id, user.role, auth_session.id)
    return {"Authorization": f"Bearer {token}"}


def make_hospital_client(db: Session, clinic: Clinic) -> tuple[HospitalClient, str]:
    secret = new_opaque_token()
    client = HospitalClient(
        client_id=f"his_{secrets.token_hex(6)}",
        secret_digest=token_digest(secret),
        clinic_id=clinic.id,
        name="HIS",
    )
    db.add(client)
    db.commit()
    return client, secret


def hospital_headers(client: HospitalClient) -> dict[str, str]:
    token, _ = create_access_token(client.id, Role.hospital_system, None)
    return {"Authorization": f"Bearer {token}"}


def random_uuid() -> uuid.UUID:
    return uuid.uuid4()


@contextmanager
def settings_changed(**variables: str) -> Iterator[None]:
    """Run with other CARDIOALERT_* settings; restores them (and the cached objects) after."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    _clear_setting_caches()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _clear_setting_caches()


def _clear_setting_caches() -> None:
    get_engine.cache_clear()
    get_settings.cache_clear()
    get_redis.cache_clear()
    get_blob_store.cache_clear()
    security.password_hasher.cache_clear()


@contextmanager
def small_tmpfs(size: str, why_skipped: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "256k") mounted on a fresh directory: a disk that really fills
    up. Mounting needs root (CI and dev machines run as root); elsewhere the test is skipped,
    saying `why_skipped`."""
    mount_point = Path(tempfile.mkdtemp(prefix="cardioalert-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (needs root); {why_skipped}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)
        shutil.rmtree(mount_point, ignore_errors=True)
