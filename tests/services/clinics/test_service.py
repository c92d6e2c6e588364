import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from clinics_seed import load_clinics
from i18n import Language
from services.clinics.models import ClinicService
from services.clinics.repository import ClinicsRepository
from services.clinics.service import (
    ClinicSearch,
    Point,
    build_search_text,
    city_slug,
    distance_km,
    get_clinic,
    is_open_at,
    list_clinics,
    normalize_search_text,
    search_words,
)
from tests.support import clinic_row

MONDAY_10_IN_TASHKENT = datetime(2027, 2, 1, 5, 0, tzinfo=UTC)
NEW_YEAR_10_IN_TASHKENT = datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
CHILONZOR = "tashkent-chilonzor-heart-centre"


@contextmanager
def counted_queries(db: Session) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    connection = db.connection()
    event.listen(connection, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(connection, "before_cursor_execute", record)


def test_spellings_of_the_same_word_normalise_alike() -> None:
    variants = ["Fargʻona", "Farg'ona", "Fargʼona", "Farg‘ona", "Farg’ona", "Farg`ona", "Fargona", "FARGʻONA"]
    assert {normalize_search_text(variant) for variant in variants} == {"fargona"}
    assert normalize_search_text("  Бунёдкор\tЁЛКА  ") == "бунедкор елка"


def test_search_words_are_normalised_distinct_and_free_of_edge_punctuation() -> None:
    assert search_words("Chilonzor, «Heart» heart  Ёлка") == ["chilonzor", "heart", "елка"]
    assert search_words(" , ") == []


def test_the_search_text_holds_every_language_and_the_uzbek_cyrillic() -> None:
    clinic = clinic_row(name_uz="Fargʻona yurak markazi", city_uz="Fargʻona")
    text = build_search_text(clinic.model_dump())
    for word in ("heart", "кардиологическая", "ташкент", "fargona", "фарғона", "юрак", "temur"):
        assert word in text


def test_city_slug() -> None:
    assert city_slug("Tashkent") == "tashkent"
    assert city_slug("  New   York ") == "new-york"


def test_tashkent_to_samarkand_is_about_266_km() -> None:
    assert distance_km(Point(41.2995, 69.2401), 39.6542, 66.9597) == pytest.approx(266, abs=1)
    assert distance_km(Point(41.3, 69.24), 41.3, 69.24) == 0


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [("07:59", False), ("08:00", True), ("12:59", True), ("13:00", False), ("14:00", True), ("23:59", True)],
)
def test_open_intervals_are_half_open_and_24_00_is_midnight(local_time: str, expected: bool) -> None:
    clinic = clinic_row(working_hours={"mon": [["08:00", "13:00"], ["14:00", "24:00"]]})
    hours, minutes = map(int, local_time.split(":"))
    moment = datetime(2027, 2, 1, hours, minutes, 30, tzinfo=UTC)  # a Monday
    clinic.time_zone = "UTC"
    assert is_open_at(clinic, moment, set()) is expected


def test_a_closed_day_is_read_on_the_clinic_calendar() -> None:
    clinic = clinic_row(id=uuid.uuid4(), working_hours={"sat": [["00:00", "24:00"]]})
    # 20:00 UTC on Friday is 01:00 on Saturday in Tashkent.
    moment = datetime(2027, 2, 5, 20, 0, tzinfo=UTC)
    assert is_open_at(clinic, moment, set())
    assert not is_open_at(clinic, moment, {(clinic.id, date(2027, 2, 6))})
    assert is_open_at(clinic, moment, {(clinic.id, date(2027, 2, 5))})


def test_listing_takes_one_query_once_the_catalogue_is_loaded(db: Session) -> None:
    load_clinics(db)
    db.commit()
    with counted_queries(db) as statements:
        list_clinics(db, Language.en, ClinicSearch(), None, 100, MONDAY_10_IN_TASHKENT)
    assert len(statements) == 4  # the version, then clinics, services and closures once
    searches = [
        ClinicSearch(),
        ClinicSearch(text="heart", service=ClinicService.ecg, city="Tashkent", open_now=True),
        ClinicSearch(open_at=MONDAY_10_IN_TASHKENT, latitude=39.65, longitude=66.97),
    ]
    for search in searches:
        with counted_queries(db) as statements:
            page = list_clinics(db, Language.en, search, None, 100, MONDAY_10_IN_TASHKENT)
        assert page.items
        assert len(statements) == 1, statements  # only the version check


def test_open_now_follows_the_given_moment(db: Session) -> None:
    load_clinics(db)
    db.commit()
    search = ClinicSearch(city="tashkent")
    monday = {
        i.slug: i.open_now
        for i in list_clinics(db, Language.en, search, None, 100, MONDAY_10_IN_TASHKENT).items
    }
    new_year = {
        i.slug: i.open_now
        for i in list_clinics(db, Language.en, search, None, 100, NEW_YEAR_10_IN_TASHKENT).items
    }
    assert monday[CHILONZOR] is True
    assert new_year[CHILONZOR] is False
    open_on_new_year = list_clinics(
        db, Language.en, ClinicSearch(city="tashkent", open_now=True), None, 100, NEW_YEAR_10_IN_TASHKENT
    )
    assert CHILONZOR not in {item.slug for item in open_on_new_year.items}
    assert {item.open_now for item in open_on_new_year.items} == {True}


def test_the_detail_lists_closures_from_the_clinic_today(db: Session) -> None:
    load_clinics(db)
    db.commit()
    clinic = ClinicsRepository(db).get_by_slug(CHILONZOR)
    assert clinic is not None
    clinic_id = clinic.id
    detail = get_clinic(db, clinic_id, Language.uz, now=datetime(2026, 12, 7, 20, 0, tzinfo=UTC))
    # 20:00 UTC on 7 December is already 8 December (Constitution Day) in Tashkent.
    assert [closure.date.isoformat() for closure in detail.closures] == [
        "2026-12-08",
        "2027-01-01",
        "2027-09-01",
    ]
    assert detail.closures[0].reason == "Konstitutsiya kuni"
    assert detail.open_now is False
    later = get_clinic(db, clinic_id, Language.ru, now=datetime(2027, 6, 1, 5, 0, tzinfo=UTC))
    assert [closure.reason for closure in later.closures] == ["День независимости"]
    assert later.open_now is True
