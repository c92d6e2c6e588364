"""The worker process: runs periodic upkeep now; the job queue joins it with ECG analysis.

It touches a heartbeat file after every round, which the container health check reads."""

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session

from services.accounts.tasks import purge_stale_sign_ins
from services.db import get_engine, transaction, utcnow
from services.logs import configure_logging
from services.settings import get_settings

logger = logging.getLogger("cardioalert.worker")
HEARTBEAT_FILE = Path("/tmp/cardioalert-worker-heartbeat")  # noqa: S108 - container-local, not shared
ROUND_SECONDS = 300

PERIODIC_TASKS: list[Callable[[Session], int]] = [lambda session: purge_stale_sign_ins(session, utcnow())]


def run_round() -> None:
    for task in PERIODIC_TASKS:
        try:
            with Session(get_engine()) as session, transaction(session):
                count = task(session)
            logger.info("periodic task done", extra={"count": count})
        except Exception:
            logger.exception("periodic task failed")
    HEARTBEAT_FILE.touch()


def run_forever() -> None:
    configure_logging(get_settings().log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logger.info("worker started")
    while not stop.is_set():
        run_round()
        stop.wait(ROUND_SECONDS)
    logger.info("worker stopped")
