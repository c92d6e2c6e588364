"""Who is using the portal, and the access policy of each portal route.

A signed-in person holds a cookie with an access token of an ordinary sign-in session (the
`auth_sessions` rows the API uses, made by services.accounts), so logout, revocation from the
app's session list and a password change end a portal session at once. The token lives
`portal_idle_minutes`; a request in the second half of its life gets a fresh one, so the session
ends after that long without a request, and at the latest `portal_session_hours` after sign-in.

Every state-changing form carries a CSRF token: an HMAC of the sign-in session id (of a random
nonce cookie on the login form), checked before the route runs."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from i18n import N_
from services.accounts import service as accounts
from services.accounts.models import Role, User
from services.auth import InvalidAccessToken, Principal, RoleNotAllowed, access_policy, principal_from_claims
from services.db import SessionDep, utcnow
from services.errors import Forbidden, Unauthorized
from services.security import InvalidTokenError, create_access_token, decode_access_token
from services.settings import Environment, get_settings

PORTAL_PREFIX = "/portal"
SESSION_COOKIE = "cardioalert_portal"
LOGIN_COOKIE = "cardioalert_portal_login"  # the nonce the login form's CSRF token is bound to
CSRF_FIELD = "csrf_token"
NEXT_FIELD = "next"
PORTAL_ROLES = (Role.clinic_staff, Role.clinician)


class SignInRequired(Unauthorized):
    code = "portal_sign_in_required"
    title = N_("Sign in")
    detail = N_("Sign in to continue.")


class PortalSessionExpired(Unauthorized):
    code = "portal_session_expired"
    title = N_("Session expired")
    detail = N_("Your session has expired. Sign in again.")


class CsrfRejected(Forbidden):
    code = "csrf_rejected"
    title = N_("Form expired")
    detail = N_("This form has expired or did not come from this portal. Reload the page and try again.")


@dataclass(frozen=True)
class PortalSession:
    principal: Principal
    csrf_token: str

    @property
    def user(self) -> User:
        assert self.principal.user is not None
        return self.principal.user

    @property
    def is_staff(self) -> bool:
        return self.principal.role is Role.clinic_staff


def csrf_token(binding: str) -> str:
    key = get_settings().signing_key().encode()
    return hmac.new(key, f"portal-csrf:{binding}".encode(), hashlib.sha256).hexdigest()


def _idle_lifetime() -> timedelta:
    return timedelta(minutes=get_settings().portal_idle_minutes)


def new_session_token(principal_id: object, role: Role, session_id: object) -> str:
    token, _ = create_access_token(principal_id, role, session_id, _idle_lifetime())  # type: ignore[arg-type]
    return token


def set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    """HttpOnly, SameSite=Strict, only under /portal; Secure wherever the portal is served over
    HTTPS (everywhere but development and test)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PORTAL_PREFIX,
        httponly=True,
        samesite="strict",
        secure=get_settings().environment is Environment.production,
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(
        name,
        path=PORTAL_PREFIX,
        httponly=True,
        samesite="strict",
        secure=get_settings().environment is Environment.production,
    )


def sign_in_cookie(response: Response, token: str) -> None:
    set_cookie(response, SESSION_COOKIE, token, int(_idle_lifetime().total_seconds()))


def portal_session(request: Request, session: SessionDep) -> PortalSession:
    """The signed-in portal user; renews the cookie's token once half its life has passed."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired()
    try:
        claims = decode_access_token(token)
        principal = principal_from_claims(session, claims)
    except (InvalidTokenError, InvalidAccessToken):
        raise PortalSessionExpired() from None
    if principal.role not in PORTAL_ROLES or principal.session_id is None:
        raise PortalSessionExpired()
    if claims.expires_at - utcnow() < _idle_lifetime() / 2:
        max_age = timedelta(hours=get_settings().portal_session_hours)
        if accounts.renew_browser_session(session, principal.session_id, max_age):
            request.state.portal_token = new_session_token(principal.id, principal.role, principal.session_id)
    signed_in = PortalSession(principal, csrf_token(f"session:{principal.session_id}"))
    request.state.portal = signed_in
    user = signed_in.user
    if not getattr(request.state, "language_chosen", False) and user.preferred_language is not None:
        request.state.language = user.preferred_language
    return signed_in


SignedIn = Annotated[PortalSession, Depends(portal_session)]


@access_policy("clinic_team")
def portal_team_member(portal: SignedIn) -> PortalSession:
    return portal


@access_policy("clinic_staff")
def portal_staff(portal: SignedIn) -> PortalSession:
    if portal.principal.role is not Role.clinic_staff:
        raise RoleNotAllowed()
    return portal


@access_policy("clinician")
def portal_clinician(portal: SignedIn) -> PortalSession:
    if portal.principal.role is not Role.clinician:
        raise RoleNotAllowed()
    return portal


PortalTeamMember = Annotated[PortalSession, Depends(portal_team_member)]
PortalStaff = Annotated[PortalSession, Depends(portal_staff)]
PortalClinician = Annotated[PortalSession, Depends(portal_clinician)]


def local_portal_path(value: str | None) -> str | None:
    """`value` when it is a path inside the portal (a safe place to send the browser back to)."""
    if not value or "\\" in value or not value.startswith(PORTAL_PREFIX + "/"):
        return None
    if value.startswith("//") or any(ord(char) < 32 for char in value):
        return None
    return value


def _check_csrf(request: Request, form: FormData, expected: str) -> None:
    offered = form.get(CSRF_FIELD)
    if not isinstance(offered, str) or not hmac.compare_digest(offered, expected):
        raise CsrfRejected()
    request.state.back = local_portal_path(str(form.get(NEXT_FIELD) or "")) or None


async def signed_in_form(request: Request, portal: SignedIn) -> FormData:
    """The posted form of a signed-in user, once its CSRF token proved it came from a portal page."""
    form = await request.form()
    _check_csrf(request, form, portal.csrf_token)
    return form


def login_csrf_token(request: Request) -> str:
    """The login form's CSRF token; a nonce cookie is set for it on the response when missing."""
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce:
        nonce = secrets.token_urlsafe(24)
        request.state.login_nonce = nonce
    return csrf_token(f"login:{nonce}")


async def login_form(request: Request) -> FormData:
    form = await request.form()
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce:
        raise CsrfRejected()
    _check_csrf(request, form, csrf_token(f"login:{nonce}"))
    return form


SignedInForm = Annotated[FormData, Depends(signed_in_form)]
LoginForm = Annotated[FormData, Depends(login_form)]
