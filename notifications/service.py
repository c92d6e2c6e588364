"""The rules of notifications: the one way other domains notify a patient (`enqueue`, inside
their own transaction), devices, the inbox and preferences. Never commits."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from i18n import N_, Language
from notifications.models import (
    Category,
    Device,
    Notification,
    NotificationKind,
    NotificationPreference,
    NotificationState,
)
from notifications.repository import NotificationsRepository
from notifications.schemas import (
    DeviceRegistration,
    InboxPage,
    NotificationPublic,
    PreferencesPublic,
    PreferencesUpdate,
)
from notifications.texts import category_of, render
from services.accounts.models import User
from services.db import utcnow
from services.errors import InvalidCursor, NotFound
from services.pagination import decode_cursor, encode_cursor

DEEP_LINK_SCHEME = "cardioalert://"


class DeviceNotFound(NotFound):
    code = "device_not_found"
    detail = N_("No such device.")


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    detail = N_("No such notification.")


def enqueue(
    session: Session,
    *,
    user_id: uuid.UUID,
    kind: NotificationKind,
    dedup_key: str,
    params: dict[str, Any],
    send_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> Notification:
    """Record a notification in the caller's transaction: it is sent only if that transaction
    commits, and enqueueing the same `dedup_key` for the same user again changes nothing."""
    repository = NotificationsRepository(session)
    existing = repository.get_by_dedup_key(user_id, dedup_key)
    if existing is not None:
        return existing
    notification = Notification(
        user_id=user_id,
        kind=kind,
        category=category_of(kind),
        dedup_key=dedup_key,
        params=params,
        send_at=send_at or utcnow(),
        expires_at=expires_at,
    )
    try:
        with session.begin_nested():
            repository.add(notification)
    except IntegrityError:
        # Another transaction enqueued the same event at the same moment; theirs stands.
        winner = repository.get_by_dedup_key(user_id, dedup_key)
        assert winner is not None
        return winner
    return notification


def withdraw(session: Session, *, user_id: uuid.UUID, dedup_key: str) -> bool:
    """Undo an event's notification that has not gone out yet (e.g. the reminders of a
    cancelled booking). True if something was withdrawn."""
    repository = NotificationsRepository(session)
    notification = repository.get_by_dedup_key(user_id, dedup_key)
    if notification is None or notification.state is NotificationState.withdrawn:
        return False
    notification.state = NotificationState.withdrawn
    repository.add(notification)
    repository.withdraw_pending_deliveries(notification.id)
    return True


def payload_data(notification: Notification) -> dict[str, str]:
    """The deep-link payload of pushes and inbox items (documented in ios_contract/README.md)."""
    data = {"kind": str(notification.kind), "notification_id": str(notification.id)}
    for key in ("booking_id", "study_id"):
        if notification.params.get(key):
            data[key] = str(notification.params[key])
    if "study_id" in data:
        data["deep_link"] = f"{DEEP_LINK_SCHEME}studies/{data['study_id']}"
    elif "booking_id" in data:
        data["deep_link"] = f"{DEEP_LINK_SCHEME}bookings/{data['booking_id']}"
    else:
        data["deep_link"] = f"{DEEP_LINK_SCHEME}inbox"
    return data


def register_device(
    session: Session, user: User, auth_session_id: uuid.UUID | None, data: DeviceRegistration
) -> Device:
    """Register or update the device holding this push token. A token belongs to one device:
    registered again (a reinstall, another account signing in on the phone) it moves here."""
    repository = NotificationsRepository(session)
    device = repository.get_device_by_token(data.push_token)
    now = utcnow()
    if device is None:
        device = Device(
            push_token=data.push_token,
            user_id=user.id,
            platform=data.platform,
            app_version=data.app_version,
            language=data.language,
            time_zone=data.time_zone,
        )
    device.user_id = user.id
    device.auth_session_id = auth_session_id
    device.platform = data.platform
    device.app_version = data.app_version
    device.language = data.language
    device.time_zone = data.time_zone
    device.disabled_at = None
    device.disabled_reason = None
    device.updated_at = now
    repository.add(device)
    return device


def unregister_device(session: Session, user: User, device_id: uuid.UUID) -> None:
    repository = NotificationsRepository(session)
    if repository.get_device_of_user(device_id, user.id) is None:
        raise DeviceNotFound()
    repository.disable_devices(at=utcnow(), reason="unregistered", ids=[device_id])


def unregister_session_devices(session: Session, auth_session_id: uuid.UUID, reason: str) -> None:
    """Signing out of a session stops pushes to the devices it registered."""
    NotificationsRepository(session).disable_devices(
        at=utcnow(), reason=reason, auth_session_id=auth_session_id
    )


def list_devices(session: Session, user: User) -> list[Device]:
    return list(NotificationsRepository(session).list_active_devices(user.id))


def _page_key(cursor: str) -> tuple[datetime, uuid.UUID]:
    send_at, notification_id = decode_cursor(cursor, 2)
    try:
        moment = datetime.fromisoformat(str(send_at))
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, uuid.UUID(str(notification_id))
    except ValueError:
        raise InvalidCursor() from None


def notification_public(notification: Notification, language: Language) -> NotificationPublic:
    title, body = render(notification.kind, notification.params, language)
    return NotificationPublic(
        id=notification.id,
        kind=notification.kind,
        category=notification.category,
        title=title,
        body=body,
        created_at=notification.send_at,
        read_at=notification.read_at,
        data=payload_data(notification),
    )


def list_inbox(session: Session, user: User, language: Language, cursor: str | None, limit: int) -> InboxPage:
    repository = NotificationsRepository(session)
    now = utcnow()
    after = _page_key(cursor) if cursor else None
    rows = repository.inbox_page(user.id, now, after, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return InboxPage(
        items=[notification_public(notification, language) for notification in page],
        next_cursor=encode_cursor([page[-1].send_at.isoformat(), str(page[-1].id)]) if more else None,
        unread_count=repository.unread_count(user.id, now),
    )


def mark_read(
    session: Session, user: User, notification_id: uuid.UUID, language: Language
) -> NotificationPublic:
    repository = NotificationsRepository(session)
    notification = repository.get_notification_of_user(notification_id, user.id, utcnow())
    if notification is None:
        raise NotificationNotFound()
    if notification.read_at is None:
        notification.read_at = utcnow()
        repository.add(notification)
    return notification_public(notification, language)


def mark_all_read(session: Session, user: User) -> None:
    NotificationsRepository(session).mark_all_read(user.id, utcnow())


def get_preferences(session: Session, user: User) -> PreferencesPublic:
    preferences = NotificationsRepository(session).get_preferences(user.id) or NotificationPreference(
        user_id=user.id
    )
    return PreferencesPublic.model_validate(preferences)


def update_preferences(session: Session, user: User, changes: PreferencesUpdate) -> PreferencesPublic:
    repository = NotificationsRepository(session)
    preferences = repository.get_preferences(user.id) or NotificationPreference(user_id=user.id)
    for name, value in changes.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(preferences, name, value)
    preferences.updated_at = utcnow()
    repository.add(preferences)
    return PreferencesPublic.model_validate(preferences)


def wants_push(preferences: Any, category: Category) -> bool:
    """Whether the category is switched on in `preferences` (anything with the three flags);
    an unset flag (no preferences saved yet) means on."""
    return getattr(preferences, str(category), None) is not False
