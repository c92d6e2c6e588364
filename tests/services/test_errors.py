"""Bad input always gets RFC 9457 problem+json with a stable code, in the caller's language."""

import base64
import json
from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from services.accounts.models import User
from services.app import create_app
from services.db import utcnow
from services.security import _signing_key
from tests.support import PASSWORD, make_user, settings_changed, sign_in

VALID = {"email": "a@example.uz", "password": PASSWORD, "full_name": "Aziz"}


def assert_problem(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith("/" + code)
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/v1/auth/register", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "malformed_json")


def test_wrong_types_and_unknown_enum_values_name_each_field(client: TestClient, db: Session) -> None:
    response = client.post(
        "/v1/auth/register",
        json={**VALID, "full_name": 42, "sex": "unknown", "preferred_language": "de", "surprise": 1},
        headers={"Accept-Language": "ru"},
    )
    body = assert_problem(response, 422, "validation_failed")
    by_field = {error["pointer"]: error for error in body["errors"]}
    assert by_field["#/full_name"]["code"] == "string_type"
    assert by_field["#/full_name"]["detail"] == "Должно быть текстом."
    assert by_field["#/sex"]["code"] == "enum"
    assert by_field["#/sex"]["detail"] == "Допустимые значения: female, male."
    assert by_field["#/preferred_language"]["code"] == "enum"
    assert by_field["#/surprise"]["code"] == "extra_forbidden"
    assert db.exec(select(User)).all() == []


def test_a_body_that_is_not_an_object(client: TestClient) -> None:
    body = assert_problem(client.post("/v1/auth/login", json=[1, 2]), 422, "validation_failed")
    assert body["errors"][0]["code"] == "model_attributes_type"


def test_query_parameter_errors_name_the_parameter(client: TestClient) -> None:
    body = assert_problem(client.get("/v1/clinics?limit=1000"), 422, "validation_failed")
    assert body["errors"] == [
        {"code": "less_than_equal", "detail": "Must be at most 100.", "parameter": "limit"}
    ]


def test_path_parameter_errors(client: TestClient, db: Session) -> None:
    body = assert_problem(client.get("/v1/clinics/not-a-uuid"), 422, "validation_failed")
    assert body["errors"][0]["path_parameter"] == "clinic_id"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x"])
def test_wrong_content_type(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/v1/auth/register", content=json.dumps(VALID).encode(), headers={"Content-Type": content_type}
    )
    body = assert_problem(response, 415, "unsupported_media_type")
    assert "application/json" in body["detail"]


def test_missing_content_type_with_a_body(client: TestClient) -> None:
    response = client.post(
        "/v1/auth/register", content=json.dumps(VALID).encode(), headers={"Content-Type": ""}
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_json_with_a_charset_or_problem_json_type_is_accepted(client: TestClient) -> None:
    response = client.post(
        "/v1/auth/register",
        content=json.dumps(VALID).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


def test_oversize_json_body_is_refused_before_parsing(client: TestClient, db: Session) -> None:
    huge = {**VALID, "full_name": "x" * 1_100_000}
    body = assert_problem(client.post("/v1/auth/register", json=huge), 413, "content_too_large")
    assert body["instance"] == "/v1/auth/register"
    assert db.exec(select(User)).all() == []


def test_oversize_streamed_body_without_length_is_cut_off(client: TestClient) -> None:
    chunks = (b'{"full_name": "' + b"x" * 300_000 for _ in range(5))
    response = client.post("/v1/auth/register", content=chunks, headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "content_too_large")


def test_json_body_limit_is_configurable(db: Session) -> None:
    with settings_changed(CARDIOALERT_MAX_JSON_BYTES="2048"), TestClient(create_app()) as client:
        response = client.post(
            "/v1/auth/login", json={"login": "a@example.uz", "password": "p" * 100 + "x" * 3000}
        )
    assert_problem(response, 413, "content_too_large")


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing-here", headers={"Accept-Language": "uz"}), 404, "not_found")
    assert_problem(client.delete("/v1/clinics"), 405, "method_not_allowed")


def test_missing_token(client: TestClient) -> None:
    response = client.get("/v1/me")
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def _claims(user: User, **changes: object) -> dict:
    now = utcnow()
    claims = {
        "iss": "cardioalert",
        "sub": str(user.id),
        "role": "patient",
        "typ": "access",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(changes)
    return claims


def test_expired_forged_and_malformed_tokens_are_refused(client: TestClient, db: Session) -> None:
    user = make_user(db)
    session_id = sign_in(db, user)  # a real session, so only the token's own flaw can fail it
    sid = jwt.decode(session_id["Authorization"].split()[1], options={"verify_signature": False})["sid"]
    key = _signing_key()
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = (
        base64.urlsafe_b64encode(json.dumps({**_claims(user, sid=sid), "iat": 0, "exp": 4102444800}).encode())
        .rstrip(b"=")
        .decode()
    )
    tokens = {
        "expired": jwt.encode(
            _claims(user, sid=sid, exp=utcnow() - timedelta(seconds=1)), key, algorithm="HS256"
        ),
        "wrong key": jwt.encode(
            _claims(user, sid=sid), "another key of sufficient length!!", algorithm="HS256"
        ),
        "alg none": f"{header}.{payload}.",
        "wrong issuer": jwt.encode(_claims(user, sid=sid, iss="someone-else"), key, algorithm="HS256"),
        "not an access token": jwt.encode(_claims(user, sid=sid, typ="refresh"), key, algorithm="HS256"),
        "no session": jwt.encode(_claims(user), key, algorithm="HS256"),
        "garbage": "not-a-jwt",
    }
    assert client.get("/v1/me", headers=session_id).status_code == 200
    for name, token in tokens.items():
        response = client.get("/v1/me", headers={"Authorization": f"Bearer {token}", "Accept-Language": "ru"})
        body = assert_problem(response, 401, "invalid_token")
        assert body["title"] == "Недействительный токен входа", name


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("en", "Not found"),
        ("ru-RU,ru;q=0.9", "Не найдено"),
        ("uz", "Topilmadi"),
        ("uz-Cyrl-UZ", "Топилмади"),
        ("de-DE, fr;q=0.5", "Not found"),
    ],
)
def test_errors_speak_the_callers_language(client: TestClient, language: str, title: str) -> None:
    response = client.get(
        "/v1/clinics/00000000-0000-4000-8000-000000000000", headers={"Accept-Language": language}
    )
    body = assert_problem(response, 404, "clinic_not_found")
    assert body["title"] == title
    assert response.headers["content-language"] == {"ru-RU,ru;q=0.9": "ru", "uz-Cyrl-UZ": "uz-Cyrl"}.get(
        language, "en" if language.startswith(("en", "de")) else language
    )
