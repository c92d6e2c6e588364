"""HTTP layer of accounts: sign-up and sign-in, the caller's own profile and sessions, and the
admin, staff and hospital views of accounts. Thin: parse, call the service, shape the answer."""

import base64
import binascii
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Header, Request, Response, status

from services.accounts import service
from services.accounts.schemas import (
    AccountDeletion,
    ClientCredentialsForm,
    ClientToken,
    ClinicMemberPublic,
    HospitalClientCreate,
    HospitalClientCreated,
    HospitalClientPublic,
    LoginRequest,
    PasswordChange,
    PatientRegistration,
    ProfilePublic,
    ProfileUpdate,
    RefreshRequest,
    SessionPublic,
    StaffCreate,
    StaffPublic,
    TokenPair,
)
from services.auth import (
    PUBLIC,
    CurrentAdmin,
    CurrentClinicTeamMember,
    CurrentHospitalClient,
    CurrentPerson,
    InvalidAccessToken,
    PrincipalDep,
)
from services.clinics.service import ClinicNotFound
from services.db import SessionDep
from services.errors import problem_responses
from services.routing import ApiRoute
from services.storage import StorageUnavailable, get_blob_store
from services.throttle import get_login_throttle, get_registration_limit

auth_router = APIRouter(prefix="/auth", tags=["auth"], route_class=ApiRoute)
me_router = APIRouter(prefix="/me", tags=["me"], route_class=ApiRoute)
admin_router = APIRouter(prefix="/admin", tags=["admin"], route_class=ApiRoute)
staff_router = APIRouter(prefix="/staff", tags=["staff"], route_class=ApiRoute)
hospital_router = APIRouter(prefix="/hospital", tags=["hospital"], route_class=ApiRoute)

UserAgent = Annotated[str | None, Header(include_in_schema=False)]


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def registration_allowed(request: Request) -> None:
    wait = get_registration_limit().hit(_client_ip(request))
    if wait:
        raise service.TooManyRegistrations(headers={"Retry-After": str(wait)}, count=max(1, -(-wait // 60)))


@auth_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=[PUBLIC, Depends(registration_allowed)],
    responses=problem_responses(service.AccountExists, service.TooManyRegistrations),
)
def register_patient(
    data: PatientRegistration, session: SessionDep, user_agent: UserAgent = None
) -> TokenPair:
    """Create a patient account (e-mail and/or phone) and sign it in."""
    return service.register_patient(session, data, user_agent)


@auth_router.post(
    "/login",
    dependencies=[PUBLIC],
    responses=problem_responses(service.InvalidCredentials, service.TooManyLoginAttempts),
)
def log_in(
    data: LoginRequest, request: Request, session: SessionDep, user_agent: UserAgent = None
) -> TokenPair:
    """Sign in with an e-mail address or phone number and a password. Repeated failures are
    throttled per account and per address (429 with Retry-After)."""
    return service.log_in(
        session, get_login_throttle(), data.login, data.password, _client_ip(request), user_agent
    )


@auth_router.post(
    "/refresh",
    dependencies=[PUBLIC],
    responses=problem_responses(service.InvalidRefreshToken, service.RefreshTokenReused),
)
def refresh_tokens(data: RefreshRequest, session: SessionDep) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once: presenting a used
    one again ends the whole session (it was copied)."""
    return service.refresh_tokens(session, data.refresh_token)


@auth_router.post(
    "/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(InvalidAccessToken)
)
def log_out(principal: PrincipalDep, session: SessionDep) -> Response:
    """End this session: its refresh token and access tokens stop working."""
    service.log_out(session, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, separator, secret = decoded.partition(":")
    return (client_id, secret) if separator else None


@auth_router.post(
    "/token",
    dependencies=[PUBLIC],
    responses=problem_responses(
        service.InvalidClient, service.UnsupportedGrantType, service.TooManyLoginAttempts
    ),
)
def issue_client_token(
    form: Annotated[ClientCredentialsForm, Form()],
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> ClientToken:
    """OAuth2 client credentials (RFC 6749 §4.4) for hospital systems: client_id and
    client_secret in HTTP Basic auth or in the form body."""
    if form.grant_type != "client_credentials":
        raise service.UnsupportedGrantType(extensions={"error": "unsupported_grant_type"})
    credentials = _basic_credentials(authorization) or (form.client_id or "", form.client_secret or "")
    return service.issue_client_token(
        session, get_login_throttle(), credentials[0], credentials[1], _client_ip(request)
    )


@me_router.get("")
def get_my_profile(principal: CurrentPerson) -> ProfilePublic:
    """The signed-in person's profile."""
    return ProfilePublic.model_validate(principal.user)


@me_router.patch("")
def update_my_profile(
    data: ProfileUpdate, principal: CurrentPerson, session: SessionDep, request: Request
) -> ProfilePublic:
    """Change name, birth date, sex, language or time zone. Only the fields sent change."""
    assert principal.user is not None
    user = service.update_profile(session, principal.user, data.model_dump(exclude_unset=True))
    if user.preferred_language is not None:
        request.state.language = user.preferred_language  # answer in the language just chosen
    return ProfilePublic.model_validate(user)


@me_router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(service.WrongPassword, service.TooManyLoginAttempts),
)
def change_my_password(
    data: PasswordChange, principal: CurrentPerson, session: SessionDep, request: Request
) -> Response:
    """Change the password; every other session is signed out. Wrong current passwords count
    as failed sign-ins of the account (429 with Retry-After)."""
    assert principal.user is not None
    with service.password_recheck(get_login_throttle(), principal.user, _client_ip(request)):
        service.change_password(
            session, principal.user, principal.session_id, data.current_password, data.new_password
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.post(
    "/deletion",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(service.WrongPassword, service.TooManyLoginAttempts, StorageUnavailable),
)
def delete_my_account(
    data: AccountDeletion, principal: CurrentPerson, session: SessionDep, request: Request
) -> Response:
    """Delete the account and everything stored about you: profile, sessions, ECG studies with
    their files and results, bookings (active ones are cancelled), risk tests, devices and inbox.
    An audit entry without medical content stays. Needs the password; exportMyData first to keep
    a copy."""
    assert principal.user is not None
    with service.password_recheck(get_login_throttle(), principal.user, _client_ip(request)):
        service.delete_account(session, get_blob_store(), principal.user, data.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.get("/sessions")
def list_my_sessions(principal: CurrentPerson, session: SessionDep) -> list[SessionPublic]:
    """Devices where this account is signed in."""
    return service.list_sessions(session, principal)


@me_router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(service.SessionNotFound),
)
def revoke_my_session(session_id: uuid.UUID, principal: CurrentPerson, session: SessionDep) -> Response:
    """Sign out one device."""
    service.revoke_session(session, principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.post(
    "/staff",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(service.AccountExists, ClinicNotFound),
)
def create_staff_member(data: StaffCreate, admin: CurrentAdmin, session: SessionDep) -> StaffPublic:
    """Create a clinic staff, clinician or admin account, bound to its clinics."""
    return service.create_staff_member(session, data)


@admin_router.post(
    "/hospital-clients", status_code=status.HTTP_201_CREATED, responses=problem_responses(ClinicNotFound)
)
def create_hospital_client(
    data: HospitalClientCreate, admin: CurrentAdmin, session: SessionDep
) -> HospitalClientCreated:
    """Register a hospital system of a clinic; the secret is shown only in this answer."""
    return service.create_hospital_client(session, data)


@staff_router.get("/clinics/{clinic_id}/members", responses=problem_responses(ClinicNotFound))
def list_clinic_members(
    clinic_id: uuid.UUID, member: CurrentClinicTeamMember, session: SessionDep
) -> list[ClinicMemberPublic]:
    """Staff and clinicians of one of the caller's clinics."""
    return [
        ClinicMemberPublic.model_validate(user)
        for user in service.list_clinic_members(session, member, clinic_id)
    ]


@hospital_router.get("/me")
def get_my_hospital_client(client: CurrentHospitalClient) -> HospitalClientPublic:
    """The hospital system behind the token, and the clinic it acts for."""
    return HospitalClientPublic.model_validate(client.client)
