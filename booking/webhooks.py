"""Signed webhooks to hospital systems: their endpoints, the outbox of booking events, and the
dispatcher that delivers it.

`emit` writes one event per active endpoint of the clinic in the caller's transaction, so an
event leaves only if the booking change it describes commits. The dispatcher claims due events
(FOR UPDATE SKIP LOCKED), POSTs them while holding the lock and records each outcome, like the
push dispatcher: at least once, the event id being what receivers de-duplicate on.

Each delivery is signed with the endpoint's secret: HMAC-SHA256 over "<timestamp>." + body,
sent as `X-CardioAlert-Signature: sha256=<hex>` beside `X-CardioAlert-Timestamp`. Receivers
recompute it over the raw body, compare in constant time and refuse old timestamps (`verify`
is that check)."""

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic_core import to_jsonable_python
from sqlalchemy import Engine
from sqlmodel import Session

from booking.models import WebhookEndpoint, WebhookEvent, WebhookEventState
from booking.repository import WebhookRepository
from i18n import N_
from services.accounts.models import HospitalClient
from services.concurrency import wait_or_stop
from services.db import transaction, utcnow
from services.errors import Conflict, NotFound, UnprocessableRequest
from services.settings import Environment, Settings, get_settings

logger = logging.getLogger("cardioalert.webhooks")

MAX_ACTIVE_ENDPOINTS = 5
MAX_URL_LENGTH = 500
BATCH_SIZE = 100
DELIVERY_TIMEOUT_SECONDS = 10.0
SIGNATURE_TOLERANCE_SECONDS = 300
SIGNATURE_SCHEME = "sha256="
USER_AGENT = "CardioAlert-Webhooks/1"


class WebhookEventType(StrEnum):
    booking_created = "booking.created"
    booking_confirmed = "booking.confirmed"
    booking_rescheduled = "booking.rescheduled"
    booking_cancelled = "booking.cancelled"
    booking_status_changed = "booking.status_changed"


class InvalidWebhookUrl(UnprocessableRequest):
    code = "invalid_webhook_url"
    title = N_("Invalid webhook address")
    detail = N_("Give the full address of your webhook receiver, starting with https:// or http://.")


HTTPS_REQUIRED = N_("Webhook addresses must start with https://.")
LOCAL_ADDRESS = N_("Webhook addresses must point at your hospital system, not a local or reserved address.")


class TooManyWebhooks(Conflict):
    code = "too_many_webhooks"
    title = N_("Too many webhooks")
    detail = N_(
        "This hospital system already has the most webhooks allowed. Delete one before adding another."
    )


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    detail = N_("No such webhook.")


# Endpoints


def validate_url(url: str, environment: Environment) -> str:
    """The address, if a dispatcher can POST to it; raises InvalidWebhookUrl otherwise."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH or any(char.isspace() or ord(char) < 32 for char in url):
        raise InvalidWebhookUrl()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number in range
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as error:
        raise InvalidWebhookUrl() from error
    scheme = parts.scheme.lower()
    # Credentials in the address would be stored and sent in clear; the signature is the proof.
    if scheme not in {"http", "https"} or not parts.hostname or parts.username or parts.password:
        raise InvalidWebhookUrl()
    if environment is Environment.production:
        if scheme != "https":
            raise InvalidWebhookUrl(HTTPS_REQUIRED)
        if _is_local_host(parts.hostname):
            raise InvalidWebhookUrl(LOCAL_ADDRESS)
    return url


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, read as the system resolver reads it: besides
    dotted quads, inet_aton takes '127.1', '2130706433' and '0x7f.0.0.1' for 127.0.0.1."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_public_address(address: IPAddress) -> bool:
    """Routable on the internet: not this server, a private network (10/8, 172.16/12,
    192.168/16, fc00::/7, carrier NAT), link-local (cloud metadata), multicast or reserved."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _is_local_host(hostname: str) -> bool:
    """A name or literal address that is not on the internet, as far as the address shows; names
    are resolved only when an event is delivered (see WebhookDispatcher._refused_target)."""
    host = hostname.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = _literal_address(host)
    return address is not None and not is_public_address(address)


def register_endpoint(session: Session, client: HospitalClient, url: str) -> tuple[WebhookEndpoint, str]:
    """A new endpoint for the client's clinic, and its signing secret (shown this once)."""
    url = validate_url(url, get_settings().environment)
    WebhookRepository(session).lock_client(client.id)
    if WebhookRepository(session).count_active_endpoints(client.id) >= MAX_ACTIVE_ENDPOINTS:
        raise TooManyWebhooks(extensions={"limit": MAX_ACTIVE_ENDPOINTS})
    secret = secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        hospital_client_id=client.id, clinic_id=client.clinic_id, url=url, secret=secret
    )
    session.add(endpoint)
    session.flush()
    logger.info("webhook endpoint %s registered by client %s", endpoint.id, client.id)
    return endpoint, secret


def list_endpoints(session: Session, client: HospitalClient) -> list[WebhookEndpoint]:
    return list(WebhookRepository(session).active_endpoints_of_client(client.id))


def delete_endpoint(session: Session, client: HospitalClient, endpoint_id: uuid.UUID) -> None:
    """Deactivate one of the client's endpoints; its undelivered events are failed. The row
    stays, so the events already sent keep their endpoint."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.hospital_client_id != client.id or not endpoint.active:
        raise WebhookNotFound()
    endpoint.active = False
    session.add(endpoint)
    WebhookRepository(session).fail_pending_events(endpoint.id, "endpoint deleted")
    session.flush()
    logger.info("webhook endpoint %s deleted by client %s", endpoint.id, client.id)


# The outbox


def emit(
    session: Session, *, clinic_id: uuid.UUID, event_type: str, payload: dict[str, Any]
) -> list[WebhookEvent]:
    """Queue an event for every active endpoint of the clinic, in the caller's transaction: it
    is delivered only if that transaction commits. The payload may hold ids, times and enums;
    they are stored as JSON (ISO 8601 times)."""
    kind = WebhookEventType(event_type)
    data = to_jsonable_python(payload)
    events = [
        WebhookEvent(endpoint_id=endpoint.id, event_type=kind.value, payload=data)
        for endpoint in WebhookRepository(session).deliverable_endpoints_of_clinic(clinic_id)
    ]
    if events:
        session.add_all(events)
        session.flush()
    return events


# Signing


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>." followed by the body."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: int | str,
    body: bytes,
    signature_header: str,
    now: datetime,
    tolerance_seconds: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does with a delivery: the raw body, the X-CardioAlert-Timestamp and
    X-CardioAlert-Signature headers. False for a wrong signature or a timestamp further than
    the tolerance from `now` (a replayed old delivery)."""
    try:
        seconds = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - seconds) > tolerance_seconds:
        return False
    if not signature_header.startswith(SIGNATURE_SCHEME):
        return False
    expected = sign(secret, seconds, body)
    return hmac.compare_digest(expected, signature_header.removeprefix(SIGNATURE_SCHEME))


def delivery_body(event: WebhookEvent) -> bytes:
    document = {
        "id": str(event.id),
        "type": event.event_type,
        "created_at": event.created_at.isoformat(),
        "data": event.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def delivery_headers(event: WebhookEvent, secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-CardioAlert-Event-Id": str(event.id),
        "X-CardioAlert-Event-Type": event.event_type,
        "X-CardioAlert-Timestamp": str(timestamp),
        "X-CardioAlert-Signature": SIGNATURE_SCHEME + sign(secret, timestamp, body),
    }


# The dispatcher


class WebhookDispatcher:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.engine = engine
        self.batch_size = BATCH_SIZE
        self.max_attempts = settings.push_max_attempts
        self.retry_base = settings.push_retry_base_seconds
        self.retry_max = settings.push_retry_max_seconds
        self.idle_seconds = settings.dispatch_idle_seconds
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._client = client
        self._owns_client = client is None
        # In production a name must not resolve to an address that is not on the internet:
        # registration checks the address as written, delivery what the name resolves to now.
        self.public_targets_only = settings.environment is Environment.production

    def retry_delay(self, attempts: int) -> timedelta:
        """Exponential backoff with jitter, so a receiver coming back is not hit by everything at once."""
        ceiling = min(self.retry_max, self.retry_base * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=self.rng.uniform(ceiling / 2, ceiling))

    def _http(self) -> httpx.AsyncClient:
        # Made on first use, inside the loop that will use its connections.
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    async def _post(self, event: WebhookEvent, endpoint: WebhookEndpoint) -> str | None:
        """None when the receiver took the event (2xx), else why not: "HTTP 500" or the error's
        class. Response bodies are never read: they are the receiver's, not ours to keep."""
        body = delivery_body(event)
        headers = delivery_headers(event, endpoint.secret, int(self.clock().timestamp()), body)
        try:
            if self.public_targets_only and await self._refused_target(endpoint.url):
                return "LocalAddress"
            client = self._http()
            async with asyncio.timeout(DELIVERY_TIMEOUT_SECONDS):
                request = client.build_request("POST", endpoint.url, content=body, headers=headers)
                response = await client.send(request, stream=True)
                await response.aclose()
        except Exception as error:
            return type(error).__name__
        return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"

    @staticmethod
    async def _refused_target(url: str) -> bool:
        """Whether the endpoint's name resolves to any address not on the internet (a name
        registered as public may point inside later). The connection resolves again; the
        remaining rebinding window is a known risk (docs/security.md)."""
        parts = urlsplit(url)
        assert parts.hostname is not None  # validate_url made sure at registration
        if _is_local_host(parts.hostname):
            return True
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
        return any(not is_public_address(ipaddress.ip_address(info[4][0].split("%")[0])) for info in infos)

    def _record(self, event: WebhookEvent, error: str | None, now: datetime) -> None:
        event.attempts += 1
        event.last_error = error[:200] if error else None
        if error is None:
            event.state = WebhookEventState.delivered
            event.delivered_at = now
        elif event.attempts < self.max_attempts:
            event.next_attempt_at = now + self.retry_delay(event.attempts)
            logger.warning("webhook event %s not delivered (attempt %s): %s", event.id, event.attempts, error)
        else:
            event.state = WebhookEventState.failed
            logger.warning("webhook event %s failed after %s attempts: %s", event.id, event.attempts, error)

    async def run_once(self) -> int:
        """One round: claim due events, send them concurrently while holding their locks, record
        each outcome. Returns how many events it handled."""
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as session, transaction(session):
            claimed = WebhookRepository(session).claim_due_events(now, self.batch_size)
            if not claimed:
                return 0
            sendable: list[tuple[WebhookEvent, WebhookEndpoint]] = []
            for event, endpoint, client_revoked_at in claimed:
                if not endpoint.active or client_revoked_at is not None:
                    event.state = WebhookEventState.failed
                    event.last_error = "endpoint deleted" if not endpoint.active else "client revoked"
                else:
                    sendable.append((event, endpoint))
            errors = await asyncio.gather(*(self._post(event, endpoint) for event, endpoint in sendable))
            finished = self.clock()
            for (event, _), error in zip(sendable, errors, strict=True):
                self._record(event, error, finished)
            session.add_all([event for event, _, _ in claimed])
        return len(claimed)

    async def run_forever(self, stop: asyncio.Event) -> None:
        logger.info("webhook dispatcher started")
        while not stop.is_set():
            started = time.monotonic()
            try:
                handled = await self.run_once()
            except Exception:
                logger.exception("webhook round failed")
                handled = 0
            if handled:
                logger.info(
                    "webhook round",
                    extra={"count": handled, "duration_ms": round((time.monotonic() - started) * 1000, 1)},
                )
            if handled < self.batch_size:
                await wait_or_stop(stop, self.idle_seconds)
        await self.aclose()
        logger.info("webhook dispatcher stopped")
