"""Clinic staff: schedules, exceptions, blocked slots, the day's list, and visit statuses."""

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from booking.models import Booking, BookingStatus, Slot, SlotStatus
from booking.slots import WeeklyRule, parse_clock, slot_times
from notifications.models import Notification, NotificationKind
from services.accounts.models import Role
from services.clinics.models import ClinicClosure
from services.db import utcnow
from tests.booking.support import bookable_clinic, free_slots
from tests.booking.test_booking_api import book
from tests.support import make_clinic, make_user, sign_in


def test_schedule_input_is_checked(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db, rules=[{"weekday": 0, "start": "08:00", "end": "12:00"}])
    url = f"/v1/staff/clinics/{setup.clinic.id}/schedules"
    base = {
        "resource_id": setup.resource_id,
        "service": "ecg",
        "slot_minutes": 15,
        "capacity": 1,
        "valid_from": (date.today() + timedelta(days=1)).isoformat(),
    }
    headers = {**setup.staff_headers, "Accept-Language": "ru"}

    zero = client.post(
        url,
        json={**base, "capacity": 0, "rules": [{"weekday": 1, "start": "08:00", "end": "09:00"}]},
        headers=headers,
    )
    assert zero.status_code == 422 and zero.json()["errors"][0]["pointer"] == "#/capacity"
    backwards = client.post(
        url, json={**base, "rules": [{"weekday": 1, "start": "12:00", "end": "08:00"}]}, headers=headers
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["code"] == "end_before_start"
    overlapping = client.post(
        url, json={**base, "rules": [{"weekday": 0, "start": "11:00", "end": "13:00"}]}, headers=headers
    )
    assert overlapping.status_code == 409 and overlapping.json()["code"] == "schedule_overlaps"
    assert overlapping.json()["title"] == "Расписания пересекаются"
    past = client.post(
        url,
        json={
            **base,
            "valid_from": "2020-01-01",
            "rules": [{"weekday": 3, "start": "08:00", "end": "09:00"}],
        },
        headers=headers,
    )
    assert past.status_code == 422 and past.json()["code"] == "schedule_starts_in_past"
    unknown = client.post(
        url,
        json={
            **base,
            "resource_id": str(uuid.uuid4()),
            "rules": [{"weekday": 4, "start": "08:00", "end": "09:00"}],
        },
        headers=headers,
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "resource_not_found"
    other_clinic = make_clinic(db)
    foreign = client.post(
        f"/v1/staff/clinics/{other_clinic.id}/schedules",
        json={**base, "rules": [{"weekday": 5, "start": "08:00", "end": "09:00"}]},
        headers=headers,
    )
    assert foreign.status_code == 404 and foreign.json()["code"] == "clinic_not_found"


def test_ending_a_schedule_removes_free_slots_and_keeps_booked_ones(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    slots = free_slots(client, setup.clinic.id)
    booking = book(client, sign_in(db, make_user(db)), slots[4]["id"])
    response = client.delete(
        f"/v1/staff/clinics/{setup.clinic.id}/schedules/{setup.schedule_id}", headers=setup.staff_headers
    )
    assert response.status_code == 204
    assert free_slots(client, setup.clinic.id) == []
    assert db.get(Booking, uuid.UUID(booking["id"])).status is BookingStatus.booked  # type: ignore[union-attr]
    assert db.get(Slot, uuid.UUID(slots[4]["id"])) is not None


def test_blocking_a_booked_slot_needs_a_decision_then_moves_or_cancels(
    client: TestClient, db: Session
) -> None:
    setup = bookable_clinic(client, db, capacity=2)
    slots = free_slots(client, setup.clinic.id)
    first = book(client, sign_in(db, make_user(db)), slots[3]["id"])
    second = book(client, sign_in(db, make_user(db)), slots[3]["id"])

    undecided = client.post(
        f"/v1/staff/slots/{slots[3]['id']}/block",
        json={"reason": "ECG device repair"},
        headers=setup.staff_headers,
    )
    assert undecided.status_code == 409
    assert set(undecided.json()["booking_ids"]) == {first["id"], second["id"]}
    assert db.get(Slot, uuid.UUID(slots[3]["id"])).status is SlotStatus.open  # type: ignore[union-attr]

    moved = client.post(
        f"/v1/staff/slots/{slots[3]['id']}/block",
        json={"reason": "ECG device repair", "on_bookings": "move"},
        headers=setup.staff_headers,
    )
    assert moved.json() == {"blocked_slots": 1, "moved_bookings": 2, "cancelled_bookings": 0}
    rows = {b.id: b for b in db.exec(select(Booking)).all()}
    new_slots = {rows[uuid.UUID(first["id"])].slot_id, rows[uuid.UUID(second["id"])].slot_id}
    assert uuid.UUID(slots[3]["id"]) not in new_slots
    kinds = {n.kind for n in db.exec(select(Notification)).all() if n.params.get("booking_id") == first["id"]}
    assert NotificationKind.booking_changed in kinds
    assert slots[3]["id"] not in {s["id"] for s in free_slots(client, setup.clinic.id)}

    target = rows[uuid.UUID(first["id"])].slot_id
    cancelled = client.post(
        f"/v1/staff/slots/{target}/block",
        json={"reason": "closed", "on_bookings": "cancel"},
        headers=setup.staff_headers,
    )
    assert cancelled.json()["cancelled_bookings"] >= 1
    db.expire_all()
    assert db.get(Booking, uuid.UUID(first["id"])).cancel_reason == "clinic"  # type: ignore[union-attr]
    cancel_notice = [
        n
        for n in db.exec(select(Notification)).all()
        if n.params.get("booking_id") == first["id"] and n.kind is NotificationKind.booking_cancelled
    ]
    assert len(cancel_notice) == 1

    reopened = client.post(f"/v1/staff/slots/{slots[3]['id']}/unblock", headers=setup.staff_headers)
    assert reopened.json()["status"] == "open"


def test_a_clinic_closure_blocks_its_span_and_moves_bookings_out(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    zone = ZoneInfo(setup.clinic.time_zone)
    tomorrow = utcnow().astimezone(zone).date() + timedelta(days=1)
    day_start = datetime.combine(tomorrow, datetime.min.time(), tzinfo=zone)
    slots = free_slots(client, setup.clinic.id, days=1, from_day=tomorrow)
    booking = book(client, sign_in(db, make_user(db)), slots[20]["id"])
    response = client.post(
        f"/v1/staff/clinics/{setup.clinic.id}/exceptions",
        json={
            "starts_at": day_start.isoformat(),
            "ends_at": (day_start + timedelta(days=1)).isoformat(),
            "reason": "Constitution Day",
            "on_bookings": "move",
        },
        headers=setup.staff_headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["moved_bookings"] == 1
    assert response.json()["blocked_slots"] == 48
    assert free_slots(client, setup.clinic.id, days=1, from_day=tomorrow) == []
    moved = db.get(Booking, uuid.UUID(booking["id"]))
    assert moved is not None and moved.starts_at >= day_start + timedelta(days=1)


def test_the_day_view_lists_patients_on_the_clinics_clock(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    zone = ZoneInfo(setup.clinic.time_zone)
    tomorrow = utcnow().astimezone(zone).date() + timedelta(days=1)
    slots = free_slots(client, setup.clinic.id, days=1, from_day=tomorrow)
    patient = make_user(db, full_name="Aziza Yunusova", phone="+998935550011", email=None)
    book(client, sign_in(db, patient), slots[18]["id"])  # 09:00 local
    day = client.get(
        f"/v1/staff/clinics/{setup.clinic.id}/bookings",
        params={"date": tomorrow.isoformat()},
        headers=setup.staff_headers,
    )
    assert day.status_code == 200
    (item,) = day.json()["items"]
    assert item["starts_at"] == f"{tomorrow.isoformat()}T09:00:00+05:00"
    assert (item["patient_name"], item["patient_phone"], item["resource_name"]) == (
        "Aziza Yunusova",
        "+998935550011",
        "ECG room 1",
    )
    other = client.get(
        f"/v1/staff/clinics/{make_clinic(db).id}/bookings",
        params={"date": tomorrow.isoformat()},
        headers=setup.staff_headers,
    )
    assert other.status_code == 404


def test_visit_statuses_follow_the_fhir_flow(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    booking = book(client, sign_in(db, make_user(db)), free_slots(client, setup.clinic.id)[2]["id"])
    url = f"/v1/staff/bookings/{booking['id']}/status"
    fulfilled_first = client.post(url, json={"status": "arrived"}, headers=setup.staff_headers)
    assert fulfilled_first.json()["status"] == "arrived"
    again = client.post(url, json={"status": "arrived"}, headers=setup.staff_headers)
    assert again.status_code == 200  # repeating a status is harmless
    noshow = client.post(url, json={"status": "noshow"}, headers=setup.staff_headers)
    assert noshow.status_code == 409 and noshow.json()["code"] == "booking_status_conflict"
    assert (
        client.post(url, json={"status": "fulfilled"}, headers=setup.staff_headers).json()["status"]
        == "fulfilled"
    )
    bad = client.post(url, json={"status": "booked"}, headers=setup.staff_headers)
    assert bad.status_code == 422


def test_staff_of_another_clinic_reach_nothing_here(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(client, db)
    booking = book(client, sign_in(db, make_user(db)), free_slots(client, setup.clinic.id)[2]["id"])
    outsider = sign_in(db, make_user(db, Role.clinic_staff, clinics=[make_clinic(db)]))
    assert (
        client.post(
            f"/v1/staff/bookings/{booking['id']}/status", json={"status": "arrived"}, headers=outsider
        ).status_code
        == 404
    )
    slot_id = free_slots(client, setup.clinic.id)[0]["id"]
    assert (
        client.post(f"/v1/staff/slots/{slot_id}/block", json={"reason": "x"}, headers=outsider).status_code
        == 404
    )
    assert client.get(f"/v1/staff/clinics/{setup.clinic.id}/resources", headers=outsider).status_code == 404


def test_slot_times_keep_the_local_clock_across_daylight_saving() -> None:
    rules = [WeeklyRule(weekday, parse_clock("09:00"), parse_clock("10:00")) for weekday in range(7)]
    times = slot_times(rules, 60, "Europe/Berlin", date(2027, 3, 27), date(2027, 3, 29))
    assert [start.isoformat() for start, _ in times] == [
        "2027-03-27T08:00:00+00:00",  # 09:00 CET (UTC+1)
        "2027-03-28T07:00:00+00:00",  # 09:00 CEST (UTC+2): the clocks went forward that night
        "2027-03-29T07:00:00+00:00",
    ]


def test_a_skipped_local_hour_gives_no_slot_and_a_repeated_one_gives_one() -> None:
    night = [WeeklyRule(6, parse_clock("02:00"), parse_clock("03:00"))]  # Sundays
    assert slot_times(night, 30, "Europe/Berlin", date(2027, 3, 28), date(2027, 3, 28)) == []
    autumn = slot_times(night, 30, "Europe/Berlin", date(2027, 10, 31), date(2027, 10, 31))
    assert [start.isoformat() for start, _ in autumn] == [
        "2027-10-31T00:00:00+00:00",
        "2027-10-31T00:30:00+00:00",
    ]


def test_a_clinic_in_a_dst_zone_shows_slots_on_its_clock(client: TestClient, db: Session) -> None:
    setup = bookable_clinic(
        client,
        db,
        time_zone="America/New_York",
        rules=[{"weekday": d, "start": "09:00", "end": "10:00"} for d in range(7)],
    )
    slots = free_slots(client, setup.clinic.id, days=7)
    assert slots
    assert all(datetime.fromisoformat(s["starts_at"]).strftime("%H:%M") in {"09:00", "09:30"} for s in slots)
    assert all(s["starts_at"][-6:] in {"-05:00", "-04:00"} for s in slots)


def test_the_clinics_closure_days_give_no_bookable_slots(client: TestClient, db: Session) -> None:
    clinic = make_clinic(db, time_zone="Asia/Tashkent")
    tomorrow = utcnow().astimezone(ZoneInfo("Asia/Tashkent")).date() + timedelta(days=1)
    db.add(
        ClinicClosure(
            clinic_id=clinic.id, day=tomorrow, reason={"en": "Holiday", "ru": "Праздник", "uz": "Bayram"}
        )
    )
    db.commit()
    staff = sign_in(db, make_user(db, Role.clinic_staff, clinics=[clinic]))
    resource = client.post(
        f"/v1/staff/clinics/{clinic.id}/resources", json={"name": "Room", "kind": "room"}, headers=staff
    ).json()
    client.post(
        f"/v1/staff/clinics/{clinic.id}/schedules",
        headers=staff,
        json={
            "resource_id": resource["id"],
            "service": "ecg",
            "slot_minutes": 60,
            "capacity": 1,
            "valid_from": utcnow().astimezone(ZoneInfo("Asia/Tashkent")).date().isoformat(),
            "rules": [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(7)],
        },
    )
    assert free_slots(client, clinic.id, days=1, from_day=tomorrow) == []
    assert len(free_slots(client, clinic.id, days=1, from_day=tomorrow + timedelta(days=1))) == 3
