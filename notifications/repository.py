"""Every query of the notifications domain."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from notifications.models import (
    Delivery,
    DeliveryState,
    Device,
    Notification,
    NotificationPreference,
    NotificationState,
)
from services.accounts.models import AuthSession
from services.db import insert_ignoring_conflicts


class NotificationsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, *rows: object) -> None:
        self.session.add_all(rows)
        self.session.flush()

    # Devices

    def get_device_by_token(self, push_token: str) -> Device | None:
        return self.session.exec(select(Device).where(Device.push_token == push_token)).first()

    def get_device_of_user(self, device_id: uuid.UUID, user_id: uuid.UUID) -> Device | None:
        statement = select(Device).where(
            Device.id == device_id, Device.user_id == user_id, col(Device.disabled_at).is_(None)
        )
        return self.session.exec(statement).first()

    def list_active_devices(self, user_id: uuid.UUID) -> Sequence[Device]:
        statement = (
            select(Device)
            .where(Device.user_id == user_id, col(Device.disabled_at).is_(None))
            .order_by(col(Device.updated_at).desc())
        )
        return self.session.exec(statement).all()

    def disable_devices(
        self,
        *,
        at: datetime,
        reason: str,
        ids: Sequence[uuid.UUID] = (),
        auth_session_id: uuid.UUID | None = None,
    ) -> None:
        """Disable devices by id or by the sign-in session that registered them, and end their
        pending deliveries with them."""
        condition = col(Device.id).in_(list(ids)) if ids else col(Device.auth_session_id) == auth_session_id
        device_ids = self.session.exec(
            select(Device.id).where(condition, col(Device.disabled_at).is_(None))
        ).all()
        if not device_ids:
            return
        self.session.execute(
            update(Device)
            .where(col(Device.id).in_(device_ids))
            .values(disabled_at=at, disabled_reason=reason)
        )
        self.session.execute(
            update(Delivery)
            .where(col(Delivery.device_id).in_(device_ids), col(Delivery.state) == DeliveryState.pending)
            .values(state=DeliveryState.failed, last_error=f"device {reason}"[:100])
        )

    # Preferences

    def get_preferences(self, user_id: uuid.UUID) -> NotificationPreference | None:
        return self.session.get(NotificationPreference, user_id)

    # Notifications

    def get_by_dedup_key(self, user_id: uuid.UUID, dedup_key: str) -> Notification | None:
        statement = select(Notification).where(
            Notification.user_id == user_id, Notification.dedup_key == dedup_key
        )
        return self.session.exec(statement).first()

    def get_notification_of_user(
        self, notification_id: uuid.UUID, user_id: uuid.UUID, now: datetime
    ) -> Notification | None:
        statement = select(Notification).where(
            Notification.id == notification_id,
            Notification.user_id == user_id,
            col(Notification.send_at) <= now,
            col(Notification.state) != NotificationState.withdrawn,
        )
        return self.session.exec(statement).first()

    def _inbox_condition(self, user_id: uuid.UUID, now: datetime) -> Any:
        return and_(
            col(Notification.user_id) == user_id,
            col(Notification.send_at) <= now,
            col(Notification.state) != NotificationState.withdrawn,
        )

    def inbox_page(
        self, user_id: uuid.UUID, now: datetime, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> Sequence[Notification]:
        """Newest first; `after` is the (send_at, id) of the last item of the previous page."""
        statement = select(Notification).where(self._inbox_condition(user_id, now))
        if after is not None:
            send_at, last_id = after
            statement = statement.where(
                or_(
                    col(Notification.send_at) < send_at,
                    and_(col(Notification.send_at) == send_at, col(Notification.id) < last_id),
                )
            )
        statement = statement.order_by(col(Notification.send_at).desc(), col(Notification.id).desc()).limit(
            limit
        )
        return self.session.exec(statement).all()

    def unread_count(self, user_id: uuid.UUID, now: datetime) -> int:
        statement = (
            select(func.count())
            .select_from(Notification)
            .where(self._inbox_condition(user_id, now), col(Notification.read_at).is_(None))
        )
        return int(self.session.exec(statement).one())

    def mark_all_read(self, user_id: uuid.UUID, now: datetime) -> None:
        self.session.execute(
            update(Notification)
            .where(self._inbox_condition(user_id, now), col(Notification.read_at).is_(None))
            .values(read_at=now)
        )

    # The dispatcher

    def claim_due_notifications(self, now: datetime, limit: int) -> Sequence[Any]:
        """Due notifications (id, user_id, category, expires_at), locked; rows another
        dispatcher holds are skipped."""
        statement = (
            select(Notification.id, Notification.user_id, Notification.category, Notification.expires_at)
            .where(col(Notification.state) == NotificationState.scheduled, col(Notification.send_at) <= now)
            .order_by(col(Notification.send_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return self.session.exec(statement).all()

    def mark_dispatched(self, notification_ids: Sequence[uuid.UUID]) -> None:
        self.session.execute(
            update(Notification)
            .where(col(Notification.id).in_(list(notification_ids)))
            .values(state=NotificationState.dispatched)
        )

    def push_targets(self, user_ids: Sequence[uuid.UUID]) -> Sequence[Any]:
        """(device id, user id, reminders, booking_changes, results) of the enabled devices of
        these users whose sign-in session is still live; the preferences are None when unset."""
        statement = (
            select(
                Device.id,
                Device.user_id,
                NotificationPreference.reminders,
                NotificationPreference.booking_changes,
                NotificationPreference.results,
            )
            .join(AuthSession, col(AuthSession.id) == col(Device.auth_session_id))
            .join(
                NotificationPreference,
                col(NotificationPreference.user_id) == col(Device.user_id),
                isouter=True,
            )
            .where(
                col(Device.user_id).in_(list(user_ids)),
                col(Device.disabled_at).is_(None),
                col(AuthSession.revoked_at).is_(None),
            )
        )
        return self.session.exec(statement).all()

    def insert_deliveries(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert_ignoring_conflicts(self.session, Delivery), rows)

    def claim_due_deliveries(
        self, now: datetime, limit: int
    ) -> Sequence[tuple[Delivery, Notification, Device]]:
        """Due deliveries with what is needed to send them, locked for this dispatcher."""
        statement = (
            select(Delivery, Notification, Device)
            .join(Notification, col(Notification.id) == col(Delivery.notification_id))
            .join(Device, col(Device.id) == col(Delivery.device_id))
            .where(col(Delivery.state) == DeliveryState.pending, col(Delivery.next_attempt_at) <= now)
            .order_by(col(Delivery.next_attempt_at))
            .limit(limit)
            .with_for_update(skip_locked=True, of=Delivery)  # type: ignore[arg-type]
        )
        return self.session.exec(statement).all()  # type: ignore[return-value]

    def withdraw_pending_deliveries(self, notification_id: uuid.UUID) -> None:
        self.session.execute(
            update(Delivery)
            .where(
                col(Delivery.notification_id) == notification_id, col(Delivery.state) == DeliveryState.pending
            )
            .values(state=DeliveryState.withdrawn)
        )
