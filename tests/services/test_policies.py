"""Every route declares who may call it, and nobody reaches data that is not theirs."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from booking.models import BookingStatus
from i18n import Language
from notifications.models import Device, NotificationKind, Platform
from notifications.service import enqueue
from services.accounts.models import AuthSession, Role, User
from services.auth import route_policies
from services.db import utcnow
from services.portal.session import PORTAL_PREFIX
from services.routing import MULTIPART, MountedRoute, mounted_routes
from tests.booking.support import booking_world
from tests.services.studies.support import make_analysed_study
from tests.support import hospital_headers, make_clinic, make_hospital_client, make_user, sign_in

UNVERSIONED = {"/healthz", "/readyz"}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect"}
PORTAL_STATIC = "/portal/static"

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


def api_routes(app: FastAPI) -> list[MountedRoute]:
    """The API's routes. The portal's pages declare the same policies but answer browsers (a
    redirect to sign in, HTML pages): tests/services/portal/test_access.py walks them."""
    return [mounted for mounted in mounted_routes(app) if not mounted.path.startswith(PORTAL_PREFIX)]


def test_api_routes_are_versioned(app: FastAPI) -> None:
    for mounted in api_routes(app):
        assert mounted.path.startswith("/v1/") or mounted.path in UNVERSIONED, mounted.path
    other = {route.path for route in app.routes if not hasattr(route, "original_router")}  # type: ignore[attr-defined]
    assert other <= DOCS | {PORTAL_STATIC}


def _headers_for(db: Session, role: Role) -> dict[str, str]:
    clinic = make_clinic(db)
    if role is Role.hospital_system:
        client, _ = make_hospital_client(db, clinic)
        return hospital_headers(client)
    clinics = [clinic] if role in (Role.clinic_staff, Role.clinician) else []
    return sign_in(db, make_user(db, role, clinics=clinics))


def _call(client: TestClient, method: str, mounted: MountedRoute, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    concrete = mounted.path
    while "{" in concrete:
        start, end = concrete.index("{"), concrete.index("}")
        concrete = concrete[:start] + str(uuid.uuid4()) + concrete[end + 1 :]
    if method not in ("POST", "PUT", "PATCH"):
        return client.request(method, concrete, headers=headers)
    if MULTIPART in mounted.route.expected_media_types():  # type: ignore[attr-defined]
        return client.request(method, concrete, headers=headers, files={"file": ("x.bin", b"x")})
    return client.request(method, concrete, headers=headers, json={})


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_exactly_the_routes_its_policy_allows(
    app: FastAPI, client: TestClient, db: Session, role: Role
) -> None:
    headers = _headers_for(db, role)
    for mounted in api_routes(app):
        policies = route_policies(mounted.route)
        allowed = set.intersection(*(ALLOWED_ROLES[policy] for policy in policies))
        for method in mounted.methods - {"HEAD"}:
            if mounted.path in ("/v1/auth/logout", "/v1/me/deletion", "/v1/me/password"):
                continue  # would end the caller's own session; covered in tests/services/accounts
            status = _call(client, method, mounted, headers).status_code
            if role in allowed:
                assert status not in (401, 403), (role, method, mounted.path, status)
            else:
                assert status == 403, (role, method, mounted.path, status)


def test_routes_refuse_anonymous_callers_unless_public(app: FastAPI, client: TestClient) -> None:
    for mounted in api_routes(app):
        for method in mounted.methods - {"HEAD"}:
            status = _call(client, method, mounted, {}).status_code
            if route_policies(mounted.route) == ["public"]:
                assert status != 401, mounted.path
            else:
                assert status == 401, mounted.path


# Each route that takes an id of something owned, with how to make an owner, a stranger and
# the request. A new route with an id must be added here, or the test below fails.


@dataclass
class Case:
    owner: dict[str, str]
    stranger: dict[str, str]
    ids: dict[str, str]
    json: dict[str, object] | None = None
    params: dict[str, str] | None = None


Build = Callable[[Session], Case]


def _session_of_another_patient(db: Session) -> Case:
    owner, stranger = make_user(db), make_user(db)
    owner_headers = sign_in(db, owner)
    other_session = AuthSession(user_id=owner.id)
    db.add(other_session)
    db.commit()
    return Case(owner_headers, sign_in(db, stranger), {"session_id": str(other_session.id)})


def _clinic_of_other_staff(role: Role) -> Build:
    def build(db: Session) -> Case:
        mine, theirs = make_clinic(db), make_clinic(db)
        owner: User = make_user(db, role, clinics=[theirs])
        stranger: User = make_user(db, role, clinics=[mine])
        return Case(sign_in(db, owner), sign_in(db, stranger), {"clinic_id": str(theirs.id)})

    return build


def _device_of_another_patient(db: Session) -> Case:
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
    return Case(owner_headers, sign_in(db, stranger), {"device_id": str(device.id)})


def _notification_of_another_patient(db: Session) -> Case:
    owner, stranger = make_user(db), make_user(db)
    notification = enqueue(
        db,
        user_id=owner.id,
        kind=NotificationKind.ecg_result_ready,
        dedup_key="study:1:result",
        params={"study_id": str(uuid.uuid4())},
    )
    db.commit()
    return Case(sign_in(db, owner), sign_in(db, stranger), {"notification_id": str(notification.id)})


def _booking_of(who: str, **request: object) -> Build:
    """A booking of clinic A, reached by its patient, its staff or its hospital system."""
    strangers = {"patient": "other_patient", "staff": "other_staff", "hospital": "other_hospital"}

    def build(db: Session) -> Case:
        world = booking_world(db, **({"booking_status": request["status"]} if "status" in request else {}))
        json = request.get("json")
        if json == "free slot":
            json = {"slot_id": str(world.slot_ids[1])}
        headers = {"Idempotency-Key": str(uuid.uuid4())} if who == "patient" else {}
        return Case(
            {**getattr(world, who), **headers},
            {**getattr(world, strangers[who]), **headers},
            {"booking_id": str(world.booking_id)},
            json=json,
        )  # type: ignore[arg-type]

    return build


def _clinic_for_staff(**request: object) -> Build:
    def build(db: Session) -> Case:
        world = booking_world(db)
        json = request.get("json")
        if json == "resource":
            json = {"name": "ECG device 2", "kind": "device"}
        elif json == "exception":
            start = utcnow() + timedelta(days=40)
            json = {
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=1)).isoformat(),
                "reason": "repair",
                "on_bookings": "cancel",
            }
        elif json == "schedule":
            json = {
                "resource_id": str(world.resource_id),
                "service": "holter",
                "slot_minutes": 60,
                "capacity": 1,
                "valid_from": (date.today() + timedelta(days=400)).isoformat(),
                "rules": [{"weekday": 0, "start": "08:00", "end": "09:00"}],
            }
        return Case(
            world.staff,
            world.other_staff,
            {"clinic_id": str(world.clinic.id), "schedule_id": str(world.schedule_id)},
            json=json,
            params=request.get("params"),
        )  # type: ignore[arg-type]

    return build


def _slot_for_staff(**request: object) -> Build:
    def build(db: Session) -> Case:
        world = booking_world(db)
        return Case(
            world.staff, world.other_staff, {"slot_id": str(world.slot_ids[2])}, json=request.get("json")
        )  # type: ignore[arg-type]

    return build


def _webhook_of_hospital(db: Session) -> Case:
    world = booking_world(db)
    return Case(world.hospital, world.other_hospital, {"webhook_id": str(world.webhook_id)})


def _study_of(who: str, **request: object) -> Build:
    """An analysed study of a patient of clinic A, reached by the patient, a member of clinic A
    (clinician) or clinic A's hospital system; strangers are the same of clinic B."""

    def build(db: Session) -> Case:
        clinic, other_clinic = make_clinic(db), make_clinic(db)
        patient = make_user(db)
        study = make_analysed_study(db, patient, clinic)
        if who == "patient":
            owner, stranger = sign_in(db, patient), sign_in(db, make_user(db))
        elif who == "clinic":
            owner = sign_in(db, make_user(db, Role.clinician, clinics=[clinic]))
            stranger = sign_in(db, make_user(db, Role.clinician, clinics=[other_clinic]))
        else:
            owner = hospital_headers(make_hospital_client(db, clinic)[0])
            stranger = hospital_headers(make_hospital_client(db, other_clinic)[0])
        return Case(owner, stranger, {"study_id": str(study.id)}, json=request.get("json"))  # type: ignore[arg-type]

    return build


OWNED_ROUTES: dict[tuple[str, str], list[Build]] = {
    ("DELETE", "/v1/me/sessions/{session_id}"): [_session_of_another_patient],
    ("DELETE", "/v1/devices/{device_id}"): [_device_of_another_patient],
    ("POST", "/v1/notifications/{notification_id}/read"): [_notification_of_another_patient],
    ("GET", "/v1/staff/clinics/{clinic_id}/members"): [
        _clinic_of_other_staff(Role.clinic_staff),
        _clinic_of_other_staff(Role.clinician),
    ],
    ("GET", "/v1/bookings/{booking_id}"): [_booking_of("patient")],
    ("POST", "/v1/bookings/{booking_id}/confirm"): [_booking_of("patient")],
    ("POST", "/v1/bookings/{booking_id}/cancel"): [_booking_of("patient")],
    ("POST", "/v1/bookings/{booking_id}/reschedule"): [_booking_of("patient", json="free slot")],
    ("POST", "/v1/staff/bookings/{booking_id}/status"): [_booking_of("staff", json={"status": "arrived"})],
    ("POST", "/v1/staff/bookings/{booking_id}/cancel"): [_booking_of("staff", json={"reason": "clinic"})],
    ("POST", "/v1/staff/bookings/{booking_id}/move"): [_booking_of("staff", json="free slot")],
    ("POST", "/v1/hospital/bookings/{booking_id}/confirm"): [_booking_of("hospital")],
    ("POST", "/v1/hospital/bookings/{booking_id}/reject"): [
        _booking_of("hospital", status=BookingStatus.pending)
    ],
    ("POST", "/v1/hospital/bookings/{booking_id}/status"): [
        _booking_of("hospital", json={"status": "fulfilled"})
    ],
    ("GET", "/v1/hospital/fhir/Appointment/{booking_id}"): [_booking_of("hospital")],
    ("DELETE", "/v1/hospital/webhooks/{webhook_id}"): [_webhook_of_hospital],
    ("POST", "/v1/staff/clinics/{clinic_id}/resources"): [_clinic_for_staff(json="resource")],
    ("GET", "/v1/staff/clinics/{clinic_id}/resources"): [_clinic_for_staff()],
    ("POST", "/v1/staff/clinics/{clinic_id}/schedules"): [_clinic_for_staff(json="schedule")],
    ("GET", "/v1/staff/clinics/{clinic_id}/schedules"): [_clinic_for_staff()],
    ("DELETE", "/v1/staff/clinics/{clinic_id}/schedules/{schedule_id}"): [_clinic_for_staff()],
    ("POST", "/v1/staff/clinics/{clinic_id}/exceptions"): [_clinic_for_staff(json="exception")],
    ("GET", "/v1/staff/clinics/{clinic_id}/bookings"): [_clinic_for_staff(params={"date": "2026-12-01"})],
    ("POST", "/v1/staff/slots/{slot_id}/block"): [_slot_for_staff(json={"reason": "repair"})],
    ("POST", "/v1/staff/slots/{slot_id}/unblock"): [_slot_for_staff()],
    ("GET", "/v1/studies/{study_id}"): [_study_of("patient")],
    ("GET", "/v1/studies/{study_id}/signal"): [_study_of("patient")],
    ("GET", "/v1/studies/{study_id}/signal.csv"): [_study_of("patient")],
    ("GET", "/v1/studies/{study_id}/original"): [_study_of("patient")],
    ("GET", "/v1/studies/{study_id}/report.pdf"): [_study_of("patient")],
    ("GET", "/v1/studies/{study_id}/fhir"): [_study_of("patient")],
    ("DELETE", "/v1/studies/{study_id}"): [_study_of("patient")],
    ("GET", "/v1/clinic/studies/{study_id}"): [_study_of("clinic")],
    ("GET", "/v1/clinic/studies/{study_id}/signal"): [_study_of("clinic")],
    ("GET", "/v1/clinic/studies/{study_id}/report.pdf"): [_study_of("clinic")],
    ("POST", "/v1/clinic/studies/{study_id}/review"): [_study_of("clinic", json={"verdict": "confirmed"})],
    ("GET", "/v1/hospital/studies/{study_id}/fhir"): [_study_of("hospital")],
}
PUBLIC_BY_ID = {("GET", "/v1/clinics/{clinic_id}"), ("GET", "/v1/clinics/{clinic_id}/slots")}


def test_every_route_with_an_id_is_in_the_ownership_matrix(app: FastAPI) -> None:
    with_ids = {
        (method, mounted.path)
        for mounted in api_routes(app)
        for method in mounted.methods - {"HEAD"}
        if "{" in mounted.path
    }
    assert with_ids == OWNED_ROUTES.keys() | PUBLIC_BY_ID


def _fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return path


@pytest.mark.parametrize(
    ("method", "path", "build"), [(m, p, b) for (m, p), bs in OWNED_ROUTES.items() for b in bs]
)
def test_strangers_get_404_where_owners_succeed(
    client: TestClient, db: Session, method: str, path: str, build: Build
) -> None:
    case = build(db)
    concrete = _fill(path, case.ids)

    def call(headers: dict[str, str], url: str):  # type: ignore[no-untyped-def]
        if "Idempotency-Key" in headers:
            headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}
        return client.request(method, url, headers=headers, json=case.json, params=case.params)

    stranger = call(case.stranger, concrete)
    assert stranger.status_code == 404, stranger.text
    # Same answer as for ids that do not exist at all, so existence does not leak.
    missing = call(case.stranger, _fill(path, {name: str(uuid.uuid4()) for name in case.ids}))
    assert (stranger.json()["code"], stranger.json()["detail"]) == (
        missing.json()["code"],
        missing.json()["detail"],
    )
    owner = call(case.owner, concrete)
    assert owner.status_code < 300, owner.text
