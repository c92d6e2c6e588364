"""Patients' bookings over HTTP, against the real database."""

import json
import uuid
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from booking.models import Booking, BookingStatus, Slot
from booking.repository import BookingRepository
from booking.service import free_slots_json, release_expired_holds
from notifications.models import Notification, NotificationKind, NotificationState
from services.accounts.models import Role
from services.clinics.models import ClinicService
from services.db import utcnow
from tests.booking.support import bookable_clinic, free_slots, slot_starting_after
from tests.support import hospital_headers, make_hospital_client, make_user, sign_in


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def hold(
    client: TestClient, headers: dict[str, str], slot_id: str, idempotency: dict[str, str] | None = None
):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/bookings", json={"slot_id": slot_id}, headers={**headers, **(idempotency or key())}
    )


def book(client: TestClient, headers: dict[str, str], slot_id: str) -> dict:
    held = hold(client, headers, slot_id)
    assert held.status_code == 201, held.text
    confirmed = client.post(f"/v1/bookings/{held.json()['id']}/confirm", headers={**headers, **key()})
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()


def notifications_of(db: Session, booking_id: str) -> list[Notification]:
    rows = db.exec(select(Notification)).all()
    return [n for n in rows if n.params.get("booking_id") == booking_id]


def test_slot_search_shows_free_slots_on_the_clinics_clock(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db, capacity=3)
    slots = free_slots(client, setup.clinic.id, days=2)
    assert slots
    first = slots[0]
    assert first["starts_at"].endswith("+05:00")  # Asia/Tashkent
    assert first["available"] == first["capacity"] == 3
    assert all(datetime.fromisoformat(s["starts_at"]) > utcnow() for s in slots)
    starts = [s["starts_at"] for s in slots]
    assert starts == sorted(starts)


def test_hold_then_confirm_books_and_schedules_reminders(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    patient = make_user(db)
    headers = sign_in(db, patient)
    slot = slot_starting_after(free_slots(client, setup.clinic.id), timedelta(hours=26))

    held = hold(client, headers, slot["id"])
    assert held.status_code == 201
    assert held.json()["status"] == "proposed"
    assert held.json()["hold_expires_at"] is not None
    assert slot["id"] not in {s["id"] for s in free_slots(client, setup.clinic.id)}

    confirmed = client.post(f"/v1/bookings/{held.json()['id']}/confirm", headers={**headers, **key()})
    assert confirmed.json()["status"] == "booked"
    assert confirmed.json()["starts_at"] == slot["starts_at"]
    kinds = sorted(n.kind for n in notifications_of(db, held.json()["id"]))
    assert kinds == sorted(
        [
            NotificationKind.booking_confirmed,
            NotificationKind.booking_reminder,
            NotificationKind.booking_reminder,
        ]
    )
    reminders = [
        n for n in notifications_of(db, held.json()["id"]) if n.kind is NotificationKind.booking_reminder
    ]
    starts_at = datetime.fromisoformat(slot["starts_at"])
    assert sorted(starts_at - n.send_at for n in reminders) == [timedelta(hours=2), timedelta(hours=24)]


def test_a_hospital_confirmed_clinic_keeps_bookings_pending_until_the_his_confirms(
    client: TestClient, db: Session
) -> None:
    setup = bookable_clinic(client, db, his_confirms_bookings=True)
    headers = sign_in(db, make_user(db))
    slot = slot_starting_after(free_slots(client, setup.clinic.id), timedelta(hours=5))
    booking = book(client, headers, slot["id"])
    assert booking["status"] == "pending"
    assert notifications_of(db, booking["id"]) == []

    his, _ = make_hospital_client(db, setup.clinic)
    confirmed = client.post(f"/v1/hospital/bookings/{booking['id']}/confirm", headers=hospital_headers(his))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "booked"
    assert NotificationKind.booking_confirmed in {n.kind for n in notifications_of(db, booking["id"])}


def test_a_mobile_retry_never_creates_a_second_booking(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db, capacity=5)
    headers = sign_in(db, make_user(db))
    slot = free_slots(client, setup.clinic.id)[3]
    same_key = key()
    first = hold(client, headers, slot["id"], same_key)
    retry = hold(client, headers, slot["id"], same_key)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert len(db.exec(select(Booking)).all()) == 1
    other_slot = free_slots(client, setup.clinic.id)[5]
    reused = hold(client, headers, other_slot["id"], same_key)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    missing = client.post("/v1/bookings", json={"slot_id": slot["id"]}, headers=headers)
    assert missing.status_code == 400
    assert missing.json()["code"] == "idempotency_key_required"


def test_a_full_slot_is_a_clean_conflict(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db, capacity=1)
    slot = free_slots(client, setup.clinic.id)[2]
    assert hold(client, sign_in(db, make_user(db)), slot["id"]).status_code == 201
    second = hold(client, {**sign_in(db, make_user(db)), "Accept-Language": "ru"}, slot["id"])
    assert second.status_code == 409
    assert second.json()["code"] == "slot_full"
    assert second.json()["title"] == "Время уже занято"


def test_the_active_bookings_limit_and_overlaps(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db, capacity=3)
    headers = {**sign_in(db, make_user(db)), "Accept-Language": "ru"}
    slots = free_slots(client, setup.clinic.id)
    for slot in slots[:3]:
        assert hold(client, headers, slot["id"]).status_code == 201
    fourth = hold(client, headers, slots[5]["id"])
    assert fourth.status_code == 409
    assert fourth.json()["code"] == "too_many_active_bookings"
    assert "3 активных записей" in fourth.json()["detail"]

    other = sign_in(db, make_user(db))
    assert hold(client, other, slots[0]["id"]).status_code == 201
    overlapping = hold(client, other, slots[0]["id"])
    assert overlapping.status_code == 409
    assert overlapping.json()["code"] == "overlapping_booking"


def test_cancel_frees_the_slot_and_withdraws_reminders(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    headers = sign_in(db, make_user(db))
    slot = slot_starting_after(free_slots(client, setup.clinic.id), timedelta(hours=30))
    booking = book(client, headers, slot["id"])
    cancelled = client.post(f"/v1/bookings/{booking['id']}/cancel", headers={**headers, **key()})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert slot["id"] in {s["id"] for s in free_slots(client, setup.clinic.id, days=3)}
    reminders = [
        n for n in notifications_of(db, booking["id"]) if n.kind is NotificationKind.booking_reminder
    ]
    assert reminders and all(n.state is NotificationState.withdrawn for n in reminders)


def test_cancelling_after_the_cutoff_is_refused(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    headers = {**sign_in(db, make_user(db)), "Accept-Language": "uz"}
    slot = slot_starting_after(free_slots(client, setup.clinic.id), timedelta(minutes=0))
    booking = book(client, headers, slot["id"])
    late = client.post(f"/v1/bookings/{booking['id']}/cancel", headers={**headers, **key()})
    assert late.status_code == 409
    assert late.json()["code"] == "cancellation_too_late"
    assert "2 soat" in late.json()["detail"]
    assert db.get(Booking, uuid.UUID(booking["id"])).status is BookingStatus.booked  # type: ignore[union-attr]


def test_reschedule_moves_atomically(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    headers = sign_in(db, make_user(db))
    slots = [
        s
        for s in free_slots(client, setup.clinic.id, days=3)
        if datetime.fromisoformat(s["starts_at"]) > utcnow() + timedelta(hours=27)
    ]
    booking = book(client, headers, slots[0]["id"])

    same = client.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        json={"slot_id": slots[0]["id"]},
        headers={**headers, **key()},
    )
    assert same.status_code == 409 and same.json()["code"] == "same_slot"

    taken = slots[1]
    assert hold(client, sign_in(db, make_user(db)), taken["id"]).status_code == 201
    refused = client.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        json={"slot_id": taken["id"]},
        headers={**headers, **key()},
    )
    assert refused.status_code == 409 and refused.json()["code"] == "slot_full"
    assert db.get(Booking, uuid.UUID(booking["id"])).slot_id == uuid.UUID(slots[0]["id"])  # type: ignore[union-attr]

    moved = client.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        json={"slot_id": slots[2]["id"]},
        headers={**headers, **key()},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["starts_at"] == slots[2]["starts_at"]
    counts = {s.id: s.booked_count for s in db.exec(select(Slot)).all()}
    assert counts[uuid.UUID(slots[0]["id"])] == 0 and counts[uuid.UUID(slots[2]["id"])] == 1
    reminders = [
        n for n in notifications_of(db, booking["id"]) if n.kind is NotificationKind.booking_reminder
    ]
    live = [n for n in reminders if n.state is not NotificationState.withdrawn]
    assert {n.params["starts_at"] for n in live} == {
        datetime.fromisoformat(slots[2]["starts_at"]).astimezone(utcnow().tzinfo).isoformat()
    }
    assert NotificationKind.booking_changed in {n.kind for n in notifications_of(db, booking["id"])}


def test_an_expired_hold_cannot_be_confirmed_and_frees_its_slot(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    headers = sign_in(db, make_user(db))
    slot = free_slots(client, setup.clinic.id)[1]
    held = hold(client, headers, slot["id"]).json()
    row = db.get(Booking, uuid.UUID(held["id"]))
    assert row is not None
    row.hold_expires_at = utcnow() - timedelta(seconds=1)
    db.add(row)
    db.commit()
    late = client.post(f"/v1/bookings/{held['id']}/confirm", headers={**headers, **key()})
    assert late.status_code == 409 and late.json()["code"] == "hold_expired"
    db.refresh(row)
    assert (row.status, row.cancel_reason) == (BookingStatus.cancelled, "hold_expired")
    assert slot["id"] in {s["id"] for s in free_slots(client, setup.clinic.id)}


def test_the_worker_releases_expired_holds(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    slot = free_slots(client, setup.clinic.id)[1]
    held = hold(client, sign_in(db, make_user(db)), slot["id"]).json()
    assert release_expired_holds(db, utcnow()) == 0
    assert release_expired_holds(db, utcnow() + timedelta(minutes=11)) == 1
    db.commit()
    assert db.get(Booking, uuid.UUID(held["id"])).status is BookingStatus.cancelled  # type: ignore[union-attr]
    assert db.get(Slot, uuid.UUID(slot["id"])).booked_count == 0  # type: ignore[union-attr]


def test_patients_list_their_bookings_and_cannot_see_others(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db, capacity=2)
    mine, theirs = sign_in(db, make_user(db)), sign_in(db, make_user(db))
    slots = free_slots(client, setup.clinic.id)
    booking = book(client, mine, slots[0]["id"])
    later = book(client, mine, slots[2]["id"])
    page = client.get("/v1/bookings", params={"limit": 1}, headers=mine).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get("/v1/bookings", params={"cursor": page["next_cursor"]}, headers=mine).json()
    assert [page["items"][0]["id"], rest["items"][0]["id"]] == [later["id"], booking["id"]]  # latest first
    assert rest["next_cursor"] is None
    assert client.get(f"/v1/bookings/{booking['id']}", headers=theirs).status_code == 404
    stranger_cancel = client.post(f"/v1/bookings/{booking['id']}/cancel", headers={**theirs, **key()})
    assert stranger_cancel.status_code == 404


def test_booking_in_the_past_or_an_unknown_slot(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    headers = sign_in(db, make_user(db))
    slot = free_slots(client, setup.clinic.id)[0]
    row = db.get(Slot, uuid.UUID(slot["id"]))
    assert row is not None
    row.starts_at, row.ends_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(hours=1)
    db.add(row)
    db.commit()
    past = hold(client, headers, slot["id"])
    assert past.status_code == 409 and past.json()["code"] == "slot_in_past"
    unknown = hold(client, headers, str(uuid.uuid4()))
    assert unknown.status_code == 404 and unknown.json()["code"] == "slot_not_found"


def test_only_patients_book(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    slot = free_slots(client, setup.clinic.id)[0]
    response = hold(client, sign_in(db, make_user(db, Role.clinician, clinics=[setup.clinic])), slot["id"])
    assert response.status_code == 403


def test_the_slot_json_made_by_postgresql_equals_the_portable_one(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db, capacity=2, time_zone="America/New_York")
    book(client, sign_in(db, make_user(db)), free_slots(client, setup.clinic.id)[1]["id"])
    repository = BookingRepository(db)
    start, end = utcnow(), utcnow() + timedelta(days=3)
    from_postgres = repository.free_slots_json(
        setup.clinic.id, ClinicService.ecg, start, end, "America/New_York"
    )
    assert from_postgres is not None
    portable = free_slots_json(
        repository.free_slots(setup.clinic.id, ClinicService.ecg, start, end), setup.clinic, ClinicService.ecg
    )
    assert json.loads(from_postgres) == json.loads(portable)
    assert any(item["available"] == 1 for item in json.loads(portable))
