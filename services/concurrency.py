"""Small asyncio helpers shared by the long-running loops."""

import asyncio
import contextlib


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, waking early when `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
