"""The demo clinics load idempotently: a second run changes nothing, an edit updates in place."""

import copy
import json
from pathlib import Path

import phonenumbers
from sqlmodel import Session, func, select

from clinics_seed import SEED_FILE, load_clinics, read_seed
from services.clinics.models import Clinic

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


def test_second_load_changes_nothing(db: Session) -> None:
    first = load_clinics(db)
    db.commit()
    assert len(first.created) == len(read_seed()) >= 15
    second = load_clinics(db)
    assert (second.created, second.updated) == ([], [])
    assert count_clinics(db) == len(first.created)


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
