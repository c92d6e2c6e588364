"""Apple Push Notification service over HTTP/2 with token (.p8, ES256) authentication.

A thin sender on httpx: apns2 cannot be imported on Python 3.10+ (its dependency hyper is
dead) and aioapns hard-codes Apple's host, which would leave nothing to test against. The
base URL is a setting (production, sandbox, or a local test server)."""

import asyncio
import json
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
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
        self.client = httpx.AsyncClient(
            base_url=base_url,
            http2=True,
            verify=verify,
            timeout=timeout,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
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

    def _headers(self, message: PushMessage) -> dict[str, str]:
        headers = {
            "authorization": f"bearer {self.provider_token.current()}",
            "apns-topic": self.topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-id": message.delivery_id,
            "apns-collapse-id": message.collapse_id[:64],
        }
        if message.expires_at is not None:
            headers["apns-expiration"] = str(message.expires_at)
        return headers

    async def _send_one(self, message: PushMessage) -> SendResult:  # noqa: PLR0911 - one return per APNs answer
        body = apns_payload(message)
        if len(body) > APNS_PAYLOAD_LIMIT:
            return SendResult(Outcome.rejected, reason="PayloadTooLarge")
        try:
            response = await self.client.post(
                f"/3/device/{message.token}", content=body, headers=self._headers(message)
            )
        except httpx.HTTPError as error:
            return SendResult(Outcome.retry, reason=type(error).__name__)
        if response.status_code == 200:
            return SendResult(Outcome.delivered, provider_message_id=response.headers.get("apns-id"))
        try:
            reason = str(response.json().get("reason", "unknown"))
        except (ValueError, AttributeError):
            reason = f"HTTP {response.status_code}"
        if reason in TOKEN_INVALID_REASONS or response.status_code == 410:
            return SendResult(Outcome.token_invalid, reason=reason)
        if reason in STALE_PROVIDER_TOKEN_REASONS:
            self.provider_token.renew()
            return SendResult(Outcome.retry, reason=reason)
        if response.status_code in RETRY_STATUSES:
            return SendResult(Outcome.retry, reason=reason)
        return SendResult(Outcome.rejected, reason=reason)

    async def send_batch(self, messages: list[PushMessage]) -> list[SendResult]:
        # One HTTP/2 connection multiplexes the whole batch as concurrent streams.
        return list(await asyncio.gather(*(self._send_one(message) for message in messages)))

    async def aclose(self) -> None:
        await self.client.aclose()
