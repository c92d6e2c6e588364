"""What the clinics API returns."""

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.clinics.models import ClinicService

CLINIC_EXAMPLE: dict[str, Any] = {
    "id": "3d6f0a8e-2b1c-4e5f-9a7b-8c6d5e4f3a21",
    "slug": "tashkent-chilonzor-heart-centre",
    "name": "Chilonzor Heart Centre",
    "city": "Tashkent",
    "city_slug": "tashkent",
    "address": "12 Bunyodkor Avenue, Chilonzor District, Tashkent",
    "description": "Resting ECG, Holter monitoring and cardiologist consultations.",
    "latitude": 41.2805,
    "longitude": 69.2153,
    "phone": "+998712000101",
    "email": "info@tashkent-chilonzor-heart-centre.example.uz",
    "website": "https://tashkent-chilonzor-heart-centre.example.uz",
    "time_zone": "Asia/Tashkent",
    "services": ["ecg", "holter", "echocardiography", "cardiology_consultation"],
    "open_now": True,
    "distance_km": 2.4,
    "is_demo": True,
}
WORKING_HOURS_EXAMPLE = {
    "mon": [["08:00", "13:00"], ["14:00", "18:00"]],
    "tue": [["08:00", "13:00"], ["14:00", "18:00"]],
    "wed": [["08:00", "13:00"], ["14:00", "18:00"]],
    "thu": [["08:00", "13:00"], ["14:00", "18:00"]],
    "fri": [["08:00", "13:00"], ["14:00", "18:00"]],
    "sat": [["09:00", "14:00"]],
    "sun": [],
}
CLOSURE_EXAMPLE = {"date": "2027-01-01", "reason": "New Year's Day"}
CLINIC_DETAIL_EXAMPLE = {
    **CLINIC_EXAMPLE,
    "working_hours": WORKING_HOURS_EXAMPLE,
    "closures": [CLOSURE_EXAMPLE],
    "languages": ["uz", "ru", "en"],
    "accessibility": "Step-free entrance from the street, lift to all floors.",
}


class ClinicPublic(BaseModel):
    """A clinic in a list, with its texts in the request's language."""

    model_config = ConfigDict(json_schema_extra={"examples": [CLINIC_EXAMPLE]})

    id: uuid.UUID
    slug: str
    name: str
    city: str
    city_slug: str = Field(description="The value of the listing's `city` filter.")
    address: str
    description: str
    latitude: float
    longitude: float
    phone: str | None
    email: str | None
    website: str | None
    time_zone: str
    services: list[ClinicService]
    open_now: bool = Field(description="Open at this moment: within its working hours and not closed today.")
    distance_km: float | None = Field(
        description="Great-circle distance from the given `lat`/`lon`, in km to 0.1; null without them."
    )
    is_demo: bool


class ClinicClosurePublic(BaseModel):
    """A whole day the clinic is closed, on its own calendar."""

    model_config = ConfigDict(json_schema_extra={"examples": [CLOSURE_EXAMPLE]})

    date: dt.date
    reason: str


class ClinicDetail(ClinicPublic):
    """One clinic with its hours, closures, languages and accessibility notes."""

    model_config = ConfigDict(json_schema_extra={"examples": [CLINIC_DETAIL_EXAMPLE]})

    working_hours: dict[str, list[list[str]]] = Field(
        description='Weekday ("mon" … "sun") → open intervals [["HH:MM", "HH:MM"], …] on the clinic\'s '
        'clock (`time_zone`), breaks between them; [] = closed all day; "24:00" ends at midnight.'
    )
    closures: list[ClinicClosurePublic] = Field(description="Closed days from today on, earliest first.")
    languages: list[str] = Field(description="Languages spoken at the clinic (ISO 639 codes).")
    accessibility: str


class ClinicPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [CLINIC_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ClinicPublic]
    next_cursor: str | None
