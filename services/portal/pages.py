"""Rendering portal pages: the Jinja2 environment, the page language, short messages carried
across a redirect, security headers, and how errors become pages.

Errors are the API's own (services.errors.AppError): a portal route lets them rise, its route
class turns them into PortalFailure, which passes the session dependency (so the transaction
rolls back: nothing is half saved) and is rendered here as a page in the reader's language."""

import base64
import hmac
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import get_day_names
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from i18n import CATALOG_LANGUAGES, Language, babel_locale, gettext, ngettext, pick_localized, translate
from i18n.formatting import DEFAULT_TIMEZONE, format_clock, format_date, format_number, format_percent
from i18n.negotiation import language_for_tag
from services.clinics.models import Clinic
from services.errors import AppError, BadRequest, NotFound
from services.portal.session import (
    LOGIN_COOKIE,
    PORTAL_PREFIX,
    SESSION_COOKIE,
    PortalSession,
    PortalSessionExpired,
    SignInRequired,
    clear_cookie,
    csrf_token,
    set_cookie,
    sign_in_cookie,
)

HERE = Path(__file__).resolve().parent
STATIC_PATH = PORTAL_PREFIX + "/static"
LANGUAGE_COOKIE = "cardioalert_portal_language"
FLASH_COOKIE = "cardioalert_portal_flash"
YEAR_SECONDS = 365 * 24 * 3600
# Each language named in itself, as language menus do: these are not translated.
LANGUAGE_NAMES = {Language.en: "English", Language.ru: "Русский", Language.uz: "Oʻzbekcha"}
# No inline scripts or styles anywhere: htmx is configured from a meta tag, the ECG is SVG.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages hold patients' data: never kept by the browser or a proxy
}

environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


# ------------------------------------------------------------------ language


def page_language(request: Request) -> Language:
    return Language(getattr(request.state, "language", Language.en))


def _choose_language(request: Request) -> None:
    """`?lang=` (remembered in a cookie) beats the cookie, which beats the profile's language
    (applied once the user is known), which beats Accept-Language (already in request.state)."""
    asked = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    language = language_for_tag(asked) if asked else None
    if language is None:
        return
    request.state.language = language
    request.state.language_chosen = True
    if request.query_params.get("lang"):
        request.state.remember_language = str(language)


@dataclass(frozen=True)
class Formats:
    """Dates, times and numbers for one page: the reader's language, the clinic's clock."""

    language: Language
    time_zone: str = DEFAULT_TIMEZONE

    def clock(self, value: datetime) -> str:
        return format_clock(value, self.language, self.time_zone)

    def day(self, value: date, style: str = "full") -> str:
        return format_date(value, self.language, style)

    def moment(self, value: datetime) -> str:
        local = value.astimezone(ZoneInfo(self.time_zone))
        return f"{format_date(local.date(), self.language, 'medium')} {self.clock(value)}"

    def number(self, value: float, decimals: int = 0) -> str:
        return format_number(value, self.language, decimals)

    def percent(self, share: float) -> str:
        return format_percent(share, self.language)

    def weekday(self, index: int, width: str = "wide") -> str:
        """Monday 0 … Sunday 6, in the reader's language."""
        return str(get_day_names(width, locale=babel_locale(self.language))[index])


# ------------------------------------------------------------------ rendering


@dataclass(frozen=True)
class LanguageLink:
    code: str
    name: str
    url: str  # this page in that language
    current: bool


def _language_links(request: Request) -> list[LanguageLink]:
    current = page_language(request)
    return [
        LanguageLink(
            str(language),
            LANGUAGE_NAMES[language],
            f"{request.url.path}?{urlencode({**request.query_params, 'lang': str(language)})}",
            language is current,
        )
        for language in CATALOG_LANGUAGES
    ]


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    *,
    time_zone: str = DEFAULT_TIMEZONE,
    **context: Any,
) -> HTMLResponse:
    language = page_language(request)
    portal: PortalSession | None = getattr(request.state, "portal", None)

    def translate_text(message: str, **params: object) -> str:
        return gettext(message, language, **params)

    def translate_plural(singular: str, plural: str, count: int, **params: object) -> str:
        return ngettext(singular, plural, count, language, **params)

    def clinic_name(clinic: Clinic) -> str:
        names = {Language.en: clinic.name_en, Language.ru: clinic.name_ru, Language.uz: clinic.name_uz}
        return pick_localized(names, language)

    values: dict[str, Any] = {
        "clinic_name": clinic_name,
        "_": translate_text,
        "gettext": translate_text,
        "ngettext": translate_plural,
        "lang": str(language),
        "fmt": Formats(language, time_zone),
        "portal": portal,
        "csrf": portal.csrf_token if portal is not None else None,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "prefix": PORTAL_PREFIX,
        "language_links": _language_links(request),
        "static": STATIC_PATH,
        "flash": _take_flash(request),
    }
    values.update(context)
    return HTMLResponse(environment.get_template(template).render(values), status_code=status_code)


def redirect(request: Request, to: str) -> RedirectResponse:
    """After a POST: see the result with a GET (303), so a reload never posts twice."""
    return RedirectResponse(getattr(request.state, "back", None) or to, status_code=303)


# ------------------------------------------------------------------ flash messages


@dataclass(frozen=True)
class Flash:
    kind: str  # "ok" or "error"
    text: str


def _flash_signature(payload: str) -> str:
    return csrf_token(f"flash:{payload}")[:32]


def flash(request: Request, kind: str, message: str | tuple[str, str], **params: object) -> None:
    """A message for the next page (after the redirect): a msgid, translated when shown there."""
    payload = base64.urlsafe_b64encode(
        json.dumps({"kind": kind, "message": message, "params": params}, default=str).encode()
    ).decode()
    request.state.flash = f"{payload}.{_flash_signature(payload)}"


def _take_flash(request: Request) -> Flash | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or getattr(request.state, "flash_taken", False):
        return None
    request.state.flash_taken = True
    payload, _, signature = raw.partition(".")
    if not hmac.compare_digest(signature, _flash_signature(payload)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload))
        message = data["message"]
        text = translate(
            tuple(message) if isinstance(message, list) else message, page_language(request), **data["params"]
        )
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return Flash("error" if data.get("kind") == "error" else "ok", text)


def error_text(error: AppError, language: Language) -> str:
    try:
        return translate(error.detail, language, **error.params)
    except (KeyError, TypeError, IndexError):
        return gettext(error.title, language)


# ------------------------------------------------------------------ responses and failures


def _finish(request: Request, response: Response) -> Response:
    """Security headers and the cookies the request asked for."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    state = request.state
    if getattr(state, "portal_token", None):
        sign_in_cookie(response, state.portal_token)
    if getattr(state, "signed_out", False):
        clear_cookie(response, SESSION_COOKIE)
    if getattr(state, "login_nonce", None):
        set_cookie(response, LOGIN_COOKIE, state.login_nonce, None)
    if getattr(state, "remember_language", None):
        set_cookie(response, LANGUAGE_COOKIE, state.remember_language, YEAR_SECONDS)
    if getattr(state, "flash", None):
        set_cookie(response, FLASH_COOKIE, state.flash, 120)
    elif getattr(state, "flash_taken", False):
        clear_cookie(response, FLASH_COOKIE)
    return response


class PortalFailure(Exception):
    """An error on a portal page, on its way out through the session dependency (which rolls the
    request's transaction back) to `render_failure`. `response` is a page the route rendered
    itself (a form shown again with its values and the message)."""

    def __init__(self, error: AppError, response: Response | None = None) -> None:
        super().__init__(error.code)
        self.error = error
        self.response = response


class PortalRoute(APIRoute):
    """Every portal route: the page language first, errors into PortalFailure, headers after."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def portal_handler(request: Request) -> Response:
            _choose_language(request)
            try:
                response = await handler(request)
            except PortalFailure:
                raise
            except AppError as error:
                raise PortalFailure(error) from error
            except RequestValidationError as error:
                # A malformed id in the address names nothing; anything else is a bad request.
                in_path = any(item.get("loc", ("",))[0] == "path" for item in error.errors())
                raise PortalFailure(NotFound() if in_path else BadRequest()) from error
            return _finish(request, response)

        return portal_handler


def _sign_in_again(request: Request, error: AppError) -> Response:
    query = {"next": request.url.path} if request.method == "GET" else {}
    if isinstance(error, PortalSessionExpired):
        query["expired"] = "1"
        request.state.signed_out = True
    target = f"{PORTAL_PREFIX}/login" + (f"?{urlencode(query)}" if query else "")
    if request.headers.get("hx-request"):
        response: Response = Response(status_code=204, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    return response


def render_failure(request: Request, failure: Exception) -> Response:
    assert isinstance(failure, PortalFailure)
    error = failure.error
    if failure.response is not None:
        return _finish(request, failure.response)
    if isinstance(error, SignInRequired | PortalSessionExpired):
        return _finish(request, _sign_in_again(request, error))
    back = getattr(request.state, "back", None)
    if request.method == "POST" and back:
        # An action on a page failed: back to that page, which says why.
        flash(request, "error", error.detail, **error.params)
        return _finish(request, RedirectResponse(back, status_code=303))
    language = page_language(request)
    page = render(
        request,
        "error.html",
        status_code=error.status,
        title=gettext(error.title, language),
        message=error_text(error, language),
    )
    return _finish(request, page)


def install_portal(app: FastAPI, router: Any) -> None:
    # The static files first: the portal's catch-all page route must not shadow them.
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="portal-static")
    app.include_router(router)
    app.add_exception_handler(PortalFailure, render_failure)
