"""The one error family. Every error leaves the API as RFC 9457 problem+json with a stable
machine `code` and `title`/`detail` in the caller's language.

Services raise subclasses of AppError (they know nothing of HTTP beyond the status the class
carries); the handlers below render them. Texts are msgids translated at render time."""

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from i18n import N_, NP_, Language, gettext, translate
from i18n.negotiation import negotiate_language

logger = logging.getLogger("cardioalert.errors")

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://cardioalert.app/problems/"


class AppError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = N_("Internal error")
    detail: str | tuple[str, str] = N_("Something went wrong on our side. Please try again later.")
    # An error whose side effects must survive the failed request (e.g. revoking a token
    # family on reuse) sets this; the session dependency then commits instead of rolling back.
    keeps_changes: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | tuple[str, str] | None = None,
        *,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
        **params: object,
    ) -> None:
        if detail is not None:
            self.detail = detail
        self.params = params
        self.headers = headers or {}
        self.extensions = extensions or {}
        super().__init__(self.code)


class BadRequest(AppError):
    status = 400
    code = "bad_request"
    title = N_("Bad request")
    detail = N_("The request could not be understood.")


class Unauthorized(AppError):
    status = 401
    code = "not_authenticated"
    title = N_("Not signed in")
    detail = N_("Sign in to continue.")

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = N_("Not allowed")
    detail = N_("Your account is not allowed to do this.")


class NotFound(AppError):
    status = 404
    code = "not_found"
    title = N_("Not found")
    detail = N_("Nothing was found at this address.")


class MethodNotAllowed(AppError):
    status = 405
    code = "method_not_allowed"
    title = N_("Method not allowed")
    detail = N_("This address does not accept this kind of request.")


class Conflict(AppError):
    status = 409
    code = "conflict"
    title = N_("Conflict")
    detail = N_("The request conflicts with the current state.")


class ContentTooLarge(AppError):
    status = 413
    code = "content_too_large"
    title = N_("Request too large")
    detail = N_("The request body is larger than this address accepts.")


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"
    title = N_("Unsupported content type")
    detail = N_("Send the request body as {expected}.")


class ValidationFailed(AppError):
    status = 422
    code = "validation_failed"
    title = N_("Invalid input")
    detail = N_("Some fields are missing or invalid.")


class UnprocessableRequest(AppError):
    status = 422
    code = "unprocessable"
    title = N_("Request cannot be processed")
    detail = N_("The request is well formed but cannot be processed.")


class MalformedJSON(AppError):
    status = 400
    code = "malformed_json"
    title = N_("Malformed JSON")
    detail = N_("The request body is not valid JSON.")


class TooManyRequests(AppError):
    status = 429
    code = "too_many_requests"
    title = N_("Too many requests")
    detail = NP_(
        "Too many attempts. Try again in {count} minute.", "Too many attempts. Try again in {count} minutes."
    )


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    title = N_("Service temporarily unavailable")
    detail = N_("The service is temporarily unavailable. Please try again in a minute.")


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    title = N_("Invalid page cursor")
    detail = N_("The page cursor is invalid or expired. Start again from the first page.")


class Problem(BaseModel):
    """An RFC 9457 problem detail, as every error response of this API carries it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://cardioalert.app/problems/validation_failed",
                    "title": "Invalid input",
                    "status": 422,
                    "detail": "Some fields are missing or invalid.",
                    "instance": "/v1/auth/register",
                    "code": "validation_failed",
                    "request_id": "0f9c2b1e6a4d4f7e9a3b5c7d9e1f2a3b",
                    "errors": [
                        {
                            "pointer": "#/password",
                            "code": "string_too_short",
                            "detail": "Must be at least 8 characters.",
                        }
                    ],
                }
            ]
        }
    )

    type: str = Field(description="A URI naming the problem type; stable, one per code.")
    title: str = Field(description="Short summary in the caller's language.")
    status: int
    detail: str = Field(description="What happened and what to do, in the caller's language.")
    instance: str = Field(description="The request path.")
    code: str = Field(description="Stable machine-readable code; clients branch on this.")
    request_id: str | None = Field(default=None, description="Quote this to support.")
    errors: list[dict[str, Any]] | None = Field(
        default=None,
        description="For validation problems: one entry per invalid field, with `pointer` (JSON pointer "
        "into the body) or `parameter`/`header`, a `code` and a translated `detail`.",
    )


# Pydantic error types → a translated explanation (ctx values fill the placeholders).
VALIDATION_MESSAGES: dict[str, str] = {
    "missing": N_("This field is required."),
    "extra_forbidden": N_("This field is not allowed here."),
    "string_type": N_("Must be text."),
    "string_too_short": N_("Must be at least {min_length} characters."),
    "string_too_long": N_("Must be at most {max_length} characters."),
    "string_pattern_mismatch": N_("Has an invalid format."),
    "too_short": N_("Must have at least {min_length} items."),
    "too_long": N_("Must have at most {max_length} items."),
    "int_type": N_("Must be a whole number."),
    "int_parsing": N_("Must be a whole number."),
    "int_from_float": N_("Must be a whole number."),
    "float_type": N_("Must be a number."),
    "float_parsing": N_("Must be a number."),
    "finite_number": N_("Must be a finite number."),
    "bool_type": N_("Must be true or false."),
    "bool_parsing": N_("Must be true or false."),
    "greater_than": N_("Must be greater than {gt}."),
    "greater_than_equal": N_("Must be at least {ge}."),
    "less_than": N_("Must be less than {lt}."),
    "less_than_equal": N_("Must be at most {le}."),
    "enum": N_("Must be one of: {expected}."),
    "literal_error": N_("Must be one of: {expected}."),
    "date_type": N_("Must be a date (YYYY-MM-DD)."),
    "date_parsing": N_("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": N_("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_inexact": N_("Must be a date (YYYY-MM-DD)."),
    "date_past": N_("Must be a date in the past."),
    "datetime_type": N_("Must be a date and time (ISO 8601)."),
    "datetime_parsing": N_("Must be a date and time (ISO 8601)."),
    "datetime_from_date_parsing": N_("Must be a date and time (ISO 8601)."),
    "timezone_aware": N_("Must include a time zone offset."),
    "uuid_type": N_("Must be an identifier (UUID)."),
    "uuid_parsing": N_("Must be an identifier (UUID)."),
    "list_type": N_("Must be a list."),
    "dict_type": N_("Must be an object."),
    "model_type": N_("Must be an object."),
    "model_attributes_type": N_("Must be an object."),
    "url_parsing": N_("Must be a web address."),
    "url_scheme": N_("Must be a web address."),
    "value_error": N_("Has an invalid value."),
    "invalid_email": N_("Must be a valid e-mail address."),
    "invalid_phone": N_("Must be a phone number in international format, e.g. +998901234567."),
    "invalid_time_zone": N_("Must be a time zone name, e.g. Asia/Tashkent."),
    "email_or_phone_required": N_("Give an e-mail address or a phone number."),
    "birth_date_out_of_range": N_("Must be a real birth date in the past."),
    "password_too_weak": N_("Choose a password of at least 8 characters that is not your e-mail or phone."),
    "blank_text": N_("Must not be empty."),
}
FALLBACK_VALIDATION_MESSAGE = N_("Has an invalid value.")


def request_language(request: Request) -> Language:
    language = getattr(request.state, "language", None)
    if language is None:
        language = negotiate_language(request.headers.get("accept-language"))
    return Language(language)


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | tuple[str, str],
    params: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    language = request_language(request)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": gettext(title, language),
        "status": status,
        "detail": translate(detail, language, **(params or {})),
        "instance": request.url.path,
        "code": code,
        "request_id": getattr(request.state, "request_id", None),
    }
    body.update(extensions or {})
    response = JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)
    response.headers["Content-Language"] = str(language)
    return response


def render_app_error(request: Request, error: AppError) -> JSONResponse:
    return problem_response(
        request,
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        params=error.params,
        headers=error.headers,
        extensions=error.extensions,
    )


def _validation_entry(error: dict[str, Any], language: Language) -> dict[str, Any]:
    location, *path = error.get("loc", ()) or ("body",)
    error_type = error.get("type", "value_error")
    message = VALIDATION_MESSAGES.get(error_type, FALLBACK_VALIDATION_MESSAGE)
    context = {key: _context_text(value) for key, value in (error.get("ctx") or {}).items()}
    try:
        detail = gettext(message, language, **context)
    except (KeyError, IndexError):
        detail = gettext(FALLBACK_VALIDATION_MESSAGE, language)
    entry: dict[str, Any] = {"code": error_type, "detail": detail}
    if location == "body":
        entry["pointer"] = "#/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in path)
    elif location == "query":
        entry["parameter"] = ".".join(str(part) for part in path)
    elif location == "path":
        entry["path_parameter"] = ".".join(str(part) for part in path)
    else:
        entry[str(location)] = ".".join(str(part) for part in path)
    return entry


def _context_text(value: object) -> str:
    # Pydantic lists choices in English ("'a', 'b' or 'c'"); keep only the values.
    return str(value).replace("'", "").replace(" or ", ", ")


def render_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return render_app_error(request, MalformedJSON())
    language = request_language(request)
    failed = ValidationFailed()
    return problem_response(
        request,
        status=failed.status,
        code=failed.code,
        title=failed.title,
        detail=failed.detail,
        extensions={"errors": [_validation_entry(error, language) for error in errors]},
    )


_HTTP_STATUS_ERRORS: dict[int, type[AppError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: ContentTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: TooManyRequests,
    503: ServiceUnavailable,
}


def render_http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Framework-raised HTTP errors (unknown route, wrong method, body over the limit)."""
    error_class = _HTTP_STATUS_ERRORS.get(exc.status_code)
    if error_class is None:
        error_class = BadRequest if exc.status_code < 500 else AppError
    error = error_class()
    response = render_app_error(request, error)
    response.status_code = exc.status_code if error_class is not AppError else 500
    for name, value in (exc.headers or {}).items():
        response.headers.setdefault(name, value)
    return response


def render_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable", extra={"error_type": type(exc).__name__})
    return render_app_error(request, ServiceUnavailable(headers={"Retry-After": "5"}))


def render_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error", exc_info=exc)
    return render_app_error(request, AppError())


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, render_app_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, render_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, render_http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, render_database_unavailable)
    app.add_exception_handler(PoolTimeoutError, render_database_unavailable)
    app.add_exception_handler(DBAPIError, _render_dbapi_error)
    app.add_exception_handler(Exception, render_unexpected)


def _render_dbapi_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return render_database_unavailable(request, exc)
    return render_unexpected(request, exc)


def problem_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route: one entry per status, listing the codes it can carry."""
    by_status: dict[int, list[type[AppError]]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, classes in sorted(by_status.items()):
        codes = ", ".join(f"`{cls.code}`" for cls in classes)
        responses[status] = {
            "description": f"Problem ({codes})",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return responses
