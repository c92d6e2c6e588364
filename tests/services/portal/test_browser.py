"""The portal in a real browser: headless Chromium (Debian's chromium package) driven by
Playwright, against the app served by uvicorn on loopback over the run's database. A staff
member signs in, makes a schedule, sees a patient's booking come in and records the arrival; a
clinician reviews an urgent study. Screenshots of the main pages go to var/screenshots/.

The server has its own connections, so nothing here runs in the per-test rolled-back
transaction: the data is committed with unique names and deleted at the end."""

import secrets
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from playwright import sync_api as playwright_api
from sqlalchemy import delete
from sqlmodel import Session, col, select

from booking.models import Booking, BookingStatus
from services.accounts.models import Role, User
from services.app import create_app
from services.clinics.models import Clinic
from services.db import get_engine
from services.studies.models import Study, StudyReview
from tests.services.portal.support import make_urgent
from tests.services.studies.support import make_analysed_study
from tests.support import PASSWORD, clinic_row, make_user, sign_in

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="no Chromium: apt-get install chromium chromium-driver"
)

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
# As the machine notes prescribe for Debian's Chromium on a closed network, as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class World:
    base_url: str
    clinic: Clinic
    staff: User
    clinician: User
    patient: User
    patient_headers: dict[str, str]
    urgent_study: uuid.UUID


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the portal's server did not start"
        time.sleep(0.05)
    tag = secrets.token_hex(3)
    with Session(get_engine(), expire_on_commit=False) as db:
        clinic = clinic_row(
            slug=f"portal-browser-{tag}",
            name_en="Chilonzor Heart Centre",
            name_ru="Кардиоцентр «Чиланзар»",
            name_uz="Chilonzor yurak markazi",
        )
        db.add(clinic)
        db.commit()
        staff = make_user(db, Role.clinic_staff, clinics=[clinic], full_name="Malika Yusupova")
        clinician = make_user(db, Role.clinician, clinics=[clinic], full_name="Dr Aziz Rakhimov")
        patient = make_user(
            db, full_name="Dilnoza Karimova", phone=f"+99890{secrets.randbelow(10**7):07d}", email=None
        )
        routine = make_user(db, full_name="Bobur Aliyev")
        make_analysed_study(db, routine, clinic)
        urgent = make_analysed_study(db, patient, clinic)
        make_urgent(db, urgent.id)
        patient_headers = sign_in(db, patient)
        people = [staff.id, clinician.id, patient.id, routine.id]
    try:
        yield World(f"http://127.0.0.1:{port}", clinic, staff, clinician, patient, patient_headers, urgent.id)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        with Session(get_engine()) as db:
            # Bookings, sessions, studies and memberships go with their people and clinic.
            db.execute(delete(User).where(col(User.id).in_(people)))
            db.execute(delete(Clinic).where(col(Clinic.id) == clinic.id))
            db.commit()


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[object]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        # Playwright gives each launch a fresh, throwaway profile (user data directory).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
    print(f"\nportal screenshots: {SCREENSHOTS}")  # noqa: T201 - where to look at them


def _page(browser: object, world: World) -> tuple[object, list[str]]:
    context = browser.new_context(
        base_url=world.base_url, viewport={"width": 1366, "height": 900}, locale="en-GB"
    )  # type: ignore[attr-defined]
    page = context.new_page()
    problems: list[str] = []

    def console(message: object) -> None:
        # A CSP violation or a script error shows in the console. Pages answered 401 or 422 on
        # purpose (a wrong password, a refused form) are logged there too: those are no problem.
        text = message.text  # type: ignore[attr-defined]
        if message.type == "error" and not text.startswith("Failed to load resource"):  # type: ignore[attr-defined]
            problems.append(text)

    def response(answer: object) -> None:
        if answer.status >= 400 and answer.request.resource_type != "document":  # type: ignore[attr-defined]
            problems.append(f"{answer.status} {answer.url}")  # type: ignore[attr-defined]

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", response)
    return page, problems


def _shot(page: object, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _sign_in(page: object, user: User, password: str = PASSWORD) -> None:
    page.fill("input[name=login]", user.email or "")  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.click("form.stack button[type=submit]")  # type: ignore[attr-defined]


def _book_first_free_slot(world: World) -> datetime:
    """The patient books through the app's API, as the iOS app does."""
    with httpx.Client(base_url=world.base_url, headers=world.patient_headers) as api:
        slots = api.get(f"/v1/clinics/{world.clinic.id}/slots", params={"days": 7}).json()["items"]
        slot = slots[0]
        held = api.post(
            "/v1/bookings", json={"slot_id": slot["id"]}, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert held.status_code == 201, held.text
        confirmed = api.post(
            f"/v1/bookings/{held.json()['id']}/confirm", headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert confirmed.status_code == 200, confirmed.text
    return datetime.fromisoformat(slot["starts_at"])


def test_staff_run_their_schedule_and_see_a_booking_arrive(browser: object, world: World) -> None:
    page, problems = _page(browser, world)
    page.goto("/portal/")  # type: ignore[attr-defined]
    assert "/portal/login" in page.url  # type: ignore[attr-defined]
    _shot(page, "01-login")

    _sign_in(page, world.staff, "not the password")
    assert page.locator(".flash-error").is_visible()  # type: ignore[attr-defined]
    _shot(page, "02-login-wrong-password")
    _sign_in(page, world.staff)
    page.wait_for_url(f"**/portal/clinics/{world.clinic.id}/day")  # type: ignore[attr-defined]

    page.click("nav.sections >> text=Schedules")  # type: ignore[attr-defined]
    page.fill("input[name=name]", "ECG room 1")  # type: ignore[attr-defined]
    page.click("text=Add room or device")  # type: ignore[attr-defined]
    assert page.locator(".flash-ok").is_visible()  # type: ignore[attr-defined]

    page.click("text=New weekly schedule")  # type: ignore[attr-defined]
    for weekday in range(7):
        page.fill(f"input[name=rule-{weekday}-0-start]", "08:00")  # type: ignore[attr-defined]
        page.fill(f"input[name=rule-{weekday}-0-end]", "13:00")  # type: ignore[attr-defined]
        page.fill(f"input[name=rule-{weekday}-1-start]", "14:00")  # type: ignore[attr-defined]
        page.fill(f"input[name=rule-{weekday}-1-end]", "23:30")  # type: ignore[attr-defined]
    page.fill("input[name=slot_minutes]", "30")  # type: ignore[attr-defined]
    page.fill("input[name=rule-2-1-end]", "12:00")  # Wednesday's afternoon ends before it starts
    page.click("text=Save the schedule")  # type: ignore[attr-defined]
    assert page.locator(".field-error", has_text="The end must be after the start.").is_visible()  # type: ignore[attr-defined]
    _shot(page, "03-schedule-end-before-start")
    page.fill("input[name=rule-2-1-end]", "23:30")  # type: ignore[attr-defined]
    page.click("text=Save the schedule")  # type: ignore[attr-defined]
    page.wait_for_url("**/schedules")  # type: ignore[attr-defined]
    assert page.locator(".flash-ok", has_text="Schedule saved").is_visible()  # type: ignore[attr-defined]
    _shot(page, "04-schedules")

    starts_at = _book_first_free_slot(world)
    day = starts_at.astimezone(ZoneInfo(world.clinic.time_zone)).date()
    page.goto(f"/portal/clinics/{world.clinic.id}/day?date={day.isoformat()}")  # type: ignore[attr-defined]
    row = page.locator("table.bookings tbody tr", has_text="Dilnoza Karimova")  # type: ignore[attr-defined]
    assert row.is_visible() and world.patient.phone in row.inner_text()
    _shot(page, "05-day-with-booking")
    row.locator("button", has_text="Arrived").click()
    assert page.locator(".flash-ok", has_text="Dilnoza Karimova: Arrived.").is_visible()  # type: ignore[attr-defined]
    assert row.locator(".badge-arrived").is_visible()
    _shot(page, "06-day-arrived")

    page.click("nav.sections >> text=Week")  # type: ignore[attr-defined]
    assert page.locator(".week-item", has_text="Dilnoza Karimova").first.is_visible()  # type: ignore[attr-defined]
    _shot(page, "07-week")

    page.goto(f"/portal/clinics/{world.clinic.id}/day?date={day.isoformat()}")  # type: ignore[attr-defined]
    page.click("nav.languages >> text=Русский")  # type: ignore[attr-defined]
    assert page.locator("h2", has_text="Записи").is_visible()  # type: ignore[attr-defined]
    _shot(page, "08-day-russian")
    page.click("nav.sections >> text=Расписания")  # type: ignore[attr-defined]
    page.click("nav.languages >> text=Oʻzbekcha")  # type: ignore[attr-defined]
    assert page.locator("h1", has_text="Jadvallar").is_visible()  # type: ignore[attr-defined]
    _shot(page, "09-schedules-uzbek")

    with Session(get_engine()) as db:
        booking = db.exec(select(Booking).where(Booking.patient_id == world.patient.id)).one()
        assert booking.status is BookingStatus.arrived
    page.click("text=Chiqish")  # type: ignore[attr-defined] - "Sign out" in Uzbek
    page.wait_for_url("**/portal/login")  # type: ignore[attr-defined]
    assert problems == []


def test_a_clinician_reviews_the_most_urgent_study(browser: object, world: World) -> None:
    page, problems = _page(browser, world)
    page.goto("/portal/login?lang=en")  # type: ignore[attr-defined]
    _sign_in(page, world.clinician)
    page.wait_for_url(f"**/portal/clinics/{world.clinic.id}/studies")  # type: ignore[attr-defined]
    first = page.locator("#worklist-rows tr").first  # type: ignore[attr-defined]
    assert "Dilnoza Karimova" in first.inner_text() and first.locator(".triage-urgent").is_visible()
    _shot(page, "10-worklist")

    first.locator("a", has_text="Dilnoza Karimova").click()
    page.wait_for_selector("svg.ecg")  # type: ignore[attr-defined]
    assert page.locator("svg.ecg path").count() > 12  # type: ignore[attr-defined]
    assert page.locator("svg.heat").count() == 1  # type: ignore[attr-defined]
    _shot(page, "11-study")

    page.check("input[name=verdict][value=corrected]")  # type: ignore[attr-defined]
    page.uncheck("input[name=labels][value=AFIB]")  # type: ignore[attr-defined]
    page.check("input[name=labels][value=AFLT]")  # type: ignore[attr-defined]
    page.fill("textarea[name=comment]", "Flutter 2:1, not fibrillation.")  # type: ignore[attr-defined]
    page.click("text=Save the review")  # type: ignore[attr-defined]
    assert page.locator(".flash-ok", has_text="Review saved.").is_visible()  # type: ignore[attr-defined]
    _shot(page, "12-study-reviewed")

    with Session(get_engine()) as db:
        review = db.exec(select(StudyReview).where(StudyReview.study_id == world.urgent_study)).one()
        assert review.labels == ["STACH", "AFLT"] or set(review.labels) == {"STACH", "AFLT"}
        assert db.get(Study, world.urgent_study) is not None
    assert problems == []
