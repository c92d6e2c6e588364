"""The dispatcher: turns due notifications into deliveries and sends them.

Each round, in two short transactions:
1. fan-out: lock due notifications (FOR UPDATE SKIP LOCKED, so several dispatchers share the
   work), insert one delivery per live device whose owner wants the category (unique per
   notification and device), mark them dispatched;
2. send: lock due deliveries the same way, send them while holding the lock, record each
   outcome, commit.
A dispatcher that dies mid-send holds no lock after its connection drops: its deliveries are
sent again by another one (at least once). The re-send carries the same collapse id, so the
phone replaces the first copy instead of showing two."""

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from notifications.apns import ApnsSender
from notifications.fcm import FcmSender
from notifications.models import (
    Delivery,
    DeliveryState,
    Device,
    Notification,
    NotificationKind,
    Platform,
)
from notifications.repository import NotificationsRepository
from notifications.senders import LogSender, Outcome, PushMessage, Sender, SendResult
from notifications.service import payload_data, wants_push
from notifications.texts import render
from services.concurrency import wait_or_stop
from services.db import transaction, utcnow
from services.settings import Settings

logger = logging.getLogger("cardioalert.dispatcher")


def build_senders(settings: Settings) -> dict[Platform, Sender]:
    """The real sender of each platform whose credentials are configured, else the log."""
    senders: dict[Platform, Sender] = {platform: LogSender(platform) for platform in Platform}
    if settings.apns_key_file and settings.apns_key_id and settings.apns_team_id:
        senders[Platform.ios] = ApnsSender.from_settings(settings)
    if settings.fcm_credentials_file:
        senders[Platform.android] = FcmSender.from_settings(settings)
    return senders


def collapse_id(notification: Notification) -> str:
    """Reminders of one booking replace each other; anything else collapses only with its own
    re-sends."""
    booking_id = notification.params.get("booking_id")
    if notification.kind is NotificationKind.booking_reminder and booking_id:
        return f"reminder-{booking_id}"
    return notification.id.hex


def thread_id(notification: Notification) -> str:
    for key, prefix in (("study_id", "study"), ("booking_id", "booking")):
        if notification.params.get(key):
            return f"{prefix}-{notification.params[key]}"
    return str(notification.category)


def push_message(delivery: Delivery, notification: Notification, device: Device) -> PushMessage:
    title, body = render(notification.kind, notification.params, device.language)
    return PushMessage(
        delivery_id=str(delivery.id),
        token=device.push_token,
        title=title,
        body=body,
        collapse_id=collapse_id(notification),
        thread_id=thread_id(notification),
        data=payload_data(notification),
        expires_at=int(notification.expires_at.timestamp()) if notification.expires_at else None,
    )


@dataclass
class RoundReport:
    fanned_out: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0

    @property
    def handled(self) -> int:
        return self.fanned_out + self.sent + self.retried + self.failed + self.expired


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        senders: dict[Platform, Sender],
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.senders = senders
        self.batch_size = settings.push_batch_size
        self.max_attempts = settings.push_max_attempts
        self.retry_base = settings.push_retry_base_seconds
        self.retry_max = settings.push_retry_max_seconds
        self.idle_seconds = settings.dispatch_idle_seconds
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def retry_delay(self, attempts: int) -> timedelta:
        """Exponential backoff with jitter, so a provider coming back is not hit by everyone at once."""
        ceiling = min(self.retry_max, self.retry_base * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=self.rng.uniform(ceiling / 2, ceiling))

    def fan_out(self) -> int:
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as session, transaction(session):
            repository = NotificationsRepository(session)
            due = repository.claim_due_notifications(now, self.batch_size)
            if not due:
                return 0
            devices_of: dict[uuid.UUID, list[Any]] = {}
            for target in repository.push_targets(sorted({row.user_id for row in due})):
                devices_of.setdefault(target.user_id, []).append(target)
            deliveries = [
                {
                    "id": uuid.uuid4(),
                    "notification_id": row.id,
                    "device_id": target.id,
                    "state": DeliveryState.pending,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for row in due
                # Too late to push: it stays in the inbox only.
                if row.expires_at is None or row.expires_at > now
                for target in devices_of.get(row.user_id, [])
                if wants_push(target, row.category)
            ]
            repository.insert_deliveries(deliveries)
            repository.mark_dispatched([row.id for row in due])
            return len(due)

    def _record(
        self,
        delivery: Delivery,
        device: Device,
        result: SendResult,
        now: datetime,
        dead_devices: set[uuid.UUID],
        report: RoundReport,
    ) -> None:
        delivery.attempts += 1
        delivery.last_error = (
            result.reason[:100] if result.reason and result.outcome is not Outcome.delivered else None
        )
        if result.outcome is Outcome.delivered:
            delivery.state = DeliveryState.sent
            delivery.sent_at = now
            delivery.provider_message_id = result.provider_message_id
            report.sent += 1
        elif result.outcome is Outcome.retry and delivery.attempts < self.max_attempts:
            delivery.next_attempt_at = now + self.retry_delay(delivery.attempts)
            report.retried += 1
        elif result.outcome is Outcome.retry:
            delivery.state = DeliveryState.expired
            report.expired += 1
        else:
            delivery.state = DeliveryState.failed
            if result.outcome is Outcome.token_invalid:
                dead_devices.add(device.id)
            report.failed += 1

    async def send_due(self) -> RoundReport:
        report = RoundReport()
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as session, transaction(session):
            repository = NotificationsRepository(session)
            claimed = repository.claim_due_deliveries(now, self.batch_size)
            if not claimed:
                return report
            by_platform: dict[Platform, list[tuple[Delivery, Device, PushMessage]]] = {}
            for delivery, notification, device in claimed:
                if notification.expires_at is not None and notification.expires_at <= now:
                    delivery.state = DeliveryState.expired
                    report.expired += 1
                    continue
                message = push_message(delivery, notification, device)
                by_platform.setdefault(device.platform, []).append((delivery, device, message))
            platforms = list(by_platform)
            batches = await asyncio.gather(
                *(
                    self.senders[platform].send_batch([item[2] for item in by_platform[platform]])
                    for platform in platforms
                )
            )
            finished = self.clock()
            dead_devices: set[uuid.UUID] = set()
            for platform, results in zip(platforms, batches, strict=True):
                for (delivery, device, _), result in zip(by_platform[platform], results, strict=True):
                    self._record(delivery, device, result, finished, dead_devices, report)
            repository.add(*(delivery for delivery, _, _ in claimed))
            if dead_devices:
                repository.disable_devices(at=finished, reason="token_invalid", ids=sorted(dead_devices))
        return report

    async def run_once(self) -> RoundReport:
        fanned_out = await asyncio.to_thread(self.fan_out)
        report = await self.send_due()
        report.fanned_out = fanned_out
        return report

    async def run_forever(self, stop: asyncio.Event) -> None:
        logger.info("dispatcher started")
        while not stop.is_set():
            started = time.monotonic()
            try:
                report = await self.run_once()
            except Exception:
                logger.exception("dispatch round failed")
                report = RoundReport()
            if report.sent + report.retried + report.failed or report.fanned_out:
                logger.info(
                    "dispatch round",
                    extra={
                        "count": report.sent,
                        "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    },
                )
            if report.handled < self.batch_size:
                await wait_or_stop(stop, self.idle_seconds)
        for sender in self.senders.values():
            await sender.aclose()
        logger.info("dispatcher stopped")
