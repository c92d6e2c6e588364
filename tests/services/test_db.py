"""The request owns the transaction: all of a request's writes land, or none do."""

import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, delete, select

from services.app import create_app
from services.auth import PUBLIC
from services.clinics.models import Clinic
from services.db import SessionDep, get_engine, transaction
from services.errors import Conflict
from tests.support import clinic_row


class KeptConflict(Conflict):
    keeps_changes = True


@pytest.fixture
def slug() -> Iterator[str]:
    value = f"txn-{secrets.token_hex(4)}"
    yield value
    with Session(get_engine()) as session:
        session.exec(delete(Clinic).where(Clinic.slug == value))  # type: ignore[call-overload]
        session.commit()


def clinic_exists(slug: str) -> bool:
    with Session(get_engine()) as session:
        return session.exec(select(Clinic).where(Clinic.slug == slug)).first() is not None


def app_with_writing_route(fail_with: type[Exception] | None) -> TestClient:
    app = create_app()

    @app.post("/v1/test-write/{slug}", dependencies=[PUBLIC])
    def write_then_maybe_fail(slug: str, session: SessionDep) -> dict[str, str]:
        session.add(clinic_row(slug=slug))
        session.flush()
        if fail_with is not None:
            raise fail_with()
        return {"slug": slug}

    return TestClient(app, raise_server_exceptions=False)


def test_a_successful_request_is_committed_before_the_response(slug: str) -> None:
    with app_with_writing_route(None) as client:
        assert client.post(f"/v1/test-write/{slug}").status_code == 200
    assert clinic_exists(slug)


def test_a_request_that_fails_after_writing_leaves_nothing(slug: str) -> None:
    with app_with_writing_route(Conflict) as client:
        assert client.post(f"/v1/test-write/{slug}").status_code == 409
    assert not clinic_exists(slug)


def test_an_unexpected_error_after_writing_leaves_nothing(slug: str) -> None:
    with app_with_writing_route(RuntimeError) as client:
        response = client.post(f"/v1/test-write/{slug}")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert not clinic_exists(slug)


def test_an_error_that_keeps_changes_commits_them(slug: str) -> None:
    with app_with_writing_route(KeptConflict) as client:
        assert client.post(f"/v1/test-write/{slug}").status_code == 409
    assert clinic_exists(slug)


def test_transaction_helper_rolls_back_on_error(db: Session) -> None:
    with pytest.raises(Conflict), transaction(db):
        db.add(clinic_row(slug="rolled-back"))
        db.flush()
        raise Conflict()
    assert db.exec(select(Clinic).where(Clinic.slug == "rolled-back")).first() is None
