"""Every route declares who may call it, and nobody reaches data that is not theirs."""

import uuid
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from i18n import Language
from notifications.models import Device, NotificationKind, Platform
from notifications.service import enqueue
from services.accounts.models import AuthSession, Role, User
from services.auth import route_policies
from services.routing import mounted_routes
from tests.support import hospital_headers, make_clinic, make_hospital_client, make_user, sign_in

UNVERSIONED = {"/healthz", "/readyz"}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect"}

ALLOWED_ROLES: dict[str, set[Role]] = {
    "public": set(Role),
    "authenticated": set(Role),
    "person": set(Role) - {Role.hospital_system},
    "patient": {Role.patient},
    "clinic_staff": {Role.clinic_staff, Role.admin},
    "clinician": {Role.clinician, Role.admin},
    "clinic_team": {Role.clinic_staff, Role.clinician, Role.admin},
    "hospital_system": {Role.hospital_system},
    "admin": {Role.admin},
}


def test_every_route_declares_an_access_policy(app: FastAPI) -> None:
    missing = [f"{sorted(r.methods)} {r.path}" for r in mounted_routes(app) if not route_policies(r.route)]
    assert missing == [], f"routes without an access policy: {missing}"


def test_every_declared_policy_is_known(app: FastAPI) -> None:
    for mounted in mounted_routes(app):
        assert set(route_policies(mounted.route)) <= ALLOWED_ROLES.keys(), mounted.path


def test_api_routes_are_versioned(app: FastAPI) -> None:
    for mounted in mounted_routes(app):
        assert mounted.path.startswith("/v1/") or mounted.path in UNVERSIONED, mounted.path
    other = {route.path for route in app.routes if not hasattr(route, "original_router")}  # type: ignore[attr-defined]
    assert other <= DOCS


def _headers_for(db: Session, role: Role) -> dict[str, str]:
    clinic = make_clinic(db)
    if role is Role.hospital_system:
        client, _ = make_hospital_client(db, clinic)
        return hospital_headers(client)
    clinics = [clinic] if role in (Role.clinic_staff, Role.clinician) else []
    return sign_in(db, make_user(db, role, clinics=clinics))


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    concrete = path
    while "{" in concrete:
        start, end = concrete.index("{"), concrete.index("}")
        concrete = concrete[:start] + str(uuid.uuid4()) + concrete[end + 1 :]
    return client.request(
        method, concrete, headers=headers, json={} if method in ("POST", "PUT", "PATCH") else None
    )


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_exactly_the_routes_its_policy_allows(
    app: FastAPI, client: TestClient, db: Session, role: Role
) -> None:
    headers = _headers_for(db, role)
    for mounted in mounted_routes(app):
        policies = route_policies(mounted.route)
        allowed = set.intersection(*(ALLOWED_ROLES[policy] for policy in policies))
        for method in mounted.methods - {"HEAD"}:
            if mounted.path in ("/v1/auth/logout", "/v1/me/deletion", "/v1/me/password"):
                continue  # would end the caller's own session; covered in tests/services/accounts
            status = _call(client, method, mounted.path, headers).status_code
            if role in allowed:
                assert status not in (401, 403), (role, method, mounted.path, status)
            else:
                assert status == 403, (role, method, mounted.path, status)


def test_routes_refuse_anonymous_callers_unless_public(app: FastAPI, client: TestClient) -> None:
    for mounted in mounted_routes(app):
        for method in mounted.methods - {"HEAD"}:
            status = _call(client, method, mounted.path, {}).status_code
            if route_policies(mounted.route) == ["public"]:
                assert status != 401, mounted.path
            else:
                assert status == 401, mounted.path


# Each route that takes an id of something owned, with how to make (owner's headers, id) and
# (stranger's headers) for it. A new route with an id must be added here, or the test below fails.
Fixture = Callable[[Session], tuple[dict[str, str], str, dict[str, str]]]


def _session_of_another_patient(db: Session) -> tuple[dict[str, str], str, dict[str, str]]:
    owner, stranger = make_user(db), make_user(db)
    owner_headers = sign_in(db, owner)
    other_session = AuthSession(user_id=owner.id)
    db.add(other_session)
    db.commit()
    return owner_headers, str(other_session.id), sign_in(db, stranger)


def _clinic_of_other_staff(role: Role) -> Fixture:
    def build(db: Session) -> tuple[dict[str, str], str, dict[str, str]]:
        mine, theirs = make_clinic(db), make_clinic(db)
        owner: User = make_user(db, role, clinics=[theirs])
        stranger: User = make_user(db, role, clinics=[mine])
        return sign_in(db, owner), str(theirs.id), sign_in(db, stranger)

    return build


def _device_of_another_patient(db: Session) -> tuple[dict[str, str], str, dict[str, str]]:
    owner, stranger = make_user(db), make_user(db)
    owner_headers = sign_in(db, owner)
    device = Device(
        user_id=owner.id,
        platform=Platform.ios,
        push_token=uuid.uuid4().hex * 2,
        app_version="1.0",
        language=Language.en,
        time_zone="Asia/Tashkent",
    )
    db.add(device)
    db.commit()
    return owner_headers, str(device.id), sign_in(db, stranger)


def _notification_of_another_patient(db: Session) -> tuple[dict[str, str], str, dict[str, str]]:
    owner, stranger = make_user(db), make_user(db)
    notification = enqueue(
        db,
        user_id=owner.id,
        kind=NotificationKind.ecg_result_ready,
        dedup_key="study:1:result",
        params={"study_id": str(uuid.uuid4())},
    )
    db.commit()
    return sign_in(db, owner), str(notification.id), sign_in(db, stranger)


OWNED_ROUTES: dict[tuple[str, str], list[Fixture]] = {
    ("DELETE", "/v1/me/sessions/{session_id}"): [_session_of_another_patient],
    ("DELETE", "/v1/devices/{device_id}"): [_device_of_another_patient],
    ("POST", "/v1/notifications/{notification_id}/read"): [_notification_of_another_patient],
    ("GET", "/v1/staff/clinics/{clinic_id}/members"): [
        _clinic_of_other_staff(Role.clinic_staff),
        _clinic_of_other_staff(Role.clinician),
    ],
}
PUBLIC_BY_ID = {("GET", "/v1/clinics/{clinic_id}")}


def test_every_route_with_an_id_is_in_the_ownership_matrix(app: FastAPI) -> None:
    with_ids = {
        (method, mounted.path)
        for mounted in mounted_routes(app)
        for method in mounted.methods - {"HEAD"}
        if "{" in mounted.path
    }
    assert with_ids == OWNED_ROUTES.keys() | PUBLIC_BY_ID


@pytest.mark.parametrize(
    ("method", "path", "build"), [(m, p, b) for (m, p), bs in OWNED_ROUTES.items() for b in bs]
)
def test_strangers_get_404_where_owners_succeed(
    client: TestClient, db: Session, method: str, path: str, build: Fixture
) -> None:
    owner_headers, resource_id, stranger_headers = build(db)
    concrete = path[: path.index("{")] + resource_id + path[path.index("}") + 1 :]
    stranger = client.request(method, concrete, headers=stranger_headers)
    assert stranger.status_code == 404, stranger.text
    # Same answer as for an id that does not exist at all, so existence does not leak.
    missing = client.request(
        method,
        path[: path.index("{")] + str(uuid.uuid4()) + path[path.index("}") + 1 :],
        headers=stranger_headers,
    )
    assert (stranger.json()["code"], stranger.json()["detail"]) == (
        missing.json()["code"],
        missing.json()["detail"],
    )
    owner = client.request(method, concrete, headers=owner_headers)
    assert owner.status_code < 300, owner.text
