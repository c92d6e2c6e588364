"""Demo clinics (fictional, see README.md) and their idempotent loader: rows are matched by
slug; a second load changes nothing, an edited entry is updated in place."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

from services.clinics.models import Clinic
from services.clinics.repository import ClinicsRepository
from services.db import utcnow

SEED_FILE = Path(__file__).resolve().parent / "clinics.json"
LOCALIZED = ("name", "city", "address", "description")
PLAIN = ("latitude", "longitude", "phone", "email", "website", "time_zone")


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def clinic_fields(entry: dict[str, Any]) -> dict[str, Any]:
    """The Clinic columns one seed entry sets."""
    values: dict[str, Any] = {"slug": entry["slug"], "is_demo": True}
    for name in LOCALIZED:
        for language in ("en", "ru", "uz"):
            values[f"{name}_{language}"] = entry[name][language]
    for name in PLAIN:
        values[name] = entry.get(name)
    return values


def read_seed(path: Path = SEED_FILE) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["clinics"]


def load_clinics(session: Session, entries: list[dict[str, Any]] | None = None) -> SeedReport:
    """Upsert the seed into the session's transaction (the caller commits)."""
    repository = ClinicsRepository(session)
    report = SeedReport()
    for entry in entries if entries is not None else read_seed():
        values = clinic_fields(entry)
        clinic = repository.get_by_slug(values["slug"])
        if clinic is None:
            repository.add(Clinic(**values))
            report.created.append(values["slug"])
            continue
        changed = {name: value for name, value in values.items() if getattr(clinic, name) != value}
        if not changed:
            report.unchanged.append(clinic.slug)
            continue
        for name, value in changed.items():
            setattr(clinic, name, value)
        clinic.updated_at = utcnow()
        repository.add(clinic)
        report.updated.append(clinic.slug)
    return report
