"""The one job queue: Dramatiq. A Redis broker in production (and in tests); in the embedded
default, without Redis, a stub broker that the worker thread of the API process consumes.

Jobs carry ids only; PostgreSQL holds the truth about the work (a study's status), so a job
that runs twice, or a message that is lost, costs time but never a wrong or double result: the
periodic sweep re-enqueues what waits too long. A message whose worker dies is redelivered by
Redis to another worker once the dead one misses its heartbeats (`job_heartbeat_timeout_ms`).

Enqueue after the commit that made the work visible (`enqueue_after_commit`): a worker must
never look for a row that is not committed yet."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from redis.exceptions import RedisError
from sqlmodel import Session

from services.db import run_after_commit
from services.settings import get_settings

logger = logging.getLogger("cardioalert.jobs")

QUEUE = "cardioalert"


@dataclass(frozen=True)
class JobKind:
    """A job's name and its retry policy. Retries are for transient failures (storage or
    database unavailable); bad input fails the work for good inside the job, without raising."""

    name: str
    max_retries: int = 5
    min_backoff_ms: int = 2_000
    max_backoff_ms: int = 120_000
    time_limit_ms: int = 300_000


@lru_cache
def get_broker() -> dramatiq.Broker:
    settings = get_settings()
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = RedisBroker(
            url=settings.redis_url,
            namespace=f"{settings.redis_key_prefix}jobs",
            heartbeat_timeout=settings.job_heartbeat_timeout_ms,
            # How often (per million Redis commands) a worker looks for dead workers' messages to
            # requeue. Dramatiq's default (1,000) leaves a dead worker's job waiting for minutes
            # after its heartbeat timeout; this finds it within seconds, at the cost of one small
            # Lua script per twenty fetches.
            maintenance_chance=50_000,
            socket_connect_timeout=1.0,
            socket_timeout=5.0,
        )
    else:
        broker = StubBroker()
    broker.declare_queue(QUEUE)
    dramatiq.set_broker(broker)
    return broker


def declare(kind: JobKind, run: Callable[..., Any]) -> dramatiq.Actor:
    """Bind a job's function to the broker (the worker does this for every job it runs)."""
    broker = get_broker()
    if kind.name in broker.actors:
        return broker.get_actor(kind.name)
    return dramatiq.Actor(
        run,
        broker=broker,
        actor_name=kind.name,
        queue_name=QUEUE,
        priority=0,
        options={
            "max_retries": kind.max_retries,
            "min_backoff": kind.min_backoff_ms,
            "max_backoff": kind.max_backoff_ms,
            "time_limit": kind.time_limit_ms,
        },
    )


def enqueue(kind: JobKind, *args: str) -> bool:
    """Send a job now. False when the queue cannot be reached: the caller's sweep sends it later."""
    message = dramatiq.Message(
        queue_name=QUEUE,
        actor_name=kind.name,
        args=args,
        kwargs={},
        options={"max_retries": kind.max_retries},
    )
    try:
        get_broker().enqueue(message)
    except (RedisError, OSError):
        logger.warning("job queue unreachable; left to the sweep", extra={"job": kind.name})
        return False
    return True


def enqueue_after_commit(session: Session, kind: JobKind, *args: str) -> None:
    run_after_commit(session, lambda: enqueue(kind, *args))


def start_job_worker(threads: int) -> dramatiq.Worker:
    worker = dramatiq.Worker(get_broker(), queues={QUEUE}, worker_threads=threads, worker_timeout=500)
    worker.start()
    return worker
