"""What the dispatcher asks of a push provider, and the fallback that only writes the log."""

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from notifications.models import Platform

logger = logging.getLogger("cardioalert.push")


@dataclass(frozen=True)
class PushMessage:
    delivery_id: str
    token: str
    title: str
    body: str
    collapse_id: str  # a re-send replaces the first copy on the phone instead of doubling it
    thread_id: str  # groups notifications of one booking or study
    data: dict[str, str] = field(default_factory=dict)  # the deep link, see ios_contract/README.md
    expires_at: int | None = None  # unix time after which the provider may drop it


class Outcome(StrEnum):
    delivered = "delivered"
    retry = "retry"  # provider busy or unreachable: try again later
    token_invalid = "token_invalid"  # noqa: S105 - the device is gone: disable it
    rejected = "rejected"  # the provider will never take this message as it is


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    reason: str | None = None
    provider_message_id: str | None = None


class Sender(Protocol):
    async def send_batch(self, messages: list[PushMessage]) -> list[SendResult]:
        """One result per message, in order. Never raises for a single message's failure."""
        ...

    async def aclose(self) -> None: ...


class LogSender:
    """Without provider credentials (the embedded default, CI) pushes are only logged; the
    inbox holds every notification anyway."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def send_batch(self, messages: list[PushMessage]) -> list[SendResult]:
        for message in messages:
            # Ids only: titles and bodies name clinics and appointment times.
            logger.info("push logged (no %s credentials): delivery %s", self.platform, message.delivery_id)
        return [SendResult(Outcome.delivered, reason="logged") for _ in messages]

    async def aclose(self) -> None:
        return None
