"""Cardiology clinics. Texts are kept in English, Russian and Uzbek (Latin); Uzbek in
Cyrillic script is rendered from the Latin text."""

import uuid
from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from services.db import utc_column, utcnow


class Clinic(SQLModel, table=True):
    __tablename__ = "clinics"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slug: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    name_en: str = Field(max_length=200)
    name_ru: str = Field(max_length=200)
    name_uz: str = Field(max_length=200)
    city_en: str = Field(max_length=100)
    city_ru: str = Field(max_length=100)
    city_uz: str = Field(max_length=100)
    address_en: str = Field(max_length=300)
    address_ru: str = Field(max_length=300)
    address_uz: str = Field(max_length=300)
    description_en: str = Field(default="", max_length=2000)
    description_ru: str = Field(default="", max_length=2000)
    description_uz: str = Field(default="", max_length=2000)
    latitude: float
    longitude: float
    phone: str | None = Field(default=None, max_length=16)
    email: str | None = Field(default=None, max_length=254)
    website: str | None = Field(default=None, max_length=300)
    time_zone: str = Field(default="Asia/Tashkent", max_length=64)
    is_demo: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
