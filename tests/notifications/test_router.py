"""Devices, the inbox and preferences over HTTP, and the one enqueue function other domains use."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from notifications import service
from notifications.models import Device, Notification, NotificationKind, NotificationState
from services.accounts.models import User
from services.db import transaction, utcnow
from tests.support import PASSWORD, make_user, sign_in

IOS_TOKEN = "a3f1c9e2b7d4058e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"
BOOKING = "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f"
CLINIC = {"en": "Chilonzor Heart Centre", "ru": "Кардиоцентр «Чиланзар»", "uz": "Chilonzor yurak markazi"}


def device_payload(**overrides: object) -> dict:
    return {"platform": "ios", "push_token": IOS_TOKEN, "app_version": "1.4.0", "language": "ru", **overrides}


def booking_params(starts_at: datetime) -> dict:
    return {
        "booking_id": BOOKING,
        "clinic_name": CLINIC,
        "starts_at": starts_at.isoformat(),
        "time_zone": "Asia/Tashkent",
    }


def test_registering_the_same_token_again_updates_the_device(client: TestClient, db: Session) -> None:
    headers = sign_in(db, make_user(db))
    first = client.post("/v1/devices", json=device_payload(), headers=headers)
    assert first.status_code == 200, first.text
    again = client.post(
        "/v1/devices", json=device_payload(app_version="1.5.0", language="uz"), headers=headers
    )
    assert again.json()["id"] == first.json()["id"]
    assert (again.json()["app_version"], again.json()["language"]) == ("1.5.0", "uz")
    assert len(db.exec(select(Device)).all()) == 1


def test_a_token_belongs_to_one_device_and_moves_to_the_new_owner(client: TestClient, db: Session) -> None:
    old_owner, new_owner = make_user(db), make_user(db)
    client.post("/v1/devices", json=device_payload(), headers=sign_in(db, old_owner))
    client.post("/v1/devices", json=device_payload(), headers=sign_in(db, new_owner))
    device = db.exec(select(Device)).one()
    assert device.user_id == new_owner.id
    assert client.get("/v1/devices", headers=sign_in(db, old_owner)).json() == []


def test_logout_unregisters_the_sessions_device(client: TestClient, db: Session) -> None:
    make_user(db, email="p@example.uz")
    tokens = client.post("/v1/auth/login", json={"login": "p@example.uz", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    client.post("/v1/devices", json=device_payload(), headers=headers)
    assert client.post("/v1/auth/logout", headers=headers).status_code == 204
    device = db.exec(select(Device)).one()
    assert (device.disabled_reason, device.disabled_at is not None) == ("logout", True)


def test_unregister_a_device(client: TestClient, db: Session) -> None:
    headers = sign_in(db, make_user(db))
    device_id = client.post("/v1/devices", json=device_payload(), headers=headers).json()["id"]
    assert client.delete(f"/v1/devices/{device_id}", headers=headers).status_code == 204
    assert client.get("/v1/devices", headers=headers).json() == []
    assert client.delete(f"/v1/devices/{device_id}", headers=headers).status_code == 404


def test_bad_device_registrations_are_refused(client: TestClient, db: Session) -> None:
    headers = sign_in(db, make_user(db))
    response = client.post(
        "/v1/devices",
        json=device_payload(platform="windows", push_token="has space", language="de"),
        headers=headers,
    )
    assert response.status_code == 422
    assert {error["pointer"] for error in response.json()["errors"]} == {
        "#/platform",
        "#/push_token",
        "#/language",
    }


def test_enqueue_belongs_to_the_callers_transaction(db: Session) -> None:
    user = make_user(db)
    with pytest.raises(RuntimeError), transaction(db):
        service.enqueue(
            db,
            user_id=user.id,
            kind=NotificationKind.booking_confirmed,
            dedup_key="booking:1:confirmed",
            params=booking_params(utcnow()),
        )
        raise RuntimeError("the booking failed after the notification was written")
    assert db.exec(select(Notification)).all() == []

    with transaction(db):
        service.enqueue(
            db,
            user_id=user.id,
            kind=NotificationKind.booking_confirmed,
            dedup_key="booking:1:confirmed",
            params=booking_params(utcnow()),
        )
    assert len(db.exec(select(Notification)).all()) == 1


def test_the_same_event_is_enqueued_once(db: Session) -> None:
    user = make_user(db)
    first = service.enqueue(
        db,
        user_id=user.id,
        kind=NotificationKind.ecg_result_ready,
        dedup_key="study:9:result",
        params={"study_id": "9"},
    )
    second = service.enqueue(
        db,
        user_id=user.id,
        kind=NotificationKind.ecg_result_ready,
        dedup_key="study:9:result",
        params={"study_id": "9"},
    )
    assert first.id == second.id
    assert len(db.exec(select(Notification)).all()) == 1


def enqueue_reminder(db: Session, user: User, send_at: datetime) -> Notification:
    return service.enqueue(
        db,
        user_id=user.id,
        kind=NotificationKind.booking_reminder,
        dedup_key=f"booking:{BOOKING}:reminder:{send_at.isoformat()}",
        params={**booking_params(datetime(2026, 12, 1, 9, 30, tzinfo=UTC)), "hours_before": 2},
        send_at=send_at,
    )


def test_inbox_lists_sent_notifications_newest_first_in_the_callers_language(
    client: TestClient, db: Session
) -> None:
    user = make_user(db)
    now = utcnow()
    for hours in range(5):
        enqueue_reminder(db, user, now - timedelta(hours=hours))
    enqueue_reminder(db, user, now + timedelta(days=1))  # not due: not in the inbox yet
    db.commit()
    headers = {**sign_in(db, user), "Accept-Language": "ru"}

    page = client.get("/v1/notifications", params={"limit": 3}, headers=headers).json()
    assert page["unread_count"] == 5
    assert len(page["items"]) == 3
    first = page["items"][0]
    assert first["title"] == "Напоминание об ЭКГ"
    assert first["body"] == "Напоминаем: ЭКГ через 2 часа, в 14:30. Кардиоцентр «Чиланзар»."
    assert first["data"]["deep_link"] == f"cardioalert://bookings/{BOOKING}"
    rest = client.get("/v1/notifications", params={"cursor": page["next_cursor"]}, headers=headers).json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    times = [item["created_at"] for item in page["items"] + rest["items"]]
    assert times == sorted(times, reverse=True)


def test_marking_read(client: TestClient, db: Session) -> None:
    user = make_user(db)
    notification = enqueue_reminder(db, user, utcnow() - timedelta(minutes=1))
    enqueue_reminder(db, user, utcnow() - timedelta(minutes=2))
    db.commit()
    headers = sign_in(db, user)
    read = client.post(f"/v1/notifications/{notification.id}/read", headers=headers)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    assert client.get("/v1/notifications", headers=headers).json()["unread_count"] == 1
    assert client.post("/v1/notifications/read-all", headers=headers).status_code == 204
    assert client.get("/v1/notifications", headers=headers).json()["unread_count"] == 0


def test_withdrawn_notifications_leave_the_inbox(client: TestClient, db: Session) -> None:
    user = make_user(db)
    notification = enqueue_reminder(db, user, utcnow() - timedelta(minutes=1))
    assert service.withdraw(db, user_id=user.id, dedup_key=notification.dedup_key)
    db.commit()
    assert notification.state is NotificationState.withdrawn
    assert client.get("/v1/notifications", headers=sign_in(db, user)).json()["items"] == []


def test_preferences_default_on_and_change_one_at_a_time(client: TestClient, db: Session) -> None:
    headers = sign_in(db, make_user(db))
    assert client.get("/v1/notifications/preferences", headers=headers).json() == {
        "reminders": True,
        "booking_changes": True,
        "results": True,
    }
    changed = client.patch("/v1/notifications/preferences", json={"reminders": False}, headers=headers).json()
    assert changed == {"reminders": False, "booking_changes": True, "results": True}
    assert client.get("/v1/notifications/preferences", headers=headers).json() == changed
