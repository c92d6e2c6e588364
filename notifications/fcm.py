"""Firebase Cloud Messaging through firebase-admin (HTTP v1, send_each for batches)."""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import firebase_admin
from firebase_admin import credentials, exceptions, messaging

from notifications.senders import Outcome, PushMessage, SendResult
from services.settings import Settings

FCM_BATCH_LIMIT = 500
TOKEN_INVALID_ERRORS = (
    messaging.UnregisteredError,
    messaging.SenderIdMismatchError,
    exceptions.InvalidArgumentError,
)
RETRY_ERRORS = (
    messaging.QuotaExceededError,
    exceptions.UnavailableError,
    exceptions.InternalError,
    exceptions.DeadlineExceededError,
    exceptions.UnknownError,
    exceptions.UnauthenticatedError,
    messaging.ThirdPartyAuthError,
)


def fcm_message(message: PushMessage) -> messaging.Message:
    return messaging.Message(
        fid=message.token,  # firebase-admin 7.7 renamed the registration token field
        notification=messaging.Notification(title=message.title, body=message.body),
        data=message.data,
        android=messaging.AndroidConfig(
            priority="high",
            collapse_key=message.collapse_id[:64],
            notification=messaging.AndroidNotification(tag=message.collapse_id[:64]),
        ),
    )


def _result(response: Any) -> SendResult:
    if response.success:
        return SendResult(Outcome.delivered, provider_message_id=response.message_id)
    error = response.exception
    reason = getattr(error, "code", None) or type(error).__name__
    if isinstance(error, TOKEN_INVALID_ERRORS):
        return SendResult(Outcome.token_invalid, reason=str(reason))
    if isinstance(error, RETRY_ERRORS):
        return SendResult(Outcome.retry, reason=str(reason))
    return SendResult(Outcome.rejected, reason=str(reason))


class FcmSender:
    def __init__(self, app: firebase_admin.App) -> None:
        self.app = app

    @classmethod
    def from_settings(cls, settings: Settings) -> "FcmSender":
        assert settings.fcm_credentials_file is not None
        credential = credentials.Certificate(str(Path(settings.fcm_credentials_file)))
        # A named app per sender, so tests and reconfiguration never collide with a default app.
        return cls(firebase_admin.initialize_app(credential, name=f"cardioalert-fcm-{uuid.uuid4().hex[:8]}"))

    async def send_batch(self, messages: list[PushMessage]) -> list[SendResult]:
        results: list[SendResult] = []
        for start in range(0, len(messages), FCM_BATCH_LIMIT):
            chunk = [fcm_message(message) for message in messages[start : start + FCM_BATCH_LIMIT]]
            try:
                batch = await messaging.send_each_async(chunk, dry_run=False, app=self.app)
            except exceptions.FirebaseError as error:
                results += [SendResult(Outcome.retry, reason=str(error.code)) for _ in chunk]
                continue
            results += [_result(response) for response in batch.responses]
        return results

    async def aclose(self) -> None:
        # firebase-admin closes its async HTTP client with asyncio.run(), which cannot run inside
        # this loop: close the client here, on the loop that owns its connections, then release
        # the rest of the app from a thread.
        await messaging._get_messaging_service(self.app)._async_client.aclose()
        await asyncio.to_thread(firebase_admin.delete_app, self.app)
