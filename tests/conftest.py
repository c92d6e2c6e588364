"""Test run setup: real PostgreSQL and Redis (see infra.py), one database migrated to head for
the run, and each test inside a transaction that is rolled back at its end."""

import base64
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.infra import ServiceUnavailableError, create_database, drop_database, provide_services

RUN_ID = secrets.token_hex(4)
TEST_DATABASE = f"cardioalert_test_{RUN_ID}"
BLOB_DIR = tempfile.mkdtemp(prefix=f"cardioalert-blobs-{RUN_ID}-")

try:
    POSTGRES_ADMIN_URL, REDIS_URL = provide_services()
except ServiceUnavailableError as error:
    pytest.exit(str(error), returncode=3)

# Settings are read from the environment once; set them before anything imports services.
os.environ.update(
    {
        "CARDIOALERT_ENVIRONMENT": "test",
        "CARDIOALERT_DATABASE_URL": create_database(POSTGRES_ADMIN_URL, TEST_DATABASE),
        "CARDIOALERT_REDIS_URL": REDIS_URL,
        "CARDIOALERT_REDIS_KEY_PREFIX": f"cardioalert-test-{RUN_ID}:",
        "CARDIOALERT_SECRET_KEY": secrets.token_urlsafe(48),
        # Stored files of the run go to a throwaway directory, under a throwaway key.
        "CARDIOALERT_BLOB_DIR": BLOB_DIR,
        "CARDIOALERT_BLOB_KEYS": "test:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        # Cheap hashing keeps the suite fast; production parameters are the defaults.
        "CARDIOALERT_ARGON2_TIME_COST": "1",
        "CARDIOALERT_ARGON2_MEMORY_KIB": "8192",
        "CARDIOALERT_SEED_DEMO_DATA": "false",
        # Tests change clinics between requests; the catalogue must see every change at once.
        "CARDIOALERT_CLINIC_CATALOGUE_CHECK_SECONDS": "0",
    }
)

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from services.app import create_app  # noqa: E402
from services.db import get_engine, get_session, transaction  # noqa: E402
from services.migrations import upgrade_to_head  # noqa: E402
from services.redis_client import get_redis  # noqa: E402
from services.settings import get_settings  # noqa: E402


def pytest_sessionstart(session: pytest.Session) -> None:
    upgrade_to_head(os.environ["CARDIOALERT_DATABASE_URL"])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    get_engine().dispose()
    drop_database(POSTGRES_ADMIN_URL, TEST_DATABASE)
    shutil.rmtree(BLOB_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def engine() -> Engine:
    return get_engine()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction: commits become savepoints, and everything the
    test wrote is rolled back at its end."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture(autouse=True)
def clean_redis() -> Iterator[None]:
    yield
    client = get_redis()
    assert client is not None
    keys = list(client.scan_iter(match=get_settings().redis_key_prefix + "*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def app(db: Session) -> FastAPI:
    application = create_app()

    def session_in_test_transaction() -> Iterator[Session]:
        with transaction(db):
            yield db

    application.dependency_overrides[get_session] = session_in_test_transaction
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
