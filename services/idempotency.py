"""Idempotency-Key for POSTs a mobile app may retry: the first request's answer is stored in the
same transaction as its effects, and a retry with the same key gets that answer again instead
of doing the work twice.

A retry that arrives while the first request is still running waits on the key's unique index
until the first commits (then replays) or rolls back (then runs itself)."""

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import JSON, Column, UniqueConstraint, update
from sqlmodel import Field, Session, SQLModel, col, select

from i18n import N_
from services.db import insert_ignoring_conflicts, utc_column, utcnow
from services.errors import BadRequest, UnprocessableRequest

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="A unique value per intended action (a UUID). Retrying with the same key "
        "returns the first answer and does nothing twice.",
    ),
]


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("principal_id", "key"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    principal_id: uuid.UUID
    key: str = Field(max_length=200)
    fingerprint: str = Field(max_length=64)
    status_code: int
    response: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class IdempotencyKeyRequired(BadRequest):
    code = "idempotency_key_required"
    title = N_("Idempotency-Key required")
    detail = N_("Send an Idempotency-Key header (a new UUID per action) so a retry cannot act twice.")


class IdempotencyKeyReused(UnprocessableRequest):
    code = "idempotency_key_reused"
    title = N_("Idempotency-Key reused")
    detail = N_("This Idempotency-Key was already used for a different request. Use a new key.")


def fingerprint(operation: str, body: Any) -> str:
    canonical = json.dumps({"operation": operation, "body": jsonable_encoder(body)}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_idempotent(
    session: Session,
    *,
    principal_id: uuid.UUID,
    key: str | None,
    operation: str,
    body: Any,
    action: Callable[[], BaseModel],
    status_code: int = 200,
) -> JSONResponse:
    """Do `action` once per (caller, key); replay the stored answer for a repeated key."""
    if not key:
        raise IdempotencyKeyRequired()
    request_fingerprint = fingerprint(operation, body)
    record_id = uuid.uuid4()
    claimed = session.execute(
        insert_ignoring_conflicts(session, IdempotencyRecord, ["principal_id", "key"])
        .values(
            id=record_id,
            principal_id=principal_id,
            key=key,
            fingerprint=request_fingerprint,
            status_code=status_code,
            created_at=utcnow(),
        )
        .returning(IdempotencyRecord.id)
    ).scalar_one_or_none()
    if claimed is None:
        stored = session.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal_id == principal_id, IdempotencyRecord.key == key
            )
        ).one()
        if stored.fingerprint != request_fingerprint:
            raise IdempotencyKeyReused() from None
        replayed = {"Idempotent-Replayed": "true"}
        return JSONResponse(stored.response, status_code=stored.status_code, headers=replayed)
    result = jsonable_encoder(action())
    session.execute(
        update(IdempotencyRecord).where(col(IdempotencyRecord.id) == record_id).values(response=result)
    )
    return JSONResponse(result, status_code=status_code)
