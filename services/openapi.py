"""The OpenAPI document the iOS team generates its Swift client from.

FastAPI's document is adjusted so it tells the truth about this API: every error is
application/problem+json (validation errors included), each operation names its access
policy, and operation ids are stable camelCase names."""

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from services.auth import InvalidAccessToken, RoleNotAllowed, route_policies
from services.errors import (
    PROBLEM_CONTENT_TYPE,
    AppError,
    ContentTooLarge,
    MalformedJSON,
    Problem,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    problem_responses,
)
from services.routing import mounted_routes
from services.settings import PROJECT_ROOT

CONTRACT_PATH = PROJECT_ROOT / "ios_contract" / "openapi.json"
REGENERATE_COMMAND = "make openapi"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

DESCRIPTION = """\
Backend of the CardioAlert iOS app. All API routes live under `/v1`.

* **Auth**: `Authorization: Bearer <access token>`; access tokens live 15 minutes, refresh
  tokens rotate on every use (`refreshTokens`). Hospital systems use OAuth2 client credentials
  (`issueClientToken`).
* **Errors**: RFC 9457 `application/problem+json` with a stable `code`; `title` and `detail`
  are in the caller's language.
* **Languages**: `en`, `ru`, `uz` (Latin) and `uz-Cyrl`; the signed-in user's profile language,
  else `Accept-Language`, else English. Responses carry `Content-Language`.
* **Pagination**: lists answer `{items, next_cursor}`; pass `cursor=next_cursor` for more.
"""


def camel_case_operation_id(route: APIRoute) -> str:
    head, *rest = route.name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            if isinstance(operation, dict) and "operationId" in operation:
                found.append((f"{method.upper()} {path}", operation))
    return found


def _document_problem(responses: dict[str, Any], error: type[AppError]) -> None:
    """Add an error to an operation's responses, beside any the route listed for that status."""
    status = str(error.status)
    if status not in responses:
        responses[status] = problem_responses(error)[error.status]
    elif f"`{error.code}`" not in responses[status]["description"]:
        responses[status]["description"] = responses[status]["description"].replace(
            ")", f", `{error.code}`)", 1
        )


def _form_example(component: dict[str, Any]) -> dict[str, Any]:
    example: dict[str, Any] = {}
    for field, spec in component.get("properties", {}).items():
        options = spec.get("anyOf", [spec])
        kinds = {option.get("type") for option in options} | {option.get("format") for option in options}
        if "array" in kinds:
            example[field] = ["<file contents>"]
        elif "uuid" in kinds:
            example[field] = "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f"
        else:
            example[field] = f"<{field}>"
    return example


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=DESCRIPTION, routes=app.routes, servers=app.servers
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for name, component in components.items():
        if "enum" in component and "examples" not in component:
            component["examples"] = [component["enum"][0]]
        if name.startswith("Body_") and "examples" not in component:
            # FastAPI's own models of multipart forms: an example built from their fields.
            component["examples"] = [_form_example(component)]

    policies = {
        (method, mounted.path): route_policies(mounted.route)
        for mounted in mounted_routes(app)
        for method in mounted.methods
    }
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            responses = operation.setdefault("responses", {})
            has_input = bool(operation.get("parameters") or operation.get("requestBody"))
            if "422" in responses or has_input:
                responses["422"] = problem_responses(ValidationFailed)[422]
            if operation.get("requestBody"):
                extra = problem_responses(MalformedJSON, ContentTooLarge, UnsupportedMediaType)
                for status, entry in extra.items():
                    responses.setdefault(str(status), entry)
            route_policy = policies.get((method.upper(), path), [])
            operation["x-access-policy"] = route_policy
            if route_policy and route_policy != ["public"]:
                _document_problem(responses, Unauthorized)
                _document_problem(responses, InvalidAccessToken)
            if set(route_policy) - {"public", "authenticated"}:
                _document_problem(responses, RoleNotAllowed)
            for entry in responses.values():
                content = entry.get("content", {})
                if "application/json" in content and content["application/json"].get("schema") == {
                    "$ref": "#/components/schemas/HTTPValidationError"
                }:
                    entry["content"] = {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}}
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def render_contract(app: FastAPI) -> str:
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write_contract(app: FastAPI, path: Path = CONTRACT_PATH) -> Path:
    path.write_text(render_contract(app), encoding="utf-8")
    return path
