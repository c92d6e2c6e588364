from fastapi.testclient import TestClient

from services.app import create_app
from tests.support import settings_changed


def test_liveness_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_checks_database_and_redis(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


def test_readiness_fails_clearly_when_redis_does_not_answer(client: TestClient) -> None:
    # A real connection attempt to a port where nothing listens.
    with settings_changed(CARDIOALERT_REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/readyz", headers={"Accept-Language": "ru"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["checks"] == {"database": "ok", "redis": "unreachable"}
    assert body["title"] == "Сервис не готов к работе"


def test_readiness_fails_clearly_when_the_database_does_not_answer() -> None:
    with (
        settings_changed(CARDIOALERT_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none"),
        TestClient(create_app(), raise_server_exceptions=False) as client,
    ):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "not_ready"
    assert response.json()["checks"] == {"database": "unreachable"}
