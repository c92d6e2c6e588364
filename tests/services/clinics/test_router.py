from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from clinics_seed import load_clinics, read_seed
from i18n import gettext
from services.clinics.models import ClinicClosure, ClinicService, ClinicServiceOffer
from services.clinics.service import ClinicNotFound, CoordinatesIncomplete
from tests.support import make_clinic

SAMARKAND = {"lat": 39.6547, "lon": 66.9750}  # the Registan
TASHKENT = {"lat": 41.2995, "lon": 69.2401}
TASHKENT_SAMARKAND_KM = 266  # great-circle distance between the two city centres
CHILONZOR = "tashkent-chilonzor-heart-centre"  # Mon–Fri 08–13 and 14–18; closed 2027-01-01
MIRABAD = "tashkent-mirabad-emergency-cardiology"  # open around the clock, no closures
FERGANA = "fergana-heart-ecg-clinic"
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def seeded(db: Session) -> list[dict[str, Any]]:
    load_clinics(db)
    db.commit()
    return read_seed()


def slugs(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/v1/clinics", params={"limit": 100, **params})
    assert response.status_code == 200, response.json()
    return [item["slug"] for item in response.json()["items"]]


def test_clinics_are_paged_with_a_cursor(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/clinics", params=params).json()
        seen += [item["slug"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(seeded)
    assert seen == sorted(seen)


def test_clinic_texts_follow_the_language(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    first = client.get("/v1/clinics", params={"limit": 1}).json()["items"][0]
    by_language = {
        language: client.get(f"/v1/clinics/{first['id']}", headers={"Accept-Language": language}).json()
        for language in ("en", "ru", "uz", "uz-Cyrl")
    }
    assert by_language["en"]["city"] == "Andijan"
    assert by_language["ru"]["city"] == "Андижан"
    assert by_language["uz"]["city"] == "Andijon"
    assert by_language["uz-Cyrl"]["city"] == "Андижон"
    assert by_language["ru"]["is_demo"] is True
    entry = next(entry for entry in seeded if entry["slug"] == first["slug"])
    assert by_language["ru"]["accessibility"] == entry["accessibility"]["ru"]
    assert by_language["ru"]["closures"][0]["reason"] == entry["closures"][0]["reason"]["ru"]


def test_a_forged_cursor_is_a_clear_error(client: TestClient) -> None:
    response = client.get(
        "/v1/clinics", params={"cursor": "bm90IGEgY3Vyc29y"}, headers={"Accept-Language": "uz"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"
    assert response.json()["title"] == "Sahifa kursori notoʻgʻri"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Chilonzor heart", CHILONZOR),  # English
        ("chilonzor HEART centre", CHILONZOR),
        ("Чиланзар кардиологический", CHILONZOR),  # Russian
        ("Бунедкор", CHILONZOR),  # ё typed as е (Бунёдкор)
        ("Chilonzor yurak", CHILONZOR),  # Uzbek
        ("Чилонзор юрак", CHILONZOR),  # Uzbek Cyrillic
        ("Фергана", FERGANA),
        ("Fargʻona yurak", FERGANA),  # U+02BB, as written
        ("Farg'ona", FERGANA),  # ASCII apostrophe
        ("Farg‘ona", FERGANA),  # typographic quote
        ("Fargona", FERGANA),  # no mark at all
        ("Фарғона", FERGANA),
        ("Mustaqillik kochasi", FERGANA),  # koʻchasi without the mark
    ],
)
def test_search_finds_a_clinic_in_any_language_and_script(
    client: TestClient, seeded: list[dict[str, Any]], query: str, expected: str
) -> None:
    assert expected in slugs(client, q=query)


def test_search_needs_every_word_and_takes_wildcards_literally(
    client: TestClient, seeded: list[dict[str, Any]]
) -> None:
    assert slugs(client, q="Fargona") == [FERGANA]
    assert slugs(client, q="Fargona Samarqand") == []
    assert slugs(client, q="%") == []
    assert slugs(client, q="_") == []
    assert len(slugs(client, q="   ")) == len(seeded)


def test_service_and_city_filters(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    with_stress_test = sorted(entry["slug"] for entry in seeded if "stress_test" in entry["services"])
    assert slugs(client, service="stress_test") == with_stress_test
    in_samarkand = sorted(entry["slug"] for entry in seeded if entry["city"]["en"] == "Samarkand")
    assert len(in_samarkand) == 2
    assert slugs(client, city="Samarkand") == slugs(client, city="SAMARKAND") == in_samarkand
    assert slugs(client, city="Atlantis") == []
    both = slugs(client, city="tashkent", service="stress_test")
    assert both == [slug for slug in with_stress_test if slug.startswith("tashkent-")]
    items = client.get("/v1/clinics", params={"city": "samarkand"}).json()["items"]
    assert all(item["city_slug"] == "samarkand" for item in items)
    assert all(item["services"][0] == "ecg" for item in items)


def test_distance_sort_puts_the_nearest_first(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    items = client.get("/v1/clinics", params={"limit": 100, **SAMARKAND}).json()["items"]
    assert [item["city_slug"] for item in items[:2]] == ["samarkand", "samarkand"]
    assert all(item["distance_km"] < 10 for item in items[:2])
    distances = [item["distance_km"] for item in items]
    assert distances == sorted(distances)
    tashkent = [item for item in items if item["city_slug"] == "tashkent"]
    assert all(abs(item["distance_km"] - TASHKENT_SAMARKAND_KM) < 8 for item in tashkent)
    # Each clinic is within 0.05° of its city centre, a few km at most.
    from_tashkent = client.get("/v1/clinics", params={"city": "samarkand", **TASHKENT}).json()["items"]
    assert all(abs(item["distance_km"] - TASHKENT_SAMARKAND_KM) < 8 for item in from_tashkent)
    assert all(round(item["distance_km"], 1) == item["distance_km"] for item in items)


def test_without_coordinates_there_is_no_distance(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    items = client.get("/v1/clinics").json()["items"]
    assert {item["distance_km"] for item in items} == {None}


def test_paging_by_distance_returns_every_clinic_once(
    client: TestClient, seeded: list[dict[str, Any]]
) -> None:
    seen: list[tuple[float, str]] = []
    cursor = None
    while True:
        params = {"limit": 4, **SAMARKAND, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/clinics", params=params).json()
        seen += [(item["distance_km"], item["slug"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len({slug for _, slug in seen}) == len(seen) == len(seeded)
    assert seen == sorted(seen)


def test_a_cursor_of_one_order_is_refused_by_the_other(
    client: TestClient, seeded: list[dict[str, Any]]
) -> None:
    by_distance = client.get("/v1/clinics", params={"limit": 2, **SAMARKAND}).json()["next_cursor"]
    response = client.get("/v1/clinics", params={"cursor": by_distance})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")


@pytest.mark.parametrize(
    ("moment", "chilonzor_open"),
    [
        ("2027-02-01T10:00:00+05:00", True),  # Monday morning
        ("2027-02-01T05:00:00Z", True),  # the same moment in UTC
        ("2027-02-01T12:59:00+05:00", True),
        ("2027-02-01T13:00:00+05:00", False),  # lunch break
        ("2027-02-01T13:30:00+05:00", False),
        ("2027-02-01T14:00:00+05:00", True),
        ("2027-02-01T18:00:00+05:00", False),  # closing time is not open
        ("2027-02-01T07:00:00+05:00", False),
        ("2027-02-07T10:00:00+05:00", False),  # Sunday
        ("2027-01-01T10:00:00+05:00", False),  # New Year's Day, a closure
    ],
)
def test_open_at_follows_the_hours_breaks_and_closures(
    client: TestClient, seeded: list[dict[str, Any]], moment: str, chilonzor_open: bool
) -> None:
    found = slugs(client, open_at=moment, city="tashkent")
    assert (CHILONZOR in found) is chilonzor_open
    assert MIRABAD in found


def test_open_at_reads_the_clinic_clock_across_a_dst_switch(client: TestClient, db: Session) -> None:
    # Berlin moves from UTC+1 to UTC+2 at 01:00 UTC on Sunday 28 March 2027.
    berlin = make_clinic(
        db,
        slug="berlin-test",
        city_en="Berlin",
        city_slug="berlin",
        time_zone="Europe/Berlin",
        working_hours={"sun": [["08:00", "12:00"]]},
    )
    cases = {
        "2027-03-28T08:30:00+02:00": True,
        "2027-03-28T06:30:00Z": True,  # 08:30 summer time (07:30 if the old offset were used)
        "2027-03-28T05:45:00Z": False,  # 07:45 summer time
        "2027-03-28T10:30:00Z": False,  # 12:30 summer time (11:30 with the old offset)
        "2027-03-21T07:30:00Z": True,  # a week earlier, 08:30 winter time
    }
    for moment, is_open in cases.items():
        assert (berlin.slug in slugs(client, open_at=moment, city="berlin")) is is_open, moment


def test_open_now_marks_and_filters(client: TestClient, db: Session) -> None:
    always = make_clinic(db, slug="always-open", city_slug="testville", working_hours=ALL_DAY)
    never = make_clinic(db, slug="never-open", city_slug="testville", working_hours={})
    items = client.get("/v1/clinics", params={"city": "testville"}).json()["items"]
    assert {item["slug"]: item["open_now"] for item in items} == {always.slug: True, never.slug: False}
    assert slugs(client, city="testville", open_now="true") == [always.slug]
    assert slugs(client, city="testville", open_now="false") == [always.slug, never.slug]
    # A closure today (on the clinic's calendar) closes even a clinic open around the clock.
    today = date.today()
    db.add_all(
        ClinicClosure(clinic_id=always.id, day=today + timedelta(days=offset), reason={"en": "Closed"})
        for offset in (-1, 0, 1)
    )
    db.commit()
    assert slugs(client, city="testville", open_now="true") == []


def test_the_detail_has_hours_closures_services_and_languages(client: TestClient, db: Session) -> None:
    clinic = make_clinic(
        db,
        working_hours=ALL_DAY,
        languages=["uz", "ru"],
        accessibility_en="Lift",
        accessibility_ru="Лифт",
        accessibility_uz="Lift bor",
        his_confirms_bookings=True,
    )
    today = date.today()
    db.add_all(
        [
            ClinicServiceOffer(clinic_id=clinic.id, service=ClinicService.holter),
            ClinicServiceOffer(clinic_id=clinic.id, service=ClinicService.ecg),
            *(
                ClinicClosure(
                    clinic_id=clinic.id,
                    day=today + timedelta(days=offset),
                    reason={"en": "Holiday", "ru": "Праздник", "uz": "Bayram"},
                )
                for offset in (-5, 3, 40)
            ),
        ]
    )
    db.commit()
    body = client.get(f"/v1/clinics/{clinic.id}", headers={"Accept-Language": "ru"}).json()
    assert body["working_hours"] == ALL_DAY
    assert body["services"] == ["ecg", "holter"]
    assert body["languages"] == ["uz", "ru"]
    assert body["accessibility"] == "Лифт"
    assert body["closures"] == [
        {"date": (today + timedelta(days=offset)).isoformat(), "reason": "Праздник"} for offset in (3, 40)
    ]
    assert body["distance_km"] is None
    assert "his_confirms_bookings" not in body
    cyrillic = client.get(f"/v1/clinics/{clinic.id}", headers={"Accept-Language": "uz-Cyrl"}).json()
    assert (cyrillic["accessibility"], cyrillic["closures"][0]["reason"]) == ("Лифт бор", "Байрам")
    near = client.get(f"/v1/clinics/{clinic.id}", params={"lat": 41.3, "lon": 69.24}).json()
    assert near["distance_km"] == 0.0


def test_coordinates_out_of_range_name_the_parameter(client: TestClient) -> None:
    response = client.get("/v1/clinics", params={"lat": 91, "lon": 69}, headers={"Accept-Language": "ru"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "validation_failed"
    assert [(e["parameter"], e["code"]) for e in response.json()["errors"]] == [("lat", "less_than_equal")]
    assert response.json()["errors"][0]["detail"] == gettext("Must be at most {le}.", "ru", le=90.0)
    response = client.get("/v1/clinics", params={"lat": 41, "lon": -181})
    assert [e["parameter"] for e in response.json()["errors"]] == ["lon"]


@pytest.mark.parametrize("params", [{"lat": 41.3}, {"lon": 69.2}])
def test_one_coordinate_without_the_other_is_a_clear_error(
    client: TestClient, params: dict[str, float]
) -> None:
    for path in ("/v1/clinics", "/v1/clinics/00000000-0000-4000-8000-000000000000"):
        response = client.get(path, params=params, headers={"Accept-Language": "ru"})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "coordinates_incomplete"
        assert body["title"] == gettext(CoordinatesIncomplete.title, "ru") != CoordinatesIncomplete.title
        assert body["detail"] == gettext(CoordinatesIncomplete.detail, "ru") != CoordinatesIncomplete.detail


def test_an_unknown_clinic_is_a_translated_404(client: TestClient) -> None:
    response = client.get(
        "/v1/clinics/00000000-0000-4000-8000-000000000000", headers={"Accept-Language": "ru"}
    )
    assert response.status_code == 404
    assert response.headers["content-language"] == "ru"
    assert response.json()["code"] == "clinic_not_found"
    assert response.json()["detail"] == gettext(ClinicNotFound.detail, "ru") != ClinicNotFound.detail


def test_open_at_needs_a_time_zone_offset(client: TestClient) -> None:
    response = client.get("/v1/clinics", params={"open_at": "2027-02-01T10:00:00"})
    assert response.status_code == 422
    assert [(e["parameter"], e["code"]) for e in response.json()["errors"]] == [("open_at", "timezone_aware")]


def test_an_unknown_service_is_refused(client: TestClient) -> None:
    response = client.get("/v1/clinics", params={"service": "surgery"})
    assert response.status_code == 422
    assert [e["parameter"] for e in response.json()["errors"]] == ["service"]
