"""Accounts: people (patients, clinic staff, clinicians, admins), hospital machine clients,
sign-in sessions and their rotating refresh tokens."""

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from i18n import Language
from services.db import enum_column, utc_column, utcnow


class Role(StrEnum):
    patient = "patient"
    clinic_staff = "clinic_staff"
    clinician = "clinician"
    hospital_system = "hospital_system"
    admin = "admin"


class Sex(StrEnum):
    female = "female"
    male = "male"


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email IS NOT NULL OR phone IS NOT NULL OR deleted_at IS NOT NULL", name="has_login"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    role: Role = Field(sa_column=enum_column(Role))
    email: str | None = Field(default=None, max_length=254, unique=True, index=True)
    phone: str | None = Field(default=None, max_length=16, unique=True, index=True)
    password_hash: str = Field(max_length=200)
    full_name: str = Field(max_length=200)
    birth_date: date | None = None
    sex: Sex | None = Field(default=None, sa_column=enum_column(Sex, nullable=True))
    preferred_language: Language | None = Field(default=None, sa_column=enum_column(Language, nullable=True))
    time_zone: str = Field(default="Asia/Tashkent", max_length=64)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    deleted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ClinicMembership(SQLModel, table=True):
    """Binds clinic staff and clinicians to the clinics whose data they may see."""

    __tablename__ = "clinic_memberships"

    user_id: uuid.UUID = Field(sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True))
    clinic_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("clinics.id", ondelete="CASCADE"), primary_key=True, index=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class HospitalClient(SQLModel, table=True):
    """A hospital information system that signs in with OAuth2 client credentials."""

    __tablename__ = "hospital_clients"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    secret_digest: str = Field(max_length=64)
    clinic_id: uuid.UUID = Field(sa_column=Column(ForeignKey("clinics.id"), nullable=False, index=True))
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class AuthSession(SQLModel, table=True):
    """One signed-in device: the family of refresh tokens issued since one login."""

    __tablename__ = "auth_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    user_agent: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    last_used_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    revoked_reason: str | None = Field(default=None, max_length=32)


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    session_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("auth_sessions.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    token_digest: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
