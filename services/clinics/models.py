"""Cardiology clinics. Texts are kept in English, Russian and Uzbek (Latin); Uzbek in
Cyrillic script is rendered from the Latin text."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.db import enum_column, utc_column, utcnow


class ClinicService(StrEnum):
    ecg = "ecg"
    holter = "holter"
    echocardiography = "echocardiography"
    cardiology_consultation = "cardiology_consultation"
    stress_test = "stress_test"


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
    # The English city name, lowercased: the value of the `city` filter.
    city_slug: str = Field(default="", max_length=100, index=True)
    address_en: str = Field(max_length=300)
    address_ru: str = Field(max_length=300)
    address_uz: str = Field(max_length=300)
    description_en: str = Field(default="", max_length=2000)
    description_ru: str = Field(default="", max_length=2000)
    description_uz: str = Field(default="", max_length=2000)
    accessibility_en: str = Field(default="", max_length=1000)
    accessibility_ru: str = Field(default="", max_length=1000)
    accessibility_uz: str = Field(default="", max_length=1000)
    latitude: float
    longitude: float
    phone: str | None = Field(default=None, max_length=16)
    email: str | None = Field(default=None, max_length=254)
    website: str | None = Field(default=None, max_length=300)
    time_zone: str = Field(default="Asia/Tashkent", max_length=64)
    # {"mon": [["08:00", "13:00"], ["14:00", "18:00"]], ..., "sun": []}, on the clinic's clock.
    working_hours: dict[str, list[list[str]]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Names, city and address in every language and script, normalised for the free-text search.
    search_text: str = Field(default="", sa_column=Column(Text, nullable=False))
    # Clinics whose hospital system confirms each booking; elsewhere a confirmed booking is booked at once.
    his_confirms_bookings: bool = False
    is_demo: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ClinicServiceOffer(SQLModel, table=True):
    """What a clinic does (one row per service), so the service filter is an indexed join."""

    __tablename__ = "clinic_services"

    clinic_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("clinics.id", ondelete="CASCADE"), primary_key=True)
    )
    service: ClinicService = Field(sa_column=enum_column(ClinicService, primary_key=True))


class ClinicClosure(SQLModel, table=True):
    """A whole day the clinic is closed (a public holiday, a closure), on the clinic's calendar."""

    __tablename__ = "clinic_closures"
    __table_args__ = (UniqueConstraint("clinic_id", "day"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("clinics.id", ondelete="CASCADE"), nullable=False)
    )
    day: date
    reason: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
