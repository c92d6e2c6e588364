"""The committed iOS contract is the live schema, and it is good to generate Swift from."""

import json
import re

from fastapi import FastAPI

from services.openapi import CONTRACT_PATH, REGENERATE_COMMAND, render_contract

CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]+$")


def test_committed_contract_matches_the_live_schema(app: FastAPI) -> None:
    live = render_contract(app)
    committed = CONTRACT_PATH.read_text(encoding="utf-8") if CONTRACT_PATH.exists() else ""
    assert committed == live, (
        f"{CONTRACT_PATH.relative_to(CONTRACT_PATH.parent.parent)} is out of date with the API; "
        f"regenerate it with `{REGENERATE_COMMAND}` and commit it"
    )


def test_every_schema_has_an_example(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    missing = [
        name for name, schema in schemas.items() if not (schema.get("examples") or schema.get("example"))
    ]
    assert missing == []


def test_operation_ids_are_unique_camel_case(app: FastAPI) -> None:
    ids = [op["operationId"] for methods in app.openapi()["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))
    assert [operation_id for operation_id in ids if not CAMEL_CASE.match(operation_id)] == []


def test_every_error_response_is_problem_json(app: FastAPI) -> None:
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            assert operation["x-access-policy"], (method, path)
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)
                    assert response["content"]["application/problem+json"]["schema"] == {
                        "$ref": "#/components/schemas/Problem"
                    }


def test_the_document_has_no_framework_validation_schemas(app: FastAPI) -> None:
    text = json.dumps(app.openapi())
    assert "HTTPValidationError" not in text
