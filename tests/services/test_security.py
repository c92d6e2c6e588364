"""The security review's own checks (docs/security.md, OWASP API Security Top 10 2023): headers,
CORS, docs exposure, trusted proxies, mass assignment, page sizes, rate limits."""

import base64
import json
import secrets

from fastapi.testclient import TestClient
from sqlmodel import Session

from services.app import create_app
from services.middleware import HSTS
from services.openapi import CONTRACT_PATH
from services.redis_client import get_redis
from services.settings import PROJECT_ROOT, Settings, get_settings
from tests.support import PASSWORD, make_clinic, make_user, settings_changed, sign_in

EVIL_ORIGIN = "https://evil.example"


def production_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "production",
        "secret_key": secrets.token_urlsafe(48),
        "database_url": get_settings().database_url,
        "blob_keys": "k:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[arg-type]


# API8 security misconfiguration


def test_every_answer_carries_the_security_headers(client: TestClient, db: Session) -> None:
    answers = [
        client.get("/healthz"),
        client.get("/v1/clinics"),
        client.get("/v1/me"),  # 401 problem+json
        client.get("/v1/nowhere"),  # 404 from the router
        client.post("/v1/auth/login", content=b"x" * 2_000_000, headers={"Content-Type": "application/json"}),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 401, 404, 413]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert answer.headers["cache-control"] == "no-store"  # health data never sits in a cache
        assert "strict-transport-security" not in answer.headers  # only production has TLS in front
    docs = client.get("/docs")  # an HTML page keeps its own policy (it loads Swagger UI)
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in docs.headers


def test_production_answers_ask_for_https_only() -> None:
    with TestClient(create_app(production_settings())) as client:
        assert client.get("/healthz").headers["strict-transport-security"] == HSTS


def test_the_docs_are_not_served_in_production_unless_asked() -> None:
    for settings, served in (
        (production_settings(), False),
        (production_settings(api_docs=True), True),
        (Settings(_env_file=None, database_url=get_settings().database_url), True),  # development
    ):
        with TestClient(create_app(settings)) as client:
            for path in ("/docs", "/openapi.json"):
                assert (client.get(path).status_code == 200) is served, (settings.environment, path)


def test_other_sites_pages_cannot_read_the_api(client: TestClient, db: Session) -> None:
    """No CORS: the app and the hospital systems are not browsers, the portal is same-origin, so
    a page of another site gets no Access-Control-Allow-Origin for anything."""
    headers = sign_in(db, make_user(db))
    preflight = client.options(
        "/v1/me",
        headers={
            "Origin": EVIL_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    read = client.get("/v1/me", headers={**headers, "Origin": EVIL_ORIGIN})
    assert preflight.status_code == 405
    assert read.status_code == 200
    for answer in (preflight, read):
        assert not any(name.startswith("access-control-") for name in answer.headers)


def test_the_image_believes_forwarded_addresses_only_from_configured_proxies() -> None:
    """With `--forwarded-allow-ips *` uvicorn takes the left-most X-Forwarded-For, which the client
    writes: every request could name a new address and the per-address login limit would not hold."""
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    command = dockerfile[dockerfile.index("CMD [") :]
    assert "--proxy-headers" in command
    assert "--forwarded-allow-ips" not in command  # FORWARDED_ALLOW_IPS, default uvicorn itself
    compose = (PROJECT_ROOT / "docker-compose.yml").read_text()
    assert 'FORWARDED_ALLOW_IPS: "*"' not in compose and "FORWARDED_ALLOW_IPS=*" not in compose


# API3 broken object property level authorization (mass assignment)


def test_roles_and_clinics_cannot_be_assigned_by_their_owner(client: TestClient, db: Session) -> None:
    registration = {"email": "mass@example.uz", "password": PASSWORD, "full_name": "Mass Assignment"}
    for extra in ({"role": "admin"}, {"clinic_ids": [str(make_clinic(db).id)]}, {"is_active": True}):
        answer = client.post("/v1/auth/register", json=registration | extra)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["code"] == "extra_forbidden"
    staff = make_user(db, role="clinic_staff", clinics=[make_clinic(db)])
    headers = sign_in(db, staff)
    for extra in ({"role": "admin"}, {"clinic_ids": []}, {"email": "other@example.uz"}, {"id": "x"}):
        answer = client.patch("/v1/me", json=extra, headers=headers)
        assert answer.status_code == 422, answer.text
    me = client.get("/v1/me", headers=headers).json()
    assert (me["role"], me["email"]) == ("clinic_staff", staff.email)


def test_every_request_body_of_the_contract_refuses_unknown_fields() -> None:
    contract = json.loads(CONTRACT_PATH.read_text())
    schemas = contract["components"]["schemas"]
    open_bodies = []
    for path, methods in contract["paths"].items():
        for method, operation in methods.items():
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                reference = content.get("schema", {}).get("$ref", "")
                schema = schemas.get(reference.rsplit("/", 1)[-1], {})
                if media_type == "application/json" and schema.get("additionalProperties") is not False:
                    open_bodies.append(f"{method.upper()} {path}")
    assert open_bodies == []


# API4 unrestricted resource consumption


def test_every_page_size_is_bounded() -> None:
    contract = json.loads(CONTRACT_PATH.read_text())
    unbounded = [
        f"{method.upper()} {path}"
        for path, methods in contract["paths"].items()
        for method, operation in methods.items()
        for parameter in operation.get("parameters", [])
        if parameter["name"] in ("limit", "days", "page_size")
        and not (parameter["schema"].get("maximum") or 0) <= 100
    ]
    assert unbounded == []


def test_registrations_are_limited_per_client_address(client: TestClient) -> None:
    with settings_changed(CARDIOALERT_REGISTRATIONS_PER_ADDRESS_PER_HOUR="2"):
        answers = [
            client.post(
                "/v1/auth/register",
                json={"email": f"new{n}@example.uz", "password": PASSWORD, "full_name": "New Patient"},
            )
            for n in range(3)
        ]
        assert [answer.status_code for answer in answers] == [201, 201, 429]
        refused = answers[-1]
        assert refused.json()["code"] == "too_many_registrations"
        assert 3500 <= int(refused.headers["retry-after"]) <= 3600
        redis = get_redis()
        assert redis is not None
        keys = [key.decode() for key in redis.scan_iter(match=get_settings().redis_key_prefix + "rate:*")]
        assert len(keys) == 1 and "testclient" not in keys[0]  # addresses are hashed


# API2 broken authentication


def test_a_stolen_session_cannot_guess_the_password_faster_than_sign_in(
    client: TestClient, db: Session
) -> None:
    user = make_user(db, email="victim@example.uz")
    headers = sign_in(db, user)
    wrong = {"current_password": "not the password", "new_password": "a brand new password"}
    statuses = [client.post("/v1/me/password", json=wrong, headers=headers).status_code for _ in range(5)]
    assert statuses == [403] * 5
    right = {"current_password": PASSWORD, "new_password": "a brand new password"}
    locked = client.post("/v1/me/password", json=right, headers=headers)
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_login_attempts"
    assert client.post("/v1/me/deletion", json={"password": PASSWORD}, headers=headers).status_code == 429
    # The same count as the sign-in form: the account is locked there too.
    login = client.post("/v1/auth/login", json={"login": "victim@example.uz", "password": PASSWORD})
    assert login.status_code == 429
