"""What the clinics API returns."""

import uuid

from pydantic import BaseModel, ConfigDict

CLINIC_EXAMPLE = {
    "id": "3d6f0a8e-2b1c-4e5f-9a7b-8c6d5e4f3a21",
    "slug": "tashkent-chilonzor-heart-centre",
    "name": "Chilonzor Heart Centre (demo)",
    "city": "Tashkent",
    "address": "12 Bunyodkor Avenue, Chilonzor district, Tashkent",
    "description": "Resting ECG, Holter monitoring and cardiologist consultations.",
    "latitude": 41.2856,
    "longitude": 69.2034,
    "phone": "+998712000101",
    "email": "info@chilonzor-heart.example.uz",
    "website": "https://tashkent-chilonzor-heart-centre.example.uz",
    "time_zone": "Asia/Tashkent",
    "is_demo": True,
}


class ClinicPublic(BaseModel):
    """A clinic, with its texts in the request's language."""

    model_config = ConfigDict(json_schema_extra={"examples": [CLINIC_EXAMPLE]})

    id: uuid.UUID
    slug: str
    name: str
    city: str
    address: str
    description: str
    latitude: float
    longitude: float
    phone: str | None
    email: str | None
    website: str | None
    time_zone: str
    is_demo: bool


class ClinicPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [CLINIC_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ClinicPublic]
    next_cursor: str | None
