"""The rules of accounts: registration, sign-in, token rotation, profiles, staff and hospital
clients. Knows nothing of HTTP; never commits (the request owns the transaction)."""

import secrets
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from i18n import N_, NP_
from notifications.service import unregister_session_devices
from services.accounts.models import AuthSession, ClinicMembership, HospitalClient, RefreshToken, Role, User
from services.accounts.repository import AccountsRepository
from services.accounts.schemas import (
    ClientToken,
    HospitalClientCreate,
    HospitalClientCreated,
    PatientRegistration,
    SessionPublic,
    StaffCreate,
    StaffPublic,
    TokenPair,
    normalise_email,
    normalise_phone,
)
from services.auth import Principal
from services.clinics.repository import ClinicsRepository
from services.clinics.service import ClinicNotFound
from services.db import utcnow
from services.errors import BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized
from services.privacy.service import erase_person
from services.security import (
    create_access_token,
    hash_password,
    new_opaque_token,
    password_needs_rehash,
    token_digest,
    verify_password,
)
from services.settings import get_settings
from services.storage import BlobStore
from services.throttle import LoginThrottle

USER_AGENT_MAX_LENGTH = 200


class AccountExists(Conflict):
    code = "account_exists"
    title = N_("Account already exists")
    detail = N_("An account with this e-mail address or phone number already exists. Sign in instead.")


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = N_("Wrong login or password")
    detail = N_("The login or the password is wrong.")


class TooManyLoginAttempts(TooManyRequests):
    code = "too_many_login_attempts"
    title = N_("Too many sign-in attempts")
    detail = NP_(
        "Too many failed sign-in attempts. Try again in {count} minute.",
        "Too many failed sign-in attempts. Try again in {count} minutes.",
    )


class TooManyRegistrations(TooManyRequests):
    code = "too_many_registrations"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    title = N_("Session expired")
    detail = N_("Your session has expired or was ended. Sign in again.")


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    title = N_("Session ended for your safety")
    detail = N_("This sign-in token was already used, so the session was ended on all copies. Sign in again.")
    keeps_changes = True  # the revoked session must stay revoked although the request fails


class InvalidClient(Unauthorized):
    code = "invalid_client"
    title = N_("Unknown client")
    detail = N_("The client id or client secret is wrong, or the client was revoked.")


class UnsupportedGrantType(BadRequest):
    code = "unsupported_grant_type"
    title = N_("Unsupported grant type")
    detail = N_("Only the client_credentials grant is supported here.")


class WrongPassword(Forbidden):
    code = "wrong_password"
    title = N_("Wrong password")
    detail = N_("The current password is wrong.")


class SessionNotFound(NotFound):
    code = "session_not_found"
    detail = N_("No such session.")


def _normalise_login(login: str) -> str | None:
    """An e-mail or E.164 phone, normalised as stored; None when it is neither."""
    try:
        return normalise_email(login) if "@" in login else normalise_phone(login)
    except ValueError:
        return None


def _find_user_by_login(repository: AccountsRepository, login: str) -> User | None:
    if "@" in login:
        return repository.get_user_by_email(login)
    return repository.get_user_by_phone(login)


def _issue_tokens(repository: AccountsRepository, user: User, auth_session: AuthSession) -> TokenPair:
    settings = get_settings()
    refresh_lifetime = timedelta(days=settings.refresh_token_days)
    refresh_token = new_opaque_token()
    repository.add(
        RefreshToken(
            session_id=auth_session.id,
            token_digest=token_digest(refresh_token),
            expires_at=utcnow() + refresh_lifetime,
        )
    )
    access_token, expires_in = create_access_token(user.id, user.role, auth_session.id)
    return TokenPair(
        access_token=access_token,
        expires_in=expires_in,
        refresh_token=refresh_token,
        refresh_expires_in=int(refresh_lifetime.total_seconds()),
    )


def _new_auth_session(repository: AccountsRepository, user: User, user_agent: str | None) -> AuthSession:
    auth_session = AuthSession(
        user_id=user.id, user_agent=(user_agent or None) and user_agent[:USER_AGENT_MAX_LENGTH]
    )
    repository.add(auth_session)
    return auth_session


def _start_session(repository: AccountsRepository, user: User, user_agent: str | None) -> TokenPair:
    return _issue_tokens(repository, user, _new_auth_session(repository, user, user_agent))


def _insert_user(repository: AccountsRepository, user: User) -> None:
    if (user.email and repository.get_user_by_email(user.email)) or (
        user.phone and repository.get_user_by_phone(user.phone)
    ):
        raise AccountExists()
    try:
        with repository.session.begin_nested():
            repository.add(user)
    except IntegrityError:
        # Two registrations raced past the check above; the unique index decided.
        raise AccountExists() from None


def register_patient(session: Session, data: PatientRegistration, user_agent: str | None) -> TokenPair:
    repository = AccountsRepository(session)
    user = User(
        role=Role.patient,
        email=data.email,
        phone=data.phone,
        password_hash=hash_password(data.password),
        full_name=data.full_name,
        birth_date=data.birth_date,
        sex=data.sex,
        preferred_language=data.preferred_language,
        time_zone=data.time_zone,
    )
    _insert_user(repository, user)
    return _start_session(repository, user, user_agent)


def log_in(
    session: Session,
    throttle: LoginThrottle,
    login: str,
    password: str,
    client_ip: str,
    user_agent: str | None,
) -> TokenPair:
    user = authenticate(session, throttle, login, password, client_ip)
    return _start_session(AccountsRepository(session), user, user_agent)


def start_browser_session(session: Session, user: User, user_agent: str | None) -> AuthSession:
    """A sign-in session without a refresh token: the web portal renews its cookie itself while
    the session is live (logout, revocation and password changes end it as any other)."""
    return _new_auth_session(AccountsRepository(session), user, user_agent)


def renew_browser_session(session: Session, session_id: uuid.UUID, max_age: timedelta) -> bool:
    """Mark a browser session used now; False once it is older than `max_age` (its cookie then
    lapses instead of being renewed)."""
    repository = AccountsRepository(session)
    auth_session = repository.get_auth_session(session_id)
    now = utcnow()
    if auth_session is None or auth_session.revoked_at is not None or now - auth_session.created_at > max_age:
        return False
    auth_session.last_used_at = now
    repository.add(auth_session)
    return True


def authenticate(
    session: Session, throttle: LoginThrottle, login: str, password: str, client_ip: str
) -> User:
    """The active account behind a login and password, under the shared login throttling."""
    normalised = _normalise_login(login.strip()) or login.strip().lower()
    wait = throttle.retry_after(normalised, client_ip)
    if wait:
        raise TooManyLoginAttempts(headers={"Retry-After": str(wait)}, count=max(1, -(-wait // 60)))
    repository = AccountsRepository(session)
    user = _find_user_by_login(repository, normalised)
    password_hash = user.password_hash if user is not None and user.is_active else None
    if not verify_password(password_hash, password) or user is None:
        throttle.record_failure(normalised, client_ip)
        raise InvalidCredentials()
    throttle.record_success(normalised)
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def refresh_tokens(session: Session, refresh_token: str) -> TokenPair:
    repository = AccountsRepository(session)
    token = repository.get_refresh_token_for_update(token_digest(refresh_token))
    if token is None:
        raise InvalidRefreshToken()
    auth_session = repository.get_auth_session(token.session_id)
    if auth_session is None or auth_session.revoked_at is not None:
        raise InvalidRefreshToken()
    now = utcnow()
    if token.used_at is not None:
        # A used token came back: one of the two holders is not the owner. End the whole family.
        auth_session.revoked_at = now
        auth_session.revoked_reason = "refresh_token_reused"
        repository.add(auth_session)
        raise RefreshTokenReused()
    user = repository.get_user(auth_session.user_id)
    if token.expires_at <= now or user is None or not user.is_active:
        raise InvalidRefreshToken()
    token.used_at = now
    auth_session.last_used_at = now
    repository.add(token, auth_session)
    return _issue_tokens(repository, user, auth_session)


def log_out(session: Session, principal: Principal) -> None:
    repository = AccountsRepository(session)
    if principal.session_id is None:
        return
    auth_session = repository.get_auth_session(principal.session_id)
    if auth_session is not None and auth_session.revoked_at is None:
        auth_session.revoked_at = utcnow()
        auth_session.revoked_reason = "logout"
        repository.add(auth_session)
        unregister_session_devices(session, auth_session.id, reason="logout")


def issue_client_token(
    session: Session, throttle: LoginThrottle, client_id: str, client_secret: str, client_ip: str
) -> ClientToken:
    login = f"client:{client_id}"
    wait = throttle.retry_after(login, client_ip)
    if wait:
        raise TooManyLoginAttempts(headers={"Retry-After": str(wait)}, count=max(1, -(-wait // 60)))
    client = AccountsRepository(session).get_hospital_client_by_client_id(client_id)
    expected = client.secret_digest if client is not None else token_digest(secrets.token_hex(16))
    if (
        client is None
        or client.revoked_at is not None
        or not secrets.compare_digest(expected, token_digest(client_secret))
    ):
        throttle.record_failure(login, client_ip)
        raise InvalidClient(headers={"WWW-Authenticate": "Basic"}, extensions={"error": "invalid_client"})
    throttle.record_success(login)
    access_token, expires_in = create_access_token(client.id, Role.hospital_system, None)
    return ClientToken(access_token=access_token, expires_in=expires_in)


def update_profile(session: Session, user: User, changes: dict[str, Any]) -> User:
    for name, value in changes.items():
        setattr(user, name, value)
    user.updated_at = utcnow()
    AccountsRepository(session).add(user)
    return user


def change_password(
    session: Session, user: User, current_session_id: uuid.UUID | None, current: str, new: str
) -> None:
    if not verify_password(user.password_hash, current):
        raise WrongPassword()
    repository = AccountsRepository(session)
    user.password_hash = hash_password(new)
    user.updated_at = utcnow()
    repository.add(user)
    # Whoever else holds a session may be the reason for the change: sign them out.
    repository.revoke_sessions(user.id, at=utcnow(), reason="password_changed", keep=current_session_id)


@contextmanager
def password_recheck(throttle: LoginThrottle, user: User, client_ip: str) -> Iterator[None]:
    """A password asked again (to change it, to delete the account) counts as a sign-in
    attempt of the account: a stolen session guesses it no faster than the sign-in form."""
    login = user.email or user.phone or str(user.id)
    wait = throttle.retry_after(login, client_ip)
    if wait:
        raise TooManyLoginAttempts(headers={"Retry-After": str(wait)}, count=max(1, -(-wait // 60)))
    try:
        yield
    except WrongPassword:
        throttle.record_failure(login, client_ip)
        raise


def delete_account(session: Session, store: BlobStore, user: User, password: str) -> None:
    """Erase the person and everything stored about them, but the audit trail (App Store rule
    5.1.1(v) asks for this in-app; services/privacy/service.py says what goes and what stays)."""
    if not verify_password(user.password_hash, password):
        raise WrongPassword()
    erase_person(session, store, user)


def list_sessions(session: Session, principal: Principal) -> list[SessionPublic]:
    sessions = AccountsRepository(session).list_active_sessions(principal.id)
    return [
        SessionPublic(
            id=item.id,
            user_agent=item.user_agent,
            created_at=item.created_at,
            last_used_at=item.last_used_at,
            current=item.id == principal.session_id,
        )
        for item in sessions
    ]


def revoke_session(session: Session, principal: Principal, session_id: uuid.UUID) -> None:
    repository = AccountsRepository(session)
    auth_session = repository.get_auth_session_of_user(session_id, principal.id)
    if auth_session is None or auth_session.revoked_at is not None:
        raise SessionNotFound()
    auth_session.revoked_at = utcnow()
    auth_session.revoked_reason = "revoked_by_user"
    repository.add(auth_session)
    unregister_session_devices(session, auth_session.id, reason="signed_out")


def _require_clinics(session: Session, clinic_ids: Sequence[uuid.UUID]) -> None:
    clinics = ClinicsRepository(session)
    for clinic_id in clinic_ids:
        if clinics.get(clinic_id) is None:
            raise ClinicNotFound()


def create_staff_member(session: Session, data: StaffCreate) -> StaffPublic:
    _require_clinics(session, data.clinic_ids)
    repository = AccountsRepository(session)
    user = User(
        role=data.role,
        email=data.email,
        phone=data.phone,
        password_hash=hash_password(data.password),
        full_name=data.full_name,
        preferred_language=data.preferred_language,
        time_zone=data.time_zone,
    )
    _insert_user(repository, user)
    clinic_ids = list(dict.fromkeys(data.clinic_ids))
    repository.add(*(ClinicMembership(user_id=user.id, clinic_id=clinic_id) for clinic_id in clinic_ids))
    return StaffPublic(
        id=user.id, role=user.role, email=user.email, full_name=user.full_name, clinic_ids=clinic_ids
    )


def create_hospital_client(session: Session, data: HospitalClientCreate) -> HospitalClientCreated:
    _require_clinics(session, [data.clinic_id])
    secret = new_opaque_token()
    client = HospitalClient(
        client_id="his_" + secrets.token_urlsafe(12),
        secret_digest=token_digest(secret),
        clinic_id=data.clinic_id,
        name=data.name,
    )
    AccountsRepository(session).add(client)
    return HospitalClientCreated(
        id=client.id,
        client_id=client.client_id,
        client_secret=secret,
        clinic_id=client.clinic_id,
        name=client.name,
    )


def list_clinic_members(session: Session, principal: Principal, clinic_id: uuid.UUID) -> Sequence[User]:
    if not principal.can_access_clinic(clinic_id) or ClinicsRepository(session).get(clinic_id) is None:
        raise ClinicNotFound()
    return AccountsRepository(session).list_clinic_members(clinic_id)
