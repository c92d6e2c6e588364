"""Demo clinics (fictional, see README.md) and their idempotent loader: rows are matched by
slug; a second load changes nothing, an edited entry is updated in place (its services and
closures included: missing rows are added, removed ones deleted)."""

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session

from services.clinics.models import Clinic, ClinicClosure, ClinicService, ClinicServiceOffer
from services.clinics.repository import ClinicsRepository
from services.clinics.service import build_search_text, city_slug
from services.db import utcnow

SEED_FILE = Path(__file__).resolve().parent / "clinics.json"
LOCALIZED = ("name", "city", "address", "description", "accessibility")
OPTIONAL = ("description", "accessibility")
PLAIN = ("latitude", "longitude", "phone", "email", "website", "time_zone")
LANGUAGES = ("en", "ru", "uz")


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def clinic_fields(entry: dict[str, Any]) -> dict[str, Any]:
    """The Clinic columns one seed entry sets."""
    values: dict[str, Any] = {"slug": entry["slug"], "is_demo": True}
    for name in LOCALIZED:
        for language in LANGUAGES:
            if name in OPTIONAL:
                values[f"{name}_{language}"] = (entry.get(name) or {}).get(language, "")
            else:
                values[f"{name}_{language}"] = entry[name][language]
    for name in PLAIN:
        values[name] = entry.get(name)
    # Copies, so a caller editing its entries afterwards cannot edit the loaded rows unseen.
    values["working_hours"] = copy.deepcopy(entry.get("working_hours", {}))
    values["languages"] = list(entry.get("languages", []))
    values["city_slug"] = city_slug(values["city_en"])
    values["search_text"] = build_search_text(values)
    return values


def read_seed(path: Path = SEED_FILE) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["clinics"]


def load_clinics(session: Session, entries: list[dict[str, Any]] | None = None) -> SeedReport:
    """Upsert the seed into the session's transaction (the caller commits)."""
    entries = entries if entries is not None else read_seed()
    repository = ClinicsRepository(session)
    existing = {clinic.slug: clinic for clinic in repository.by_slugs([entry["slug"] for entry in entries])}
    ids = [clinic.id for clinic in existing.values()]
    offers: dict[uuid.UUID, list[ClinicServiceOffer]] = {clinic_id: [] for clinic_id in ids}
    for offer in repository.offers_of(ids) if ids else ():
        offers[offer.clinic_id].append(offer)
    closures: dict[uuid.UUID, list[ClinicClosure]] = {clinic_id: [] for clinic_id in ids}
    for closure in repository.closures_of(ids) if ids else ():
        closures[closure.clinic_id].append(closure)

    report = SeedReport()
    for entry in entries:
        values = clinic_fields(entry)
        clinic = existing.get(values["slug"])
        if clinic is None:
            clinic = Clinic(**values)
            repository.add(clinic)
            _sync_services(repository, clinic.id, [], entry)
            _sync_closures(repository, clinic.id, [], entry)
            report.created.append(clinic.slug)
            continue
        changed = {name: value for name, value in values.items() if getattr(clinic, name) != value}
        services_changed = _sync_services(repository, clinic.id, offers[clinic.id], entry)
        closures_changed = _sync_closures(repository, clinic.id, closures[clinic.id], entry)
        if not (changed or services_changed or closures_changed):
            report.unchanged.append(clinic.slug)
            continue
        for name, value in changed.items():
            setattr(clinic, name, value)
        clinic.updated_at = utcnow()
        repository.add(clinic)
        report.updated.append(clinic.slug)
    return report


def _sync_services(
    repository: ClinicsRepository,
    clinic_id: uuid.UUID,
    current: list[ClinicServiceOffer],
    entry: dict[str, Any],
) -> bool:
    """Make the clinic's service rows those of the entry; whether anything changed."""
    wanted = {ClinicService(name) for name in entry.get("services", [])}
    have = {offer.service for offer in current}
    removed = [offer for offer in current if offer.service not in wanted]
    added = [ClinicServiceOffer(clinic_id=clinic_id, service=service) for service in wanted - have]
    if removed:
        repository.delete(*removed)
    if added:
        repository.add(*added)
    return bool(removed or added)


def _sync_closures(
    repository: ClinicsRepository, clinic_id: uuid.UUID, current: list[ClinicClosure], entry: dict[str, Any]
) -> bool:
    """Make the clinic's closure rows those of the entry, matched by day; whether anything changed."""
    wanted = {
        date.fromisoformat(closure["date"]): dict(closure["reason"]) for closure in entry.get("closures", [])
    }
    have = {closure.day: closure for closure in current}
    removed = [closure for day, closure in have.items() if day not in wanted]
    edited = [closure for day, closure in have.items() if day in wanted and closure.reason != wanted[day]]
    for closure in edited:
        closure.reason = wanted[closure.day]
    added = [
        ClinicClosure(clinic_id=clinic_id, day=day, reason=reason)
        for day, reason in wanted.items()
        if day not in have
    ]
    if removed:
        repository.delete(*removed)
    if added or edited:
        repository.add(*added, *edited)
    return bool(removed or edited or added)
