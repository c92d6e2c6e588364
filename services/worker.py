"""The worker: the push and webhook dispatchers and periodic upkeep, in one asyncio loop.

Production runs it as its own process (`python -m services worker`, several replicas share
the work through SKIP LOCKED). The embedded default runs it in a thread of the API process.
It touches a heartbeat file after every round of periodic tasks (at least hourly, in practice
every 30 s), which the container health check reads."""

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from booking.service import extend_slot_horizon, release_expired_holds
from booking.webhooks import WebhookDispatcher
from notifications.dispatcher import Dispatcher, build_senders
from services.accounts.tasks import purge_stale_sign_ins
from services.concurrency import wait_or_stop
from services.db import get_engine, transaction, utcnow
from services.jobs import declare, start_job_worker
from services.logs import configure_logging
from services.settings import Settings, get_settings
from services.studies.tasks import ANALYZE_STUDY, analyze_study, load_models, resend_waiting_studies

logger = logging.getLogger("cardioalert.worker")
HEARTBEAT_FILE = Path("/tmp/cardioalert-worker-heartbeat")  # noqa: S108 - container-local, not shared


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every_seconds: float
    run: Callable[[Session, datetime], int]


PERIODIC_TASKS = (
    # Unconfirmed holds block their place until released; the booking path also frees them
    # when it meets them, this catches the rest quickly.
    PeriodicTask("release expired holds", 30, release_expired_holds),
    PeriodicTask("extend slot horizon", 3600, extend_slot_horizon),
    PeriodicTask("purge stale sign-ins", 3600, purge_stale_sign_ins),
    # The job queue may lose a message (Redis down at the commit); PostgreSQL knows what waits.
    PeriodicTask("resend waiting studies", 30, resend_waiting_studies),
)
JOBS = ((ANALYZE_STUDY, analyze_study),)


def run_task(task: PeriodicTask) -> None:
    try:
        with Session(get_engine()) as session, transaction(session):
            count = task.run(session, utcnow())
        logger.info("periodic task done: %s", task.name, extra={"count": count})
    except Exception:
        logger.exception("periodic task failed: %s", task.name)


async def _periodic_tasks_forever(stop: asyncio.Event) -> None:
    next_run = dict.fromkeys(PERIODIC_TASKS, 0.0)
    while not stop.is_set():
        for task in PERIODIC_TASKS:
            if time.monotonic() >= next_run[task]:
                await asyncio.to_thread(run_task, task)
                next_run[task] = time.monotonic() + task.every_seconds
        HEARTBEAT_FILE.touch()
        await wait_or_stop(stop, max(0.0, min(next_run.values()) - time.monotonic()))


async def run_worker(stop: asyncio.Event, settings: Settings) -> None:
    push = Dispatcher(get_engine(), build_senders(settings), settings)
    hooks = WebhookDispatcher(get_engine(), settings)
    await asyncio.to_thread(load_models)
    for kind, run in JOBS:
        declare(kind, run)
    # Dramatiq runs the jobs on its own threads; stopping waits for the running ones to end.
    jobs = start_job_worker(settings.job_worker_threads)
    try:
        await asyncio.gather(push.run_forever(stop), hooks.run_forever(stop), _periodic_tasks_forever(stop))
    finally:
        await asyncio.to_thread(jobs.stop)


def run_forever() -> None:
    """The worker process: until SIGTERM or SIGINT."""
    settings = get_settings()
    configure_logging(settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        logger.info("worker started")
        await run_worker(stop, settings)
        logger.info("worker stopped")

    asyncio.run(main())


class InProcessWorker:
    """The worker on a thread of the API process, for the embedded default."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="cardioalert-worker", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(run_worker(self._stop, self.settings))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
