"""What the devices, inbox and preferences API takes and returns."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from i18n import Language
from notifications.models import Category, NotificationKind, Platform
from services.accounts.schemas import InputModel, TimeZoneName

PushToken = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=8, max_length=512, pattern=r"^\S+$")
]


class DeviceRegistration(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "platform": "ios",
                    "push_token": "a3f1c9e2b7d4058e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70",
                    "app_version": "1.4.0",
                    "language": "uz",
                    "time_zone": "Asia/Tashkent",
                }
            ]
        },
    )

    platform: Platform
    push_token: PushToken = Field(description="APNs device token (hex) or FCM registration token.")
    app_version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    language: Language = Field(description="The language pushes to this device are written in.")
    time_zone: TimeZoneName = "Asia/Tashkent"


class DevicePublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "1c7e5a3b-9d2f-4e6a-8b1c-3d5f7a9b1c2e",
                    "platform": "ios",
                    "app_version": "1.4.0",
                    "language": "uz",
                    "time_zone": "Asia/Tashkent",
                    "created_at": "2026-11-25T09:30:00Z",
                    "updated_at": "2026-11-25T09:30:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    platform: Platform
    app_version: str
    language: Language
    time_zone: str
    created_at: datetime
    updated_at: datetime


NOTIFICATION_EXAMPLE = {
    "id": "7b3e9f1a-2c4d-4e6f-8a0b-1c2d3e4f5a6b",
    "kind": "booking_reminder",
    "category": "reminders",
    "title": "ECG reminder",
    "body": "Your ECG at Chilonzor Heart Centre is in 2 hours, at 2:30 PM.",
    "created_at": "2026-11-25T07:30:00Z",
    "read_at": None,
    "data": {
        "kind": "booking_reminder",
        "notification_id": "7b3e9f1a-2c4d-4e6f-8a0b-1c2d3e4f5a6b",
        "booking_id": "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f",
        "deep_link": "cardioalert://bookings/2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f",
    },
}


class NotificationPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [NOTIFICATION_EXAMPLE]})

    id: uuid.UUID
    kind: NotificationKind
    category: Category
    title: str = Field(description="In the request's language.")
    body: str
    created_at: datetime = Field(description="When the notification was (or is to be) sent.")
    read_at: datetime | None
    data: dict[str, str] = Field(description="The same deep-link payload the push carries.")


class InboxPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [NOTIFICATION_EXAMPLE], "next_cursor": None, "unread_count": 1}]
        }
    )

    items: list[NotificationPublic]
    next_cursor: str | None
    unread_count: int


class PreferencesPublic(BaseModel):
    """Push categories the patient wants; the inbox always receives everything."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{"reminders": True, "booking_changes": True, "results": True}]},
    )

    reminders: bool
    booking_changes: bool
    results: bool


class PreferencesUpdate(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reminders": False}]})

    reminders: bool | None = None
    booking_changes: bool | None = None
    results: bool | None = None
