"""The portal's pages over HTTP (TestClient, in the test's rolled-back transaction): signing in
and out, the staff's schedule and bookings, the clinicians' review, and every kind of bad input
answered by a page in the reader's language with nothing half saved."""

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import Response
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from booking.models import Booking, BookingStatus, Resource, Schedule, Slot, SlotStatus
from notifications.models import Notification, NotificationKind
from services.accounts.models import AuthSession, Role, User
from services.clinics.models import Clinic
from services.db import utcnow
from services.portal.session import SESSION_COOKIE, sign_in_cookie
from services.security import create_access_token
from services.studies.models import AuditEvent, StudyReview
from tests.booking.support import free_slots
from tests.services.portal.support import csrf_of, make_urgent, portal_log_in, post_form, text_of
from tests.services.studies.support import READING, make_analysed_study
from tests.support import PASSWORD, make_clinic, make_user, settings_changed, sign_in


@pytest.fixture
def clinic(db: Session) -> Clinic:
    return make_clinic(db)


def _staff(db: Session, *clinics: Clinic, role: Role = Role.clinic_staff, **fields: Any) -> User:
    return make_user(
        db, role, clinics=clinics, full_name=fields.pop("full_name", "Malika Yusupova"), **fields
    )


def _signed_in(client: TestClient, user: User) -> None:
    response = portal_log_in(client, user.email)
    assert response.status_code == 303, response.text


def _today(clinic: Clinic) -> date:
    return utcnow().astimezone(ZoneInfo(clinic.time_zone)).date()


def _count(db: Session, model: type) -> int:
    return db.exec(select(func.count()).select_from(model)).one()


# ------------------------------------------------------------------ signing in


def test_login_page_speaks_the_chosen_language(client: TestClient) -> None:
    assert "Sign in to the clinic portal" in text_of(client.get("/portal/login"))
    russian = client.get("/portal/login?lang=ru")
    assert "Вход в портал клиники" in text_of(russian)
    assert russian.headers["content-language"] == "ru"
    # The choice is remembered for the next pages.
    assert "Vhod" not in text_of(client.get("/portal/login"))
    assert "Вход в портал клиники" in text_of(client.get("/portal/login"))
    assert "Klinika portaliga kirish" in text_of(client.get("/portal/login?lang=uz"))


def test_staff_signs_in_with_a_secure_cookie_and_lands_on_the_day(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    staff = _staff(db, clinic)
    response = portal_log_in(client, staff.email)
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/portal" in cookie
    home = client.get("/portal/", follow_redirects=False)
    assert home.headers["location"] == f"/portal/clinics/{clinic.id}/day"
    day = client.get(home.headers["location"])
    assert day.status_code == 200
    assert "Malika Yusupova" in day.text
    # The sign-in made an ordinary session, listed with the person's other sessions.
    assert db.exec(select(AuthSession).where(AuthSession.user_id == staff.id)).one().revoked_at is None


def test_wrong_password_is_told_in_the_chosen_language_and_signs_nobody_in(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    staff = _staff(db, clinic)
    client.get("/portal/login?lang=ru")
    response = portal_log_in(client, staff.email, "not the password")
    assert response.status_code == 401
    assert "Неверный логин или пароль" in text_of(response) or "неверн" in text_of(response).lower()
    assert SESSION_COOKIE not in response.cookies
    assert _count_sessions(db, staff.id) == 0


def _count_sessions(db: Session, user_id: uuid.UUID) -> int:
    return len(db.exec(select(AuthSession).where(AuthSession.user_id == user_id)).all())


def test_patients_and_admins_cannot_use_the_portal(client: TestClient, db: Session) -> None:
    patient = make_user(db, Role.patient)
    response = portal_log_in(client, patient.email)
    assert response.status_code == 403
    assert "Patients use the CardioAlert app" in text_of(response)
    assert _count_sessions(db, patient.id) == 0


def test_login_throttling_is_shared_with_the_api(client: TestClient, db: Session, clinic: Clinic) -> None:
    staff = _staff(db, clinic)
    for _ in range(5):
        assert portal_log_in(client, staff.email, "wrong").status_code == 401
    api = client.post("/v1/auth/login", json={"login": staff.email, "password": PASSWORD})
    assert api.status_code == 429
    portal = portal_log_in(client, staff.email)
    assert portal.status_code == 429
    assert "Too many failed sign-in attempts" in text_of(portal)


def test_an_expired_session_asks_to_sign_in_again(client: TestClient, db: Session, clinic: Clinic) -> None:
    staff = _staff(db, clinic)
    auth_session = AuthSession(user_id=staff.id)
    db.add(auth_session)
    db.commit()
    token, _ = create_access_token(staff.id, staff.role, auth_session.id, timedelta(seconds=-5))
    client.cookies.set(SESSION_COOKIE, token, path="/portal")
    day_url = f"/portal/clinics/{clinic.id}/day"
    response = client.get(day_url + "?lang=uz", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/portal/login?next=")
    assert "expired=1" in response.headers["location"]
    login = client.get(response.headers["location"])
    assert "Seansingiz muddati tugadi" in text_of(login)
    # Signing in sends the person back where they were going.
    again = client.post(
        "/portal/login",
        data={"csrf_token": csrf_of(login), "login": staff.email, "password": PASSWORD, "next": day_url},
        follow_redirects=False,
    )
    assert again.headers["location"] == day_url


def test_a_working_session_is_renewed_but_not_past_its_last_hour(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    staff = _staff(db, clinic)
    auth_session = AuthSession(user_id=staff.id)
    db.add(auth_session)
    db.commit()
    day_url = f"/portal/clinics/{clinic.id}/day"

    def renewed_with(token: str) -> bool:
        client.cookies.set(SESSION_COOKIE, token, path="/portal")
        response = client.get(day_url, follow_redirects=False)
        assert response.status_code == 200
        return any(h.startswith(SESSION_COOKIE + "=") for h in response.headers.get_list("set-cookie"))

    fresh, _ = create_access_token(staff.id, staff.role, auth_session.id, timedelta(minutes=29))
    half_gone, _ = create_access_token(staff.id, staff.role, auth_session.id, timedelta(minutes=10))
    assert not renewed_with(fresh)
    assert renewed_with(half_gone)
    auth_session.created_at = utcnow() - timedelta(hours=13)  # signed in before the 12 h limit
    db.add(auth_session)
    db.commit()
    assert not renewed_with(half_gone)


def test_logout_ends_the_session_at_once(client: TestClient, db: Session, clinic: Clinic) -> None:
    staff = _staff(db, clinic)
    _signed_in(client, staff)
    day_url = f"/portal/clinics/{clinic.id}/day"
    stolen = client.cookies.get(SESSION_COOKIE)
    assert post_form(client, "/portal/logout", {}, page=day_url).status_code == 303
    client.cookies.set(SESSION_COOKIE, stolen or "", path="/portal")  # a copy of the cookie kept elsewhere
    assert client.get(day_url, follow_redirects=False).headers["location"].startswith("/portal/login")


def test_the_session_cookie_is_secure_in_production() -> None:
    response = Response()
    with settings_changed(CARDIOALERT_ENVIRONMENT="production"):
        sign_in_cookie(response, "token")
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_next_after_login_stays_inside_the_portal(client: TestClient, db: Session, clinic: Clinic) -> None:
    staff = _staff(db, clinic)
    response = portal_log_in(client, staff.email, next="https://evil.example/steal")
    assert response.headers["location"] == "/portal/"


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient, clinic: Clinic) -> None:
    response = client.get(f"/portal/clinics/{clinic.id}/studies", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/portal/login?next=")


# ------------------------------------------------------------------ other clinics, other roles


def test_staff_of_one_clinic_cannot_open_another_clinics_pages(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    other = make_clinic(db)
    _signed_in(client, _staff(db, clinic))
    client.get("/portal/login?lang=ru")
    for page in ("day", "week", "schedules", "schedules/new", "exceptions/new", "studies"):
        response = client.get(f"/portal/clinics/{other.id}/{page}")
        assert response.status_code in (403, 404), page
        assert "Вход" not in text_of(response)
        assert response.headers["content-type"].startswith("text/html")
    assert "Не найдено" in text_of(client.get(f"/portal/clinics/{other.id}/day"))


def test_a_clinician_cannot_run_the_schedule(client: TestClient, db: Session, clinic: Clinic) -> None:
    _signed_in(client, _staff(db, clinic, role=Role.clinician))
    response = client.get(f"/portal/clinics/{clinic.id}/schedules")
    assert response.status_code == 403
    assert "not allowed" in text_of(response)
    home = client.get("/portal/", follow_redirects=False)
    assert home.headers["location"] == f"/portal/clinics/{clinic.id}/studies"


def test_unknown_portal_pages_are_html_404s(client: TestClient) -> None:
    response = client.get("/portal/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_pages_carry_security_headers(client: TestClient) -> None:
    response = client.get("/portal/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


# ------------------------------------------------------------------ CSRF


def test_forms_without_a_valid_csrf_token_change_nothing(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    _signed_in(client, _staff(db, clinic))
    path = f"/portal/clinics/{clinic.id}/resources"
    before = _count(db, Resource)
    missing = client.post(path, data={"name": "ECG room 1", "kind": "room"}, follow_redirects=False)
    forged = client.post(path, data={"name": "ECG room 1", "kind": "room", "csrf_token": "x" * 64})
    assert (missing.status_code, forged.status_code) == (403, 403)
    assert "Reload the page and try again" in text_of(missing)
    assert _count(db, Resource) == before


def test_the_login_form_needs_its_csrf_token(client: TestClient, db: Session, clinic: Clinic) -> None:
    staff = _staff(db, clinic)
    response = client.post("/portal/login", data={"login": staff.email, "password": PASSWORD})
    assert response.status_code == 403
    assert _count_sessions(db, staff.id) == 0


def test_a_csrf_token_works_only_for_its_own_session(client: TestClient, db: Session, clinic: Clinic) -> None:
    _signed_in(client, _staff(db, clinic))
    token = csrf_of(client.get(f"/portal/clinics/{clinic.id}/schedules"))
    other = TestClient(client.app)
    _signed_in(other, _staff(db, clinic, full_name="Other Person"))
    response = other.post(
        f"/portal/clinics/{clinic.id}/resources",
        data={"csrf_token": token, "name": "ECG room 9", "kind": "room"},
        follow_redirects=False,
    )
    assert response.status_code == 403


# ------------------------------------------------------------------ schedules


def _add_room(client: TestClient, clinic: Clinic, name: str = "ECG room 1") -> None:
    path = f"/portal/clinics/{clinic.id}/resources"
    response = post_form(
        client, path, {"name": name, "kind": "room"}, page=path.replace("resources", "schedules")
    )
    assert response.status_code == 303, response.text


def _schedule_form(clinic: Clinic, room: Resource, **changes: str) -> dict[str, str]:
    form = {
        "resource_id": str(room.id),
        "service": "ecg",
        "slot_minutes": "30",
        "capacity": "1",
        "valid_from": _today(clinic).isoformat(),
        "valid_until": "",
    }
    for weekday in range(7):  # open all day, every day: there are free times whenever the test runs
        form[f"rule-{weekday}-0-start"] = "00:00"
        form[f"rule-{weekday}-0-end"] = "24:00"
    form.update(changes)
    return form


def _room(db: Session, clinic: Clinic) -> Resource:
    return db.exec(select(Resource).where(Resource.clinic_id == clinic.id)).one()


def _clinic_with_schedule(client: TestClient, db: Session, clinic: Clinic) -> Resource:
    """Signed in as the clinic's staff, with a room open all day every day (via the portal)."""
    _signed_in(client, _staff(db, clinic))
    _add_room(client, clinic)
    room = _room(db, clinic)
    path = f"/portal/clinics/{clinic.id}/schedules/new"
    assert post_form(client, path, _schedule_form(clinic, room)).status_code == 303
    return room


def test_staff_create_a_schedule_and_its_times_become_bookable(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    _signed_in(client, _staff(db, clinic))
    _add_room(client, clinic)
    room = _room(db, clinic)
    path = f"/portal/clinics/{clinic.id}/schedules/new"
    response = post_form(client, path, _schedule_form(clinic, room))
    assert response.status_code == 303, text_of(response)
    page = client.get(response.headers["location"])
    assert "Schedule saved" in text_of(page)
    assert "ECG room 1" in text_of(page)
    assert free_slots(client, clinic.id)


def test_a_schedule_ending_before_it_starts_is_refused_with_a_message_and_nothing_saved(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    _signed_in(client, _staff(db, clinic))
    _add_room(client, clinic)
    room = _room(db, clinic)
    client.get("/portal/login?lang=ru")
    path = f"/portal/clinics/{clinic.id}/schedules/new"
    before = (_count(db, Schedule), _count(db, Slot))
    form = _schedule_form(clinic, room, **{"rule-2-0-start": "14:00", "rule-2-0-end": "09:00"})
    response = post_form(client, path, form)
    assert response.status_code == 422
    text = text_of(response)
    assert "Окончание должно быть позже начала" in text
    assert 'value="14:00"' in response.text  # the form keeps what was typed
    last_day_first = _schedule_form(
        clinic, room, valid_until=(_today(clinic) - timedelta(days=1)).isoformat()
    )
    response = post_form(client, path, last_day_first)
    assert response.status_code == 422
    assert (_count(db, Schedule), _count(db, Slot)) == before


def test_a_schedule_refused_by_the_booking_rules_leaves_nothing_behind(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    room = _clinic_with_schedule(client, db, clinic)
    path = f"/portal/clinics/{clinic.id}/schedules/new"
    before = (_count(db, Schedule), _count(db, Slot))
    response = post_form(client, path, _schedule_form(clinic, room, slot_minutes="20"))
    assert response.status_code == 409
    assert "overlaps another schedule" in text_of(response)
    assert (_count(db, Schedule), _count(db, Slot)) == before


def test_changing_a_schedule_keeps_booked_patients_and_applies_from_its_first_day(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    room = _clinic_with_schedule(client, db, clinic)
    from_day = _today(clinic) + timedelta(days=3)
    evening = datetime.combine(from_day + timedelta(days=1), time(20, 0), tzinfo=ZoneInfo(clinic.time_zone))
    # A minute early: the first slot at or after that moment is the one at 20:00.
    _, booking = _booked_patient(client, db, clinic, after=evening - utcnow() - timedelta(minutes=1), days=7)
    base = f"/portal/clinics/{clinic.id}/schedules"
    old = db.exec(select(Schedule).where(Schedule.clinic_id == clinic.id)).one()
    page = client.get(f"{base}/{old.id}/edit")
    assert 'value="00:00"' in page.text  # the form shows the schedule as it is

    def change(start: str, end: str) -> Response:
        form = _schedule_form(clinic, room, valid_from=from_day.isoformat(), slot_minutes="15")
        for weekday in range(7):
            form[f"rule-{weekday}-0-start"], form[f"rule-{weekday}-0-end"] = start, end
        return post_form(client, f"{base}/{old.id}/edit", form)

    # Quarter-hour slots across the booked half hour at 20:00 would overlap it: refused, and the
    # old schedule is left exactly as it was.
    refused = change("18:00", "22:00")
    assert refused.status_code == 409
    db.refresh(old)
    assert (old.active, old.valid_until, _count(db, Schedule)) == (True, None, 1)

    response = change("09:00", "12:00")
    assert response.status_code == 303, text_of(response)
    db.refresh(old)
    assert old.valid_until == from_day - timedelta(days=1)
    current = db.exec(
        select(Schedule).where(Schedule.clinic_id == clinic.id, col(Schedule.id) != old.id)
    ).one()
    assert (current.valid_from, current.slot_minutes, current.rules[0]["start"]) == (from_day, 15, "09:00")
    db.refresh(booking)
    assert booking.status is BookingStatus.booked and db.get(Slot, booking.slot_id) is not None


def test_ending_a_schedule(client: TestClient, db: Session, clinic: Clinic) -> None:
    _clinic_with_schedule(client, db, clinic)
    base = f"/portal/clinics/{clinic.id}/schedules"
    schedule = db.exec(select(Schedule).where(Schedule.clinic_id == clinic.id)).one()
    assert post_form(client, f"{base}/{schedule.id}/end", {"next": base}, page=base).status_code == 303
    db.refresh(schedule)
    assert not schedule.active
    assert "Schedule ended" in text_of(client.get(base))


# ------------------------------------------------------------------ the day's bookings


def _booked_patient(
    client: TestClient, db: Session, clinic: Clinic, after: timedelta = timedelta(hours=6), days: int = 3
) -> tuple[User, Booking]:
    """A patient who booked a free slot of the clinic through the app's API."""
    patient = make_user(db, Role.patient, full_name="Dilnoza Karimova", phone="+998901234567")
    headers = sign_in(db, patient)
    threshold = utcnow() + after
    slots = free_slots(client, clinic.id, days=days)
    slot = next(
        s for s in slots if s["starts_at"] >= threshold.astimezone(ZoneInfo(clinic.time_zone)).isoformat()
    )
    held = client.post(
        "/v1/bookings",
        json={"slot_id": slot["id"]},
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert held.status_code == 201, held.text
    booking_id = held.json()["id"]
    confirmed = client.post(
        f"/v1/bookings/{booking_id}/confirm", headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert confirmed.status_code == 200, confirmed.text
    booking = db.get(Booking, uuid.UUID(booking_id))
    assert booking is not None
    return patient, booking


def _day_url(clinic: Clinic, booking: Booking) -> str:
    day = booking.starts_at.astimezone(ZoneInfo(clinic.time_zone)).date()
    return f"/portal/clinics/{clinic.id}/day?date={day.isoformat()}"


def test_a_patients_booking_shows_on_the_day_and_the_week_and_staff_record_the_visit(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    _clinic_with_schedule(client, db, clinic)
    _, booking = _booked_patient(client, db, clinic)
    day_url = _day_url(clinic, booking)
    day = client.get(day_url)
    assert "Dilnoza Karimova" in day.text and "+998901234567" in day.text
    week = client.get(day_url.replace("/day?", "/week?"))
    assert "Dilnoza Karimova" in week.text
    status_url = f"/portal/clinics/{clinic.id}/bookings/{booking.id}/status"
    response = post_form(client, status_url, {"status": "arrived", "next": day_url}, page=day_url)
    assert response.status_code == 303 and response.headers["location"] == day_url
    assert "Dilnoza Karimova: Arrived." in text_of(client.get(day_url))
    db.refresh(booking)
    assert booking.status is BookingStatus.arrived
    # A change the booking rules refuse is told on the page, and changes nothing.
    response = post_form(client, status_url, {"status": "noshow", "next": day_url}, page=day_url)
    assert response.status_code == 303
    assert "can no longer be changed" in text_of(client.get(day_url))
    db.refresh(booking)
    assert booking.status is BookingStatus.arrived


def test_staff_cancel_a_booking_and_the_patient_is_notified(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    _clinic_with_schedule(client, db, clinic)
    patient, booking = _booked_patient(client, db, clinic)
    day_url = _day_url(clinic, booking)
    cancel = f"/portal/clinics/{clinic.id}/bookings/{booking.id}/cancel"
    response = post_form(client, cancel, {"reason": "doctor_unavailable", "next": day_url}, page=day_url)
    assert response.status_code == 303
    db.refresh(booking)
    assert (booking.status, booking.cancel_reason) == (BookingStatus.cancelled, "doctor_unavailable")
    kinds = db.exec(select(Notification.kind).where(Notification.user_id == patient.id)).all()
    assert NotificationKind.booking_cancelled in kinds


def test_staff_move_a_booking_and_the_patient_is_notified(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    _clinic_with_schedule(client, db, clinic)
    patient, booking = _booked_patient(client, db, clinic)
    move = f"/portal/clinics/{clinic.id}/bookings/{booking.id}/move"
    page = client.get(move)
    assert page.status_code == 200 and "Dilnoza Karimova" in page.text
    target = db.exec(
        select(Slot)
        .where(Slot.clinic_id == clinic.id, col(Slot.starts_at) > booking.starts_at, Slot.booked_count == 0)
        .order_by(col(Slot.starts_at))
    ).first()
    assert target is not None and str(target.id) in page.text
    response = post_form(client, move, {"slot_id": str(target.id)})
    assert response.status_code == 303
    db.refresh(booking)
    assert booking.slot_id == target.id
    kinds = db.exec(select(Notification.kind).where(Notification.user_id == patient.id)).all()
    assert NotificationKind.booking_changed in kinds
    assert "is moved to" in text_of(client.get(response.headers["location"]))


def test_blocking_a_booked_time_asks_what_to_do_with_the_patient(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    _clinic_with_schedule(client, db, clinic)
    _, booking = _booked_patient(client, db, clinic)
    day_url = _day_url(clinic, booking)
    blocked_id = booking.slot_id  # the app's session is the test's: `booking` follows the move
    block = f"/portal/clinics/{clinic.id}/slots/{blocked_id}/block"
    response = post_form(client, block, {"reason": "ECG device out of order", "next": day_url}, page=day_url)
    assert response.status_code == 303
    assert "Patients are booked at this time" in text_of(client.get(day_url))
    assert db.get(Slot, booking.slot_id).status is SlotStatus.open
    response = post_form(
        client,
        block,
        {"reason": "ECG device out of order", "on_bookings": "move", "next": day_url},
        page=day_url,
    )
    assert response.status_code == 303
    slot = db.get(Slot, blocked_id)
    db.refresh(slot)
    assert slot.status is SlotStatus.blocked
    db.refresh(booking)
    assert booking.slot_id != slot.id and booking.status is BookingStatus.booked
    unblock = block.replace("/block", "/unblock")
    assert post_form(client, unblock, {"next": day_url}, page=day_url).status_code == 303
    db.refresh(slot)
    assert slot.status is SlotStatus.open


def test_closing_the_clinic_with_bookings_in_the_way_is_refused_until_staff_choose(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    _clinic_with_schedule(client, db, clinic)
    _, booking = _booked_patient(client, db, clinic)
    local = booking.starts_at.astimezone(ZoneInfo(clinic.time_zone))
    path = f"/portal/clinics/{clinic.id}/exceptions/new"

    def span(starts: datetime, ends: datetime) -> dict[str, str]:
        return {
            "starts_date": starts.date().isoformat(),
            "starts_time": starts.strftime("%H:%M"),
            "ends_date": ends.date().isoformat(),
            "ends_time": ends.strftime("%H:%M"),
        }

    form = {
        "resource_id": "",
        **span(local, local + timedelta(minutes=30)),
        "reason": "Water pipe repair",
        "on_bookings": "",
    }
    before = _count(db, Slot)
    response = post_form(client, path, form)
    assert response.status_code == 409
    assert "Say whether to move or cancel" in text_of(response)
    backwards = {**form, **span(local, local - timedelta(minutes=30))}
    response = post_form(client, path, backwards)
    assert response.status_code == 422
    assert "The end must be after the start." in text_of(response)
    response = post_form(client, path, {**form, "on_bookings": "cancel"})
    assert response.status_code == 303
    db.refresh(booking)
    assert booking.status is BookingStatus.cancelled
    assert _count(db, Slot) == before


# ------------------------------------------------------------------ ECG studies


def test_the_worklist_puts_urgent_studies_first_and_a_clinician_reviews_one(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    routine_patient = make_user(db, full_name="Routine Patient")
    urgent_patient = make_user(db, full_name="Urgent Patient")
    make_analysed_study(db, routine_patient, clinic)
    urgent = make_analysed_study(db, urgent_patient, clinic)
    make_urgent(db, urgent.id)
    clinician = _staff(db, clinic, role=Role.clinician, full_name="Dr Aziz Rakhimov")
    _signed_in(client, clinician)
    worklist = client.get(f"/portal/clinics/{clinic.id}/studies")
    assert worklist.text.index("Urgent Patient") < worklist.text.index("Routine Patient")
    refreshed = client.get(f"/portal/clinics/{clinic.id}/studies", headers={"HX-Request": "true"})
    assert refreshed.text.lstrip().startswith("{#") is False and "<tbody" in refreshed.text
    assert "<html" not in refreshed.text
    study_url = f"/portal/clinics/{clinic.id}/studies/{urgent.id}"
    page = client.get(study_url)
    assert page.status_code == 200
    assert '<svg class="ecg"' in page.text and page.text.count('<path d="M') > 12
    assert "Where the model looked" in page.text  # the heat strip of the finding that has one
    reads = db.exec(select(AuditEvent.action).where(AuditEvent.object_id == urgent.id)).all()
    assert {"study.read", "study.signal"} <= set(reads)
    response = post_form(
        client,
        study_url + "/review",
        {"verdict": "corrected", "labels": ["AFLT"], "comment": "Flutter 2:1.", "next": study_url},
        page=study_url,
    )
    assert response.status_code == 303
    review = db.exec(select(StudyReview).where(StudyReview.study_id == urgent.id)).one()
    assert (review.verdict, review.labels, review.comment) == ("corrected", ["AFLT"], "Flutter 2:1.")
    after = client.get(study_url)
    assert "Review saved" in text_of(after) and "Dr Aziz Rakhimov" in text_of(after)
    assert "Urgent Patient" not in client.get(f"/portal/clinics/{clinic.id}/studies").text


def test_staff_see_studies_but_only_clinicians_review_them(
    client: TestClient, db: Session, clinic: Clinic
) -> None:
    study = make_analysed_study(db, make_user(db), clinic)
    _signed_in(client, _staff(db, clinic))
    study_url = f"/portal/clinics/{clinic.id}/studies/{study.id}"
    page = client.get(study_url)
    assert page.status_code == 200 and "review-form" not in page.text
    response = post_form(client, study_url + "/review", {"verdict": "confirmed"}, page=study_url)
    assert response.status_code == 403
    assert _count(db, StudyReview) == 0


def test_the_study_page_shows_the_quality_notes(client: TestClient, db: Session, clinic: Clinic) -> None:
    reading = {**READING, "quality": {"problems": ["lead_reversal", "photo_glare"], "interpretable": True}}
    study = make_analysed_study(db, make_user(db), clinic, reading)
    _signed_in(client, _staff(db, clinic, role=Role.clinician))
    page = text_of(client.get(f"/portal/clinics/{clinic.id}/studies/{study.id}"))
    assert "Notes on the recording" in page
    assert "The left and right arm electrodes look swapped" in page and "(photo_glare)" in page


def test_a_study_of_another_clinic_is_not_found(client: TestClient, db: Session, clinic: Clinic) -> None:
    other = make_clinic(db)
    study = make_analysed_study(db, make_user(db), other)
    _signed_in(client, _staff(db, clinic, other, role=Role.clinician))
    # Through the wrong clinic's address, and through a clinic the clinician does not belong to.
    assert client.get(f"/portal/clinics/{clinic.id}/studies/{study.id}").status_code == 404
    outsider = TestClient(client.app)
    _signed_in(outsider, _staff(db, clinic, role=Role.clinician, full_name="Outsider"))
    assert outsider.get(f"/portal/clinics/{other.id}/studies/{study.id}").status_code == 404
