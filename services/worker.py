"""The worker: the push dispatcher and periodic upkeep, in one asyncio loop.

Production runs it as its own process (`python -m services worker`, several replicas share
the work through SKIP LOCKED). The embedded default runs it in a thread of the API process.
It touches a heartbeat file after every upkeep round, which the container health check reads."""

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session

from notifications.dispatcher import Dispatcher, build_senders
from services.accounts.tasks import purge_stale_sign_ins
from services.concurrency import wait_or_stop
from services.db import get_engine, transaction, utcnow
from services.logs import configure_logging
from services.settings import Settings, get_settings

logger = logging.getLogger("cardioalert.worker")
HEARTBEAT_FILE = Path("/tmp/cardioalert-worker-heartbeat")  # noqa: S108 - container-local, not shared
UPKEEP_SECONDS = 300

PERIODIC_TASKS: list[Callable[[Session], int]] = [lambda session: purge_stale_sign_ins(session, utcnow())]


def run_upkeep_round() -> None:
    for task in PERIODIC_TASKS:
        try:
            with Session(get_engine()) as session, transaction(session):
                count = task(session)
            logger.info("periodic task done", extra={"count": count})
        except Exception:
            logger.exception("periodic task failed")
    HEARTBEAT_FILE.touch()


async def _upkeep_forever(stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.to_thread(run_upkeep_round)
        await wait_or_stop(stop, UPKEEP_SECONDS)


async def run_worker(stop: asyncio.Event, settings: Settings) -> None:
    dispatcher = Dispatcher(get_engine(), build_senders(settings), settings)
    await asyncio.gather(dispatcher.run_forever(stop), _upkeep_forever(stop))


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
