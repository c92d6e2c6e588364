"""Every query of the clinics domain."""

import uuid
from collections.abc import Sequence

from sqlmodel import Session, col, select

from services.clinics.models import Clinic


class ClinicsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, clinic_id: uuid.UUID) -> Clinic | None:
        return self.session.get(Clinic, clinic_id)

    def get_by_slug(self, slug: str) -> Clinic | None:
        return self.session.exec(select(Clinic).where(Clinic.slug == slug)).first()

    def list_after(self, after_slug: str | None, limit: int) -> Sequence[Clinic]:
        statement = select(Clinic).order_by(col(Clinic.slug)).limit(limit)
        if after_slug is not None:
            statement = statement.where(col(Clinic.slug) > after_slug)
        return self.session.exec(statement).all()

    def add(self, clinic: Clinic) -> None:
        self.session.add(clinic)
        self.session.flush()
