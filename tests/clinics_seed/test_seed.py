"""The demo clinics load idempotently: a second run changes nothing, an edit updates in place."""

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import phonenumbers
from sqlmodel import Session, func, select

from clinics_seed import SEED_FILE, load_clinics, read_seed
from services.clinics.models import Clinic, ClinicClosure, ClinicService, ClinicServiceOffer
from services.clinics.service import WEEKDAYS

CITY_CENTRES = {  # real coordinates of the cities the demo clinics are placed in
    "Tashkent": (41.2995, 69.2401),
    "Samarkand": (39.6542, 66.9597),
    "Bukhara": (39.7747, 64.4286),
    "Fergana": (40.3864, 71.7864),
    "Namangan": (40.9983, 71.6726),
    "Andijan": (40.7821, 72.3442),
    "Nukus": (42.4600, 59.6100),
    "Karshi": (38.8606, 65.7891),
    "Termez": (37.2242, 67.2783),
    "Urgench": (41.5500, 60.6333),
    "Navoi": (40.0844, 65.3792),
    "Jizzakh": (40.1158, 67.8422),
    "Gulistan": (40.4897, 68.7842),
}


def count_clinics(db: Session) -> int:
    return db.exec(select(func.count()).select_from(Clinic)).one()


def clinic_by_slug(db: Session, slug: str) -> Clinic:
    return db.exec(select(Clinic).where(Clinic.slug == slug)).one()


def services_of(db: Session, clinic: Clinic) -> set[ClinicService]:
    return set(
        db.exec(select(ClinicServiceOffer.service).where(ClinicServiceOffer.clinic_id == clinic.id)).all()
    )


def closures_of(db: Session, clinic: Clinic) -> dict[date, dict[str, Any]]:
    rows = db.exec(select(ClinicClosure).where(ClinicClosure.clinic_id == clinic.id)).all()
    return {row.day: row.reason for row in rows}


def test_second_load_changes_nothing(db: Session) -> None:
    first = load_clinics(db)
    db.commit()
    assert len(first.created) == len(read_seed()) >= 15
    second = load_clinics(db)
    assert (second.created, second.updated) == ([], [])
    assert count_clinics(db) == len(first.created)
    db.expire_all()  # what a fresh process reads back from the database
    third = load_clinics(db)
    assert (third.created, third.updated, len(third.unchanged)) == ([], [], len(first.created))


def test_every_field_is_loaded(db: Session) -> None:
    entry = next(entry for entry in read_seed() if entry["slug"] == "fergana-heart-ecg-clinic")
    load_clinics(db, [entry])
    db.commit()
    db.expire_all()
    clinic = clinic_by_slug(db, entry["slug"])
    assert clinic.working_hours == entry["working_hours"]
    assert clinic.languages == entry["languages"]
    assert clinic.accessibility_uz == entry["accessibility"]["uz"]
    assert clinic.city_slug == "fergana"
    assert "fargona" in clinic.search_text.split()
    assert "фарғона" in clinic.search_text.split()
    assert services_of(db, clinic) == {ClinicService(name) for name in entry["services"]}
    assert closures_of(db, clinic) == {
        date.fromisoformat(closure["date"]): closure["reason"] for closure in entry["closures"]
    }


def test_edited_services_closures_and_hours_are_updated(db: Session) -> None:
    entries = read_seed()
    load_clinics(db, entries)
    db.commit()
    edited = copy.deepcopy(entries)
    first, second, third = edited[0], edited[1], edited[2]
    assert "holter" in first["services"]
    first["services"].remove("holter")
    second["closures"].append(
        {"date": "2027-05-09", "reason": {"en": "Remembrance Day", "ru": "День памяти", "uz": "Xotira kuni"}}
    )
    third["closures"] = third["closures"][1:]
    third["working_hours"]["sun"] = [["10:00", "14:00"]]
    report = load_clinics(db, edited)
    assert sorted(report.updated) == sorted(entry["slug"] for entry in (first, second, third))
    assert report.created == []
    db.commit()
    db.expire_all()
    assert ClinicService.holter not in services_of(db, clinic_by_slug(db, first["slug"]))
    assert closures_of(db, clinic_by_slug(db, second["slug"]))[date(2027, 5, 9)]["ru"] == "День памяти"
    third_clinic = clinic_by_slug(db, third["slug"])
    assert len(closures_of(db, third_clinic)) == len(third["closures"])
    assert third_clinic.working_hours["sun"] == [["10:00", "14:00"]]
    again = load_clinics(db, edited)
    assert (again.created, again.updated) == ([], [])


def test_an_edited_closure_reason_updates_the_row_of_that_day(db: Session) -> None:
    entries = read_seed()
    load_clinics(db, entries)
    db.commit()
    edited = copy.deepcopy(entries)
    closure = edited[0]["closures"][0]
    closure["reason"]["en"] = "Closed for works"
    assert load_clinics(db, edited).updated == [edited[0]["slug"]]
    db.commit()
    db.expire_all()
    clinic = clinic_by_slug(db, edited[0]["slug"])
    closures = closures_of(db, clinic)
    assert len(closures) == len(edited[0]["closures"])
    assert closures[date.fromisoformat(closure["date"])]["en"] == "Closed for works"


def test_an_edited_entry_is_updated_not_duplicated(db: Session) -> None:
    entries = read_seed()
    load_clinics(db, entries)
    edited = copy.deepcopy(entries)
    edited[0]["name"]["ru"] = "Новое название"
    edited[0]["phone"] = "+998712000199"
    report = load_clinics(db, edited)
    assert report.updated == [edited[0]["slug"]]
    assert count_clinics(db) == len(entries)
    clinic = db.exec(select(Clinic).where(Clinic.slug == edited[0]["slug"])).one()
    assert (clinic.name_ru, clinic.phone) == ("Новое название", "+998712000199")


def test_seed_data_is_complete_and_plausible() -> None:
    entries = json.loads(Path(SEED_FILE).read_text(encoding="utf-8"))["clinics"]
    assert len({entry["slug"] for entry in entries}) == len(entries) >= 15
    assert {entry["city"]["en"] for entry in entries} >= {
        "Tashkent",
        "Samarkand",
        "Bukhara",
        "Fergana",
        "Namangan",
        "Andijan",
        "Nukus",
    }
    for entry in entries:
        for field in ("name", "city", "address", "description"):
            assert all(entry[field][language].strip() for language in ("en", "ru", "uz")), (
                entry["slug"],
                field,
            )
        lat, lon = CITY_CENTRES[entry["city"]["en"]]
        assert abs(entry["latitude"] - lat) < 0.05 and abs(entry["longitude"] - lon) < 0.05, entry["slug"]
        assert phonenumbers.is_valid_number(phonenumbers.parse(entry["phone"])), entry["slug"]
        assert entry["website"] is None or entry["website"].endswith(".example.uz")
        assert "ecg" in entry["services"] and set(entry["services"]) <= set(ClinicService), entry["slug"]
        assert set(entry["working_hours"]) == set(WEEKDAYS), entry["slug"]
        for intervals in entry["working_hours"].values():
            clocks = [clock for interval in intervals for clock in interval]
            assert clocks == sorted(clocks) and len(set(clocks)) == len(clocks), entry["slug"]
            assert all(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", clock) for clock in clocks), entry[
                "slug"
            ]
