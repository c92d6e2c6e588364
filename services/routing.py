"""The route class every API router uses: it refuses a body sent with the wrong content type
(415 instead of a confusing validation error) before FastAPI reads it."""

import email.message
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, params
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from services.errors import UnsupportedMediaType

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def _media_type(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    message = email.message.Message()
    message["content-type"] = header
    return message.get_content_maintype(), message.get_content_subtype()


def _accepts(expected: tuple[str, ...], header: str | None) -> bool:
    media_type = _media_type(header)
    if media_type is None:
        return False
    main, sub = media_type
    full = f"{main}/{sub}"
    if JSON in expected and main == "application" and (sub == "json" or sub.endswith("+json")):
        return True
    return full in expected


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


class ApiRoute(APIRoute):
    def expected_media_types(self) -> tuple[str, ...]:
        if self.body_field is None:
            return ()
        if isinstance(self.body_field.field_info, params.File):
            return (MULTIPART,)
        if isinstance(self.body_field.field_info, params.Form):
            return (FORM, MULTIPART)
        return (JSON,)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        expected = self.expected_media_types()
        if not expected:
            return handler

        async def checked_handler(request: Request) -> Response:
            if _has_body(request) and not _accepts(expected, request.headers.get("content-type")):
                raise UnsupportedMediaType(expected=" or ".join(expected))
            return await handler(request)

        return checked_handler


@dataclass(frozen=True)
class MountedRoute:
    """An API route as the app serves it: its full path (prefixes included) and methods."""

    path: str
    methods: frozenset[str]
    route: APIRoute


def mounted_routes(app: FastAPI) -> list[MountedRoute]:
    return [
        MountedRoute(
            path=context.path_format, methods=frozenset(context.methods or ()), route=context.original_route
        )
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]


def route_template(scope: Scope) -> str:
    """The matched route's full path template (/v1/clinics/{clinic_id}), never the raw path,
    which may hold personal data."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    app = scope.get("app")
    templates: dict[int, str] | None = getattr(getattr(app, "state", None), "route_templates", None)
    if templates is None and isinstance(app, FastAPI):
        templates = {id(mounted.route): mounted.path for mounted in mounted_routes(app)}
        app.state.route_templates = templates
    return (templates or {}).get(id(route), getattr(route, "path", "unmatched"))
