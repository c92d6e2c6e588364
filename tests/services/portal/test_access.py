"""Every portal page declares who may open it (as API routes do), and keeps to it: anonymous
visitors are sent to sign in, a role the page is not for gets a 403 page, and ids of other
clinics' things are not found."""

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from services.accounts.models import Role
from services.auth import route_policies
from services.portal.session import PORTAL_PREFIX
from services.routing import MountedRoute, mounted_routes
from tests.services.portal.support import csrf_of, portal_log_in
from tests.support import make_clinic, make_user

ROLES_OF_POLICY = {
    "public": {Role.clinic_staff, Role.clinician},
    "clinic_team": {Role.clinic_staff, Role.clinician},
    "clinic_staff": {Role.clinic_staff},
    "clinician": {Role.clinician},
}


def portal_routes(app: FastAPI) -> list[MountedRoute]:
    return [mounted for mounted in mounted_routes(app) if mounted.path.startswith(PORTAL_PREFIX)]


def _concrete(path: str, clinic_id: uuid.UUID) -> str:
    path = path.replace("{clinic_id}", str(clinic_id)).replace("{path:path}", "nothing/here")
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + str(uuid.uuid4()) + path[end + 1 :]
    return path


def test_the_portal_has_pages_and_each_declares_one_known_policy(app: FastAPI) -> None:
    routes = portal_routes(app)
    assert len(routes) > 20
    for mounted in routes:
        policies = route_policies(mounted.route)
        assert len(policies) == 1 and policies[0] in ROLES_OF_POLICY, mounted.path
        assert not mounted.route.include_in_schema, mounted.path  # never in the iOS contract


def test_anonymous_visitors_are_sent_to_sign_in_from_every_page_but_the_public_ones(
    app: FastAPI, client: TestClient
) -> None:
    clinic_id = uuid.uuid4()
    for mounted in portal_routes(app):
        for method in mounted.methods - {"HEAD"}:
            response = client.request(method, _concrete(mounted.path, clinic_id), follow_redirects=False)
            if route_policies(mounted.route) == ["public"]:
                assert response.status_code != 401, mounted.path
                continue
            assert response.status_code == 303, (method, mounted.path, response.status_code)
            assert response.headers["location"].startswith("/portal/login"), mounted.path


@pytest.mark.parametrize("role", [Role.clinic_staff, Role.clinician])
def test_each_role_reaches_exactly_the_pages_of_its_policy(
    app: FastAPI, client: TestClient, db: Session, role: Role
) -> None:
    clinic = make_clinic(db)
    user = make_user(db, role, clinics=[clinic])
    assert portal_log_in(client, user.email).status_code == 303
    token = csrf_of(client.get(f"/portal/clinics/{clinic.id}/studies"))
    for mounted in portal_routes(app):
        if mounted.path in ("/portal/logout", "/portal/login"):
            continue  # would end this session, or needs the login form's token: see test_pages.py
        allowed = role in ROLES_OF_POLICY[route_policies(mounted.route)[0]]
        for method in mounted.methods - {"HEAD"}:
            data = {"csrf_token": token} if method == "POST" else None
            response = client.request(
                method, _concrete(mounted.path, clinic.id), data=data, follow_redirects=False
            )
            if allowed:
                assert response.status_code not in (401, 403), (role, method, mounted.path)
            else:
                assert response.status_code == 403, (role, method, mounted.path, response.status_code)
                assert response.headers["content-type"].startswith("text/html")


def test_pages_of_a_clinic_one_does_not_belong_to_are_not_found(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    mine, theirs = make_clinic(db), make_clinic(db)
    staff = make_user(db, Role.clinic_staff, clinics=[mine])
    assert portal_log_in(client, staff.email).status_code == 303
    for mounted in portal_routes(app):
        if "{clinic_id}" not in mounted.path or "GET" not in mounted.methods:
            continue
        if route_policies(mounted.route) == ["clinician"]:
            continue
        response = client.get(_concrete(mounted.path, theirs.id), follow_redirects=False)
        assert response.status_code == 404, (mounted.path, response.status_code)
