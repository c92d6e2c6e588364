"""Who is calling, and the access policy every route declares.

A route states its policy in its signature with one of the typed dependencies below
(CurrentPatient, CurrentStaff, ...) or with `dependencies=[PUBLIC]`. tests/services/test_policies.py
walks the route table and fails for a route that declares none."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from i18n import N_
from services.accounts.models import HospitalClient, Role, User
from services.accounts.repository import AccountsRepository
from services.db import SessionDep
from services.errors import Forbidden, Unauthorized
from services.security import AccessClaims, InvalidTokenError, decode_access_token

F = TypeVar("F", bound=Callable[..., Any])


class InvalidAccessToken(Unauthorized):
    code = "invalid_token"
    title = N_("Invalid sign-in token")
    detail = N_("Your sign-in has expired or is invalid. Sign in again.")


class RoleNotAllowed(Forbidden):
    code = "role_not_allowed"
    detail = N_("Your account is not allowed to do this.")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a person (with a sign-in session) or a hospital system."""

    id: uuid.UUID
    role: Role
    clinic_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    session_id: uuid.UUID | None = None
    user: User | None = None
    client: HospitalClient | None = None

    def can_access_clinic(self, clinic_id: uuid.UUID) -> bool:
        return self.role is Role.admin or clinic_id in self.clinic_ids


def access_policy(name: str) -> Callable[[F], F]:
    def mark(function: F) -> F:
        function.access_policy = name  # type: ignore[attr-defined]
        return function

    return mark


bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An access token from logIn, registerPatient, refreshTokens or issueClientToken.",
)


@access_policy("authenticated")
def current_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    if credentials is None:
        raise Unauthorized()
    try:
        claims = decode_access_token(credentials.credentials)
    except InvalidTokenError:
        raise InvalidAccessToken() from None
    principal = principal_from_claims(session, claims)
    if principal.user is not None and principal.user.preferred_language is not None:
        request.state.language = principal.user.preferred_language
    return principal


def principal_from_claims(session: Session, claims: AccessClaims) -> Principal:
    """The caller behind a verified access token, if its sign-in session (or hospital client)
    is still live; the API's bearer tokens and the portal's cookie both end here."""
    repository = AccountsRepository(session)
    if claims.role == Role.hospital_system:
        client = repository.get_hospital_client(claims.subject)
        if client is None or client.revoked_at is not None:
            raise InvalidAccessToken()
        return Principal(
            id=client.id, role=Role.hospital_system, clinic_ids=frozenset({client.clinic_id}), client=client
        )
    if claims.session_id is None:
        raise InvalidAccessToken()
    signed_in = repository.get_signed_in_user(claims.subject, claims.session_id)
    if signed_in is None:
        raise InvalidAccessToken()
    user, _ = signed_in
    clinic_ids = (
        repository.clinic_ids_of(user.id) if user.role in (Role.clinic_staff, Role.clinician) else frozenset()
    )
    return Principal(
        id=user.id, role=user.role, clinic_ids=clinic_ids, session_id=claims.session_id, user=user
    )


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def _require(principal: Principal, *roles: Role) -> Principal:
    if principal.role not in roles:
        raise RoleNotAllowed()
    return principal


@access_policy("patient")
def current_patient(principal: PrincipalDep) -> User:
    _require(principal, Role.patient)
    assert principal.user is not None
    return principal.user


@access_policy("person")
def current_person(principal: PrincipalDep) -> Principal:
    """Any signed-in person (not a machine client): their own profile and sessions."""
    if principal.user is None:
        raise RoleNotAllowed()
    return principal


@access_policy("clinic_staff")
def current_staff(principal: PrincipalDep) -> Principal:
    return _require(principal, Role.clinic_staff, Role.admin)


@access_policy("clinician")
def current_clinician(principal: PrincipalDep) -> Principal:
    return _require(principal, Role.clinician, Role.admin)


@access_policy("clinic_team")
def current_clinic_team_member(principal: PrincipalDep) -> Principal:
    return _require(principal, Role.clinic_staff, Role.clinician, Role.admin)


@access_policy("hospital_system")
def current_hospital_client(principal: PrincipalDep) -> Principal:
    return _require(principal, Role.hospital_system)


@access_policy("admin")
def current_admin(principal: PrincipalDep) -> Principal:
    return _require(principal, Role.admin)


@access_policy("public")
def allow_anyone() -> None:
    """Declares a route open to everyone, on purpose."""


CurrentPerson = Annotated[Principal, Depends(current_person)]
CurrentPatient = Annotated[User, Depends(current_patient)]
CurrentStaff = Annotated[Principal, Depends(current_staff)]
CurrentClinician = Annotated[Principal, Depends(current_clinician)]
CurrentClinicTeamMember = Annotated[Principal, Depends(current_clinic_team_member)]
CurrentHospitalClient = Annotated[Principal, Depends(current_hospital_client)]
CurrentAdmin = Annotated[Principal, Depends(current_admin)]
PUBLIC = Depends(allow_anyone)


def route_policies(route: APIRoute) -> list[str]:
    """The policies a route declares directly (its own parameters and `dependencies=`)."""
    return [
        dependency.call.access_policy  # type: ignore[union-attr]
        for dependency in route.dependant.dependencies
        if hasattr(dependency.call, "access_policy")
    ]
