"""The clinic's hospital system over HTTP: change feed, confirmations, visit statuses, webhooks
and FHIR views."""

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from sqlmodel import Session, select

from booking.models import Booking, WebhookEvent
from services.settings import get_settings
from tests.booking.support import bookable_clinic, free_slots, slot_starting_after
from tests.booking.test_booking_api import book
from tests.support import hospital_headers, make_hospital_client, make_user, settings_changed, sign_in


def test_the_change_feed_hands_out_each_change_once_in_order(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db, capacity=3, his_confirms_bookings=True)
    his, _ = make_hospital_client(db, setup.clinic)
    headers = hospital_headers(his)
    slots = free_slots(client, setup.clinic.id)
    with settings_changed(CARDIOALERT_HIS_FEED_SETTLE_SECONDS="0"):
        empty = client.get("/v1/hospital/bookings", headers=headers).json()
        assert empty["items"] == [] and empty["next_cursor"]
        first = book(client, sign_in(db, make_user(db)), slots[0]["id"])
        second = book(client, sign_in(db, make_user(db)), slots[1]["id"])
        page = client.get(
            "/v1/hospital/bookings", params={"cursor": empty["next_cursor"]}, headers=headers
        ).json()
        assert [item["id"] for item in page["items"]] == [first["id"], second["id"]]
        assert page["items"][0]["status"] == "pending"
        assert page["items"][0]["patient"]["full_name"] == "Test Person"

        client.post(f"/v1/hospital/bookings/{first['id']}/confirm", headers=headers)
        after = client.get(
            "/v1/hospital/bookings", params={"cursor": page["next_cursor"]}, headers=headers
        ).json()
        assert [(item["id"], item["status"]) for item in after["items"]] == [(first["id"], "booked")]
        again = client.get(
            "/v1/hospital/bookings", params={"cursor": after["next_cursor"]}, headers=headers
        ).json()
        assert again["items"] == [] and again["next_cursor"] == after["next_cursor"]


def test_recent_changes_wait_out_the_settle_window(client: TestClient, db: Session) -> None:
    assert get_settings().his_feed_settle_seconds == 5
    setup = bookable_clinic(client, db)
    his, _ = make_hospital_client(db, setup.clinic)
    book(client, sign_in(db, make_user(db)), free_slots(client, setup.clinic.id)[0]["id"])
    assert client.get("/v1/hospital/bookings", headers=hospital_headers(his)).json()["items"] == []


def test_a_rejected_booking_frees_its_slot_and_tells_the_patient(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db, his_confirms_bookings=True)
    his, _ = make_hospital_client(db, setup.clinic)
    slot = free_slots(client, setup.clinic.id)[0]
    booking = book(client, sign_in(db, make_user(db)), slot["id"])
    rejected = client.post(f"/v1/hospital/bookings/{booking['id']}/reject", headers=hospital_headers(his))
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["cancel_reason"]) == ("cancelled", "rejected")
    assert slot["id"] in {s["id"] for s in free_slots(client, setup.clinic.id)}
    twice = client.post(f"/v1/hospital/bookings/{booking['id']}/reject", headers=hospital_headers(his))
    assert twice.status_code == 200  # repeating is harmless
    confirm_after = client.post(
        f"/v1/hospital/bookings/{booking['id']}/confirm", headers=hospital_headers(his)
    )
    assert confirm_after.status_code == 409


def test_booking_events_go_to_the_hospitals_webhook_in_the_bookings_transaction(
    client: TestClient, db: Session
) -> None:
    setup = bookable_clinic(client, db)
    his, _ = make_hospital_client(db, setup.clinic)
    headers = hospital_headers(his)
    registered = client.post(
        "/v1/hospital/webhooks", json={"url": "https://his.example.uz/events"}, headers=headers
    )
    assert registered.status_code == 201, registered.text
    assert len(registered.json()["secret"]) >= 32
    assert [w["id"] for w in client.get("/v1/hospital/webhooks", headers=headers).json()] == [
        registered.json()["id"]
    ]
    assert "secret" not in client.get("/v1/hospital/webhooks", headers=headers).json()[0]

    patient = sign_in(db, make_user(db))
    slots = free_slots(client, setup.clinic.id)
    failed = client.post(
        "/v1/bookings/00000000-0000-4000-8000-000000000000/confirm",
        headers={**patient, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert failed.status_code == 404
    booking = book(client, patient, slot_starting_after(slots, timedelta(hours=3))["id"])
    cancelled = client.post(
        f"/v1/bookings/{booking['id']}/cancel", headers={**patient, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert cancelled.status_code == 200
    events = db.exec(select(WebhookEvent).order_by(WebhookEvent.created_at)).all()  # type: ignore[arg-type]
    assert [e.event_type for e in events] == ["booking.created", "booking.cancelled"]
    assert events[0].payload["booking_id"] == booking["id"] and events[0].payload["status"] == "booked"

    assert (
        client.delete(f"/v1/hospital/webhooks/{registered.json()['id']}", headers=headers).status_code == 204
    )
    bad = client.post("/v1/hospital/webhooks", json={"url": "ftp://his.example.uz"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_webhook_url"


def test_fhir_views_validate_as_r4(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    his, _ = make_hospital_client(db, setup.clinic)
    headers = hospital_headers(his)
    slot = free_slots(client, setup.clinic.id, days=2)[10]
    booking = book(client, sign_in(db, make_user(db, full_name="Aziza Yunusova")), slot["id"])

    schedules = client.get("/v1/hospital/fhir/Schedule", headers=headers)
    assert schedules.headers["content-type"] == "application/fhir+json"
    assert Bundle.model_validate(schedules.json()).total == 1
    slots = Bundle.model_validate(
        client.get("/v1/hospital/fhir/Slot", params={"days": 2}, headers=headers).json()
    )
    statuses = {entry.resource.status for entry in slots.entry or []}  # type: ignore[union-attr]
    assert statuses == {"free", "busy"}
    appointment = Appointment.model_validate(
        client.get(f"/v1/hospital/fhir/Appointment/{booking['id']}", headers=headers).json()
    )
    assert appointment.status == "booked"
    row = db.get(Booking, uuid.UUID(booking["id"]))
    assert row is not None
    day = row.starts_at.astimezone(ZoneInfo(setup.clinic.time_zone)).date()
    of_day = Bundle.model_validate(
        client.get("/v1/hospital/fhir/Appointment", params={"date": day.isoformat()}, headers=headers).json()
    )
    assert of_day.total == 1
    other_his, _ = make_hospital_client(db, bookable_clinic(client, db).clinic)
    foreign = client.get(
        f"/v1/hospital/fhir/Appointment/{booking['id']}", headers=hospital_headers(other_his)
    )
    assert foreign.status_code == 404
