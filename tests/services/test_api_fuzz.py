"""The API against its committed contract, fuzzed with schemathesis: every operation, as every
caller its policy lets in (and as one it keeps out), a few derandomized cases each: no 5xx, and
every answer as the contract documents it. The full run (thousands of cases) is bench/api_fuzz.py."""

import os
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.services.fuzz import (
    ANONYMOUS,
    ROLES,
    fuzz_operation,
    load_contract,
    make_fuzz_world,
    operations,
    policy_roles,
)
from tests.services.studies.support import RECORD
from tests.support import make_user, sign_in

CONTRACT = load_contract()
OPERATIONS = operations(CONTRACT)
# Cases per operation and allowed role (CARDIOALERT_FUZZ_EXAMPLES raises it locally).
EXAMPLES = int(os.environ.get("CARDIOALERT_FUZZ_EXAMPLES", "4"))
# A caller the policy keeps out gets fewer: the answer is the same 401/403 whatever is sent.
EXAMPLES_REFUSED = 1


def _callers(operation: Any) -> list[tuple[str, int]]:
    allowed = policy_roles(operation)
    callers = [(role, EXAMPLES) for role in ROLES if role in allowed]
    refused = [role for role in ROLES if role not in allowed]
    if refused:
        # One refused caller per operation, turn by turn over the roles, and anonymous always.
        turn = refused[OPERATIONS.index(operation) % len(refused)]
        callers += [(role, EXAMPLES_REFUSED) for role in {turn, ANONYMOUS} & set(refused)]
    return callers


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{op.method.upper()} {op.path}" for op in OPERATIONS])
def test_every_answer_is_documented_and_none_is_a_server_error(
    app: FastAPI, db: Session, operation: Any
) -> None:
    world = make_fuzz_world(db)
    # In process: requests and the checks' probes go to this test's app (and its transaction).
    CONTRACT.app = operation.app = app
    failures = []
    for role, examples in _callers(operation):
        run = fuzz_operation(operation, role, world, {}, max_examples=examples)
        assert run.cases > 0, (role, run.operation)
        failures += run.failures
    assert not failures, "\n\n".join(f"[{f.role}] {f.operation} → {f.status}\n{f.message}" for f in failures)


# What the fuzzer found, each pinned by a plain example.


def _documented(method: str, path: str, status: int) -> dict[str, Any]:
    operation = CONTRACT.raw_schema["paths"][path][method]
    return operation["responses"][str(status)]


def test_an_upload_shared_with_someone_elses_booking_is_a_documented_404(
    client: TestClient, db: Session
) -> None:
    world = make_fuzz_world(db)
    stranger = sign_in(db, make_user(db))
    answer = client.post(
        "/v1/studies",
        headers={**stranger, "Idempotency-Key": "fuzz-regression-1"},
        files={"file": ("00001_hr.hea", RECORD.read_bytes())},
        data={"booking_id": world.ids["patient"]["booking_id"]},
    )
    assert (answer.status_code, answer.json()["code"]) == (404, "booking_not_found")
    assert "`booking_not_found`" in _documented("post", "/v1/studies", 404)["description"]


def test_fhir_and_original_files_are_served_as_documented(client: TestClient, db: Session) -> None:
    world = make_fuzz_world(db)
    study_id = world.ids["patient"]["study_id"]
    for path, headers in (
        (f"/v1/studies/{study_id}/fhir", world.headers["patient"]),
        (f"/v1/hospital/studies/{study_id}/fhir", world.headers["hospital_system"]),
    ):
        answer = client.get(path, headers=headers)
        assert answer.headers["content-type"] == "application/fhir+json"
        template = path.replace(study_id, "{study_id}")
        assert list(_documented("get", template, 200)["content"]) == ["application/fhir+json"]
    original = client.get(f"/v1/studies/{study_id}/original", headers=world.headers["patient"])
    documented = _documented("get", "/v1/studies/{study_id}/original", 200)["content"]
    assert original.headers["content-type"] in documented
    assert {"image/jpeg", "image/png", "image/heic"} <= documented.keys()  # photos keep their type
