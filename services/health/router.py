"""Liveness and readiness for orchestrators and load balancers (not versioned)."""

import logging
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from i18n import N_
from services.auth import PUBLIC
from services.db import SessionDep
from services.errors import ServiceUnavailable, problem_responses
from services.redis_client import get_redis
from services.routing import ApiRoute

logger = logging.getLogger("cardioalert.health")
router = APIRouter(tags=["health"], route_class=ApiRoute, dependencies=[PUBLIC])


class NotReady(ServiceUnavailable):
    code = "not_ready"
    title = N_("Not ready")
    detail = N_("A service this API depends on does not answer.")


class Liveness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ready", "checks": {"database": "ok", "redis": "ok"}}]}
    )
    status: Literal["ready"] = "ready"
    checks: dict[str, Literal["ok", "not_configured"]]


@router.get("/healthz", response_model=Liveness)
def check_liveness() -> Liveness:
    """The process is up and serving requests."""
    return Liveness()


@router.get("/readyz", response_model=Readiness, responses=problem_responses(NotReady))
def check_readiness(session: SessionDep) -> Readiness:
    """The database (and Redis, when configured) answer: safe to send traffic here."""
    checks: dict[str, str] = {}
    try:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        checks["database"] = "ok"
    except SQLAlchemyError:
        logger.warning("readiness: database unreachable")
        raise NotReady(extensions={"checks": {"database": "unreachable"}}) from None
    client = get_redis()
    if client is None:
        checks["redis"] = "not_configured"
    else:
        try:
            client.ping()
            checks["redis"] = "ok"
        except RedisError:
            logger.warning("readiness: redis unreachable")
            raise NotReady(extensions={"checks": {**checks, "redis": "unreachable"}}) from None
    return Readiness(checks=checks)  # type: ignore[arg-type]
