"""Apple Push Notification service over HTTP/2 with token (.p8, ES256) authentication.

A thin sender on the httpx stack: apns2 cannot be imported on Python 3.10+ (its dependency
hyper is dead) and aioapns hard-codes Apple's host, which would leave nothing to test against.
The base URL is a setting (production, sandbox, or a local test server). It talks to httpcore,
httpx's transport, directly: the client layer above it cost more CPU than the HTTP/2 work, and
one dispatcher process must push 1,000 notifications a second (docs/benchmarks.md)."""

import asyncio
import json
import ssl
import time
from pathlib import Path
from typing import Any

import httpcore
import jwt

from notifications.senders import Outcome, PushMessage, SendResult
from services.settings import Settings

APNS_PAYLOAD_LIMIT = 4096
# Apple refuses tokens older than an hour and throttles refreshes more often than every 20
# minutes; one token is reused for 40 minutes.
PROVIDER_TOKEN_LIFETIME_SECONDS = 40 * 60
TOKEN_INVALID_REASONS = {"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered"}
RETRY_STATUSES = {429, 500, 503}
STALE_PROVIDER_TOKEN_REASONS = {"ExpiredProviderToken", "InvalidProviderToken"}


class ProviderToken:
    """The ES256 JWT that authenticates us to APNs, made once and reused until it ages."""

    def __init__(self, key_pem: str, key_id: str, team_id: str, clock: Any = time.time) -> None:
        self.key_pem = key_pem
        self.key_id = key_id
        self.team_id = team_id
        self.clock = clock
        self._token: str | None = None
        self._issued_at = 0.0

    def current(self) -> str:
        now = self.clock()
        if self._token is None or now - self._issued_at >= PROVIDER_TOKEN_LIFETIME_SECONDS:
            self._issued_at = now
            self._token = jwt.encode(
                {"iss": self.team_id, "iat": int(now)},
                self.key_pem,
                algorithm="ES256",
                headers={"kid": self.key_id},
            )
        return self._token

    def renew(self) -> None:
        self._token = None


def apns_payload(message: PushMessage) -> bytes:
    """The JSON body, shortened to Apple's 4 KB limit by trimming the body text if needed."""
    body = message.body
    while True:
        payload = {
            "aps": {
                "alert": {"title": message.title, "body": body},
                "sound": "default",
                "thread-id": message.thread_id,
                "mutable-content": 1,
            },
            **message.data,
        }
        encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        excess = len(encoded) - APNS_PAYLOAD_LIMIT
        if excess <= 0 or not body:
            return encoded
        # Cut bytes, not characters: Cyrillic letters take two bytes each in UTF-8.
        keep = max(0, len(body.rstrip("…").encode()) - excess - len("…".encode()))
        body = body.encode()[:keep].decode("utf-8", errors="ignore").rstrip() + "…" if keep else ""


class ApnsSender:
    def __init__(
        self,
        *,
        base_url: str,
        topic: str,
        provider_token: ProviderToken,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 10.0,
    ) -> None:
        self.topic = topic
        self.provider_token = provider_token
        self.base_url = base_url.rstrip("/")
        self.timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        ssl_context = verify if isinstance(verify, ssl.SSLContext) else ssl.create_default_context()
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, http1=False, http2=True, max_connections=2, retries=0
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "ApnsSender":
        assert settings.apns_key_file is not None
        verify: ssl.SSLContext | bool = True
        if settings.apns_ca_file:
            verify = ssl.create_default_context(cafile=str(settings.apns_ca_file))
        return cls(
            base_url=settings.apns_base_url,
            topic=settings.apns_topic,
            provider_token=ProviderToken(
                Path(settings.apns_key_file).read_text(), settings.apns_key_id, settings.apns_team_id
            ),
            verify=verify,
        )

    def _headers(self, message: PushMessage, length: int) -> list[tuple[str, str]]:
        headers = [
            ("authorization", f"bearer {self.provider_token.current()}"),
            ("apns-topic", self.topic),
            ("apns-push-type", "alert"),
            ("apns-priority", "10"),
            ("apns-id", message.delivery_id),
            ("apns-collapse-id", message.collapse_id[:64]),
            ("content-type", "application/json"),
            ("content-length", str(length)),
        ]
        if message.expires_at is not None:
            headers.append(("apns-expiration", str(message.expires_at)))
        return headers

    async def _send_one(self, message: PushMessage) -> SendResult:  # noqa: PLR0911 - one return per APNs answer
        body = apns_payload(message)
        if len(body) > APNS_PAYLOAD_LIMIT:
            return SendResult(Outcome.rejected, reason="PayloadTooLarge")
        try:
            response = await self.pool.request(
                "POST",
                f"{self.base_url}/3/device/{message.token}",
                headers=self._headers(message, len(body)),
                content=body,
                extensions={"timeout": self.timeouts},
            )
        except httpcore.TimeoutException as error:
            return SendResult(Outcome.retry, reason=type(error).__name__)
        except (
            httpcore.NetworkError,
            httpcore.ProtocolError,
            httpcore.UnsupportedProtocol,
            OSError,
        ) as error:
            return SendResult(Outcome.retry, reason=type(error).__name__)
        status = response.status
        if status == 200:
            apns_id = dict(response.headers).get(b"apns-id", b"").decode() or None
            return SendResult(Outcome.delivered, provider_message_id=apns_id)
        reason = self._reason(response.content, status)
        if reason in TOKEN_INVALID_REASONS or status == 410:
            return SendResult(Outcome.token_invalid, reason=reason)
        if reason in STALE_PROVIDER_TOKEN_REASONS:
            self.provider_token.renew()
            return SendResult(Outcome.retry, reason=reason)
        if status in RETRY_STATUSES:
            return SendResult(Outcome.retry, reason=reason)
        return SendResult(Outcome.rejected, reason=reason)

    @staticmethod
    def _reason(content: bytes, status: int) -> str:
        try:
            return str(json.loads(content).get("reason", "unknown"))
        except (ValueError, AttributeError):
            return f"HTTP {status}"

    async def send_batch(self, messages: list[PushMessage]) -> list[SendResult]:
        # One HTTP/2 connection multiplexes the whole batch as concurrent streams.
        return list(await asyncio.gather(*(self._send_one(message) for message in messages)))

    async def aclose(self) -> None:
        await self.pool.aclose()
