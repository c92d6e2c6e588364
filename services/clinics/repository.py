"""Every query of the clinics domain."""

import uuid
from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import exists, func
from sqlmodel import Session, SQLModel, col, select

from services.clinics.models import Clinic, ClinicClosure, ClinicService, ClinicServiceOffer


def _like_pattern(word: str) -> str:
    """`%word%` with the LIKE wildcards in `word` taken literally (escape character: backslash)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ClinicsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, clinic_id: uuid.UUID) -> Clinic | None:
        return self.session.get(Clinic, clinic_id)

    def get_by_slug(self, slug: str) -> Clinic | None:
        return self.session.exec(select(Clinic).where(Clinic.slug == slug)).first()

    def by_slugs(self, slugs: Collection[str]) -> Sequence[Clinic]:
        return self.session.exec(select(Clinic).where(col(Clinic.slug).in_(slugs))).all()

    def search(
        self,
        *,
        words: Sequence[str] = (),
        service: ClinicService | None = None,
        city_slug: str | None = None,
        after_slug: str | None = None,
        limit: int | None = None,
    ) -> Sequence[Clinic]:
        """Clinics by slug whose search text holds every word (already normalised), offering
        `service`, in `city_slug`; after `after_slug`, at most `limit` of them."""
        statement = select(Clinic).order_by(col(Clinic.slug))
        for word in words:
            statement = statement.where(col(Clinic.search_text).like(_like_pattern(word), escape="\\"))
        if service is not None:
            statement = statement.where(
                exists().where(
                    col(ClinicServiceOffer.clinic_id) == Clinic.id, col(ClinicServiceOffer.service) == service
                )
            )
        if city_slug is not None:
            statement = statement.where(col(Clinic.city_slug) == city_slug)
        if after_slug is not None:
            statement = statement.where(col(Clinic.slug) > after_slug)
        if limit is not None:
            statement = statement.limit(limit)
        return self.session.exec(statement).all()

    def catalogue_version(self) -> tuple[Any, ...]:
        """Changes whenever a clinic is added, removed or edited, or a service or closure is
        added or removed. Whoever replaces one service or closure with another also bumps the
        clinic's updated_at (the seed loader does)."""
        statement = select(
            select(func.count()).select_from(Clinic).scalar_subquery(),
            select(func.max(Clinic.updated_at)).scalar_subquery(),
            select(func.count()).select_from(ClinicServiceOffer).scalar_subquery(),
            select(func.count()).select_from(ClinicClosure).scalar_subquery(),
        )
        return tuple(self.session.exec(statement).one())

    def all_clinics(self) -> Sequence[Clinic]:
        return self.session.exec(select(Clinic).order_by(col(Clinic.slug))).all()

    def services_of(self, clinic_ids: Collection[uuid.UUID]) -> Sequence[tuple[uuid.UUID, ClinicService]]:
        """(clinic id, service) pairs; plain rows, as the listing reads them on every request."""
        statement = select(ClinicServiceOffer.clinic_id, ClinicServiceOffer.service).where(
            col(ClinicServiceOffer.clinic_id).in_(clinic_ids)
        )
        return self.session.exec(statement).all()

    def offers_of(self, clinic_ids: Collection[uuid.UUID]) -> Sequence[ClinicServiceOffer]:
        statement = select(ClinicServiceOffer).where(col(ClinicServiceOffer.clinic_id).in_(clinic_ids))
        return self.session.exec(statement).all()

    def closed_days(
        self, clinic_ids: Collection[uuid.UUID], days: Collection[date]
    ) -> set[tuple[uuid.UUID, date]]:
        """Which of these clinics are closed on which of these days."""
        statement = select(ClinicClosure.clinic_id, ClinicClosure.day).where(
            col(ClinicClosure.clinic_id).in_(clinic_ids), col(ClinicClosure.day).in_(days)
        )
        return {(clinic_id, day) for clinic_id, day in self.session.exec(statement).all()}

    def closures_of(
        self, clinic_ids: Collection[uuid.UUID], *, from_day: date | None = None
    ) -> Sequence[ClinicClosure]:
        statement = (
            select(ClinicClosure)
            .where(col(ClinicClosure.clinic_id).in_(clinic_ids))
            .order_by(col(ClinicClosure.day))
        )
        if from_day is not None:
            statement = statement.where(col(ClinicClosure.day) >= from_day)
        return self.session.exec(statement).all()

    def add(self, *rows: SQLModel) -> None:
        self.session.add_all(rows)
        self.session.flush()

    def delete(self, *rows: SQLModel) -> None:
        for row in rows:
            self.session.delete(row)
        self.session.flush()
