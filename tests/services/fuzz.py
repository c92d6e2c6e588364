"""Property-based fuzzing of the API against the committed contract (ios_contract/openapi.json),
shared by the bounded test (tests/services/test_api_fuzz.py) and the full run (bench/api_fuzz.py).

Schemathesis generates requests from the contract, valid and invalid (positive and negative
modes); each is sent as one role (anonymous, patient, clinic staff, clinician, hospital system,
admin) and its answer must be no 5xx and agree with the contract: a documented status code,
the documented content type and headers, a body valid against the response schema; a 2xx must
not come without the token (probed) and methods the contract does not list get 405. About half
the cases take the path ids of a small world of real rows (a clinic with slots, a booking, an
analysed study, a device, a notification, a webhook endpoint, a sign-in session), so the
generated requests reach the services behind the 404s."""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import hypothesis
import hypothesis.strategies as st
import schemathesis
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from sqlmodel import Session

from notifications.models import Device, NotificationKind, Platform
from notifications.service import enqueue
from services.accounts.models import AuthSession, Role, User
from services.db import utcnow
from services.openapi import CONTRACT_PATH
from services.security import decode_access_token
from tests.booking.support import booking_world
from tests.services.studies.support import make_analysed_study
from tests.support import make_user, sign_in

ANONYMOUS = "anonymous"
ROLES = (ANONYMOUS, *(role.value for role in Role))
# negative_data_rejection is left out: FastAPI ignores unknown query parameters and pydantic reads
# a number as a date (`start=0.0` is 1970-01-01); both are known and harmless (docs/security.md).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
    missing_required_header,
    unsupported_method,
]
# Which callers each access policy (x-access-policy in the contract) lets through.
POLICY_ROLES: dict[str, set[str]] = {
    "public": set(ROLES),
    "authenticated": set(ROLES) - {ANONYMOUS},
    "person": set(ROLES) - {ANONYMOUS, Role.hospital_system.value},
    "patient": {Role.patient.value},
    "clinic_staff": {Role.clinic_staff.value, Role.admin.value},
    "clinician": {Role.clinician.value, Role.admin.value},
    "clinic_team": {Role.clinic_staff.value, Role.clinician.value, Role.admin.value},
    "hospital_system": {Role.hospital_system.value},
    "admin": {Role.admin.value},
}
# Operations that end the caller's own sign-in or account: sent last for their role, so the
# other operations of a run keep a working token.
SELF_ENDING = {("POST", "/v1/auth/logout"), ("POST", "/v1/me/deletion"), ("POST", "/v1/me/password")}


def load_contract() -> Any:
    """The committed contract, as the iOS team and the hospital systems read it."""
    return schemathesis.openapi.from_path(CONTRACT_PATH)


@dataclass
class FuzzWorld:
    """Callers of every role and the ids of rows they may reach (clinic A's)."""

    headers: dict[str, dict[str, str]]
    ids: dict[str, dict[str, str]]  # role -> path parameter -> a real id that role may use


def make_fuzz_world(db: Session) -> FuzzWorld:
    world = booking_world(db)
    clinic = world.clinic
    patient = _user_of(db, world.patient)
    study = make_analysed_study(db, patient, clinic)
    clinician = make_user(db, Role.clinician, clinics=[clinic])
    admin = make_user(db, Role.admin)
    device = Device(
        user_id=patient.id,
        platform=Platform.ios,
        push_token=uuid.uuid4().hex * 2,
        app_version="1.0",
        language="en",
        time_zone="Asia/Tashkent",
    )
    db.add(device)
    notification = enqueue(
        db,
        user_id=patient.id,
        kind=NotificationKind.ecg_result_ready,
        dedup_key=f"study:{study.id}:result",
        params={"study_id": str(study.id)},
        send_at=utcnow() - timedelta(minutes=1),
    )
    db.commit()
    headers = {
        ANONYMOUS: {},
        Role.patient.value: world.patient,
        Role.clinic_staff.value: world.staff,
        Role.clinician.value: sign_in(db, clinician),
        Role.hospital_system.value: world.hospital,
        Role.admin.value: sign_in(db, admin),
    }
    shared = {
        "clinic_id": str(clinic.id),
        "booking_id": str(world.booking_id),
        "slot_id": str(world.slot_ids[1]),
        "schedule_id": str(world.schedule_id),
        "study_id": str(study.id),
    }
    ids = {role: dict(shared) for role in ROLES}
    ids[Role.patient.value] |= {"device_id": str(device.id), "notification_id": str(notification.id)}
    ids[Role.hospital_system.value]["webhook_id"] = str(world.webhook_id)
    for role in (Role.patient, Role.clinic_staff, Role.clinician, Role.admin):
        # Another sign-in session of the same person, for DELETE /v1/me/sessions/{session_id}.
        other = AuthSession(user_id=_user_of(db, headers[role.value]).id)
        db.add(other)
        db.commit()
        ids[role.value]["session_id"] = str(other.id)
    return FuzzWorld(headers=headers, ids=ids)


def _user_of(db: Session, headers: dict[str, str]) -> User:
    claims = decode_access_token(headers["Authorization"].removeprefix("Bearer "))
    user = db.get(User, claims.subject)
    assert user is not None
    return user


@dataclass
class Failure:
    role: str
    operation: str
    status: int
    message: str


@dataclass
class OperationRun:
    role: str
    operation: str
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)


def operations(schema: Any) -> list[Any]:
    """Every operation of the contract, the self-ending ones last."""
    found = [result.ok() for result in schema.get_all_operations()]
    return sorted(found, key=lambda operation: (operation.method.upper(), operation.path) in SELF_ENDING)


def policy_roles(operation: Any) -> set[str]:
    policies = operation.definition.raw.get("x-access-policy", [])
    return set.intersection(*(POLICY_ROLES[policy] for policy in policies)) if policies else set(ROLES)


def case_strategy(operation: Any, known_ids: dict[str, str]) -> st.SearchStrategy:
    """Valid and invalid requests; half of those with path ids take real ids of the world."""
    names = {parameter.name for parameter in operation.path_parameters}
    strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]
    if names and names <= known_ids.keys():
        fixed = {name: known_ids[name] for name in names}
        strategies += [
            operation.as_strategy(generation_mode=mode, path_parameters=fixed) for mode in GenerationMode
        ]
    return st.one_of(strategies)


def fuzz_operation(
    operation: Any,
    role: str,
    world: FuzzWorld,
    transport: dict[str, Any],
    *,
    max_examples: int,
    seed: int | None = None,
) -> OperationRun:
    """Send `max_examples` generated cases of one operation as `role` through `transport`
    (`{"app": app}` in process, `{"base_url": ..., "session": ...}` over HTTP); every failure is kept
    (no shrinking, no stop at the first), so one run reports all it found."""
    label = f"{operation.method.upper()} {operation.path}"
    run = OperationRun(role=role, operation=label)
    headers = world.headers[role]

    @hypothesis.settings(
        max_examples=max_examples,
        derandomize=seed is None,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.given(case=case_strategy(operation, world.ids[role]))
    def check(case: Any) -> None:
        response = case.call(headers=headers, **transport)
        run.cases += 1
        run.statuses[response.status_code] = run.statuses.get(response.status_code, 0) + 1
        try:
            # Checks that probe (ignored_auth, unsupported_method) send through the same transport.
            case.validate_response(
                response, checks=CHECKS, headers=headers, transport_kwargs={**transport, "headers": headers}
            )
        except FailureGroup as group:
            run.failures.append(Failure(role, label, response.status_code, _first_lines(str(group))))

    if seed is not None:
        check = hypothesis.seed(seed)(check)
    check()
    return run


def _first_lines(text: str, count: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[:count])
