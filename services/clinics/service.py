"""Reading clinics for patients and staff."""

import uuid

from sqlmodel import Session

from i18n import N_, Language, pick_localized
from services.clinics.models import Clinic
from services.clinics.repository import ClinicsRepository
from services.clinics.schemas import ClinicPage, ClinicPublic
from services.errors import NotFound
from services.pagination import decode_cursor, encode_cursor


class ClinicNotFound(NotFound):
    code = "clinic_not_found"
    detail = N_("No such clinic.")


LOCALIZED_FIELDS = ("name", "city", "address", "description")


def clinic_public(clinic: Clinic, language: Language) -> ClinicPublic:
    texts = {
        field: pick_localized(
            {
                Language.en: getattr(clinic, f"{field}_en"),
                Language.ru: getattr(clinic, f"{field}_ru"),
                Language.uz: getattr(clinic, f"{field}_uz"),
            },
            language,
        )
        for field in LOCALIZED_FIELDS
    }
    return ClinicPublic(
        id=clinic.id,
        slug=clinic.slug,
        latitude=clinic.latitude,
        longitude=clinic.longitude,
        phone=clinic.phone,
        email=clinic.email,
        website=clinic.website,
        time_zone=clinic.time_zone,
        is_demo=clinic.is_demo,
        **texts,
    )


def list_clinics(session: Session, language: Language, cursor: str | None, limit: int) -> ClinicPage:
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    clinics = ClinicsRepository(session).list_after(after, limit + 1)
    page, more = clinics[:limit], len(clinics) > limit
    return ClinicPage(
        items=[clinic_public(clinic, language) for clinic in page],
        next_cursor=encode_cursor([page[-1].slug]) if more else None,
    )


def get_clinic(session: Session, clinic_id: uuid.UUID, language: Language) -> ClinicPublic:
    clinic = ClinicsRepository(session).get(clinic_id)
    if clinic is None:
        raise ClinicNotFound()
    return clinic_public(clinic, language)
