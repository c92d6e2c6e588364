"""Devices, notifications (the inbox and the transactional outbox) and per-device deliveries.

A notification is written in the same transaction as the event that causes it. The dispatcher
fans each due notification out into one delivery per live device (unique per notification and
device, so one event never notifies a device twice) and sends the deliveries."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from i18n import Language
from services.db import enum_column, utc_column, utcnow


class Platform(StrEnum):
    ios = "ios"
    android = "android"


class Category(StrEnum):
    """What a patient can switch push notifications on and off for."""

    reminders = "reminders"
    booking_changes = "booking_changes"
    results = "results"


class NotificationKind(StrEnum):
    booking_confirmed = "booking_confirmed"
    booking_changed = "booking_changed"
    booking_cancelled = "booking_cancelled"
    booking_rejected = "booking_rejected"
    booking_reminder = "booking_reminder"
    ecg_result_ready = "ecg_result_ready"


class NotificationState(StrEnum):
    scheduled = "scheduled"  # waiting for send_at
    dispatched = "dispatched"  # fanned out into deliveries
    withdrawn = "withdrawn"  # the event was undone before it was sent (e.g. booking cancelled)


class DeliveryState(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"  # the provider refused for good (dead token, bad payload)
    expired = "expired"  # out of attempts, or past the notification's expiry
    withdrawn = "withdrawn"


class Device(SQLModel, table=True):
    __tablename__ = "devices"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    # The sign-in session that registered it: when that session ends, the device stops receiving.
    auth_session_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("auth_sessions.id", ondelete="SET NULL"), index=True)
    )
    platform: Platform = Field(sa_column=enum_column(Platform))
    push_token: str = Field(sa_column=Column(String(512), nullable=False, unique=True))
    app_version: str = Field(max_length=32)
    language: Language = Field(sa_column=enum_column(Language))
    time_zone: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    disabled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    disabled_reason: str | None = Field(default=None, max_length=64)


class NotificationPreference(SQLModel, table=True):
    """Which categories reach the patient as pushes; everything always reaches the inbox."""

    __tablename__ = "notification_preferences"

    user_id: uuid.UUID = Field(sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True))
    reminders: bool = True
    booking_changes: bool = True
    results: bool = True
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "dedup_key"),
        Index("ix_notifications_due", "state", "send_at"),
        Index("ix_notifications_inbox", "user_id", "send_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False))
    kind: NotificationKind = Field(sa_column=enum_column(NotificationKind))
    category: Category = Field(sa_column=enum_column(Category))
    # The caller's name for the event ("booking:<id>:confirmed"): enqueueing it again is a no-op.
    dedup_key: str = Field(max_length=200)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: NotificationState = Field(
        default=NotificationState.scheduled, sa_column=enum_column(NotificationState)
    )
    send_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    read_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Delivery(SQLModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "device_id"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    notification_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False)
    )
    device_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    state: DeliveryState = Field(default=DeliveryState.pending, sa_column=enum_column(DeliveryState))
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    last_error: str | None = Field(default=None, max_length=100)
    provider_message_id: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
