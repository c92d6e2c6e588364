"""Logs are JSON with the request id, and carry no personal or medical data."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.auth import PUBLIC
from services.logs import JsonFormatter
from tests.support import PASSWORD

PATIENT = {
    "email": "shahnoza.rakhimova@example.uz",
    "phone": "+998935551234",
    "password": "my secret passphrase",
    "full_name": "Shahnoza Rakhimova",
    "birth_date": "1969-02-03",
}
SECRETS = ["shahnoza", "rakhimova", "935551234", "my secret passphrase", "1969-02-03"]


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def test_requests_with_personal_data_leave_none_in_the_logs(
    app: FastAPI, client: TestClient, log_output: io.StringIO
) -> None:
    @app.post("/v1/test-crash", dependencies=[PUBLIC])
    def crash_with_personal_data() -> None:
        raise RuntimeError(f"cannot process {PATIENT['full_name']} {PATIENT['phone']} {PATIENT['email']}")

    assert client.post("/v1/auth/register", json=PATIENT).status_code == 201
    client.post("/v1/auth/login", json={"login": PATIENT["email"], "password": "wrong " + PASSWORD})
    client.post("/v1/auth/register", json=PATIENT)  # conflict
    client.get(f"/v1/clinics?cursor={PATIENT['phone']}")
    client.get(f"/v1/nothing/{PATIENT['email']}")
    assert client.post("/v1/test-crash").status_code == 500

    output = log_output.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line.get("exception") == ["RuntimeError"] for line in lines), "the crash must be logged"
    assert any(line.get("route") == "/v1/auth/register" for line in lines)
    lowered = output.lower()
    for secret in SECRETS:
        assert secret.lower() not in lowered, secret


def test_each_request_has_an_id_in_the_response_and_the_log(
    client: TestClient, log_output: io.StringIO
) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "ios-retry-7f3a9c"})
    assert response.headers["x-request-id"] == "ios-retry-7f3a9c"
    access = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert {"request_id": "ios-retry-7f3a9c", "route": "/healthz", "status": 200}.items() <= access[
        -1
    ].items()


def test_an_unsafe_request_id_is_replaced(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert response.headers["x-request-id"] != "<script>alert(1)</script>"
    assert len(response.headers["x-request-id"]) == 32


def test_masking_catches_personal_data_in_free_text() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "call +998 93 555-12-34 or a.b@example.uz", None, None
    )
    message = json.loads(JsonFormatter().format(record))["message"]
    assert message == "call [number] or [email]"
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "delivery 0f6f7f26-a093-489f-bcb9-30883739e4e7", None, None
    )
    assert (
        json.loads(JsonFormatter().format(record))["message"]
        == "delivery 0f6f7f26-a093-489f-bcb9-30883739e4e7"
    )
