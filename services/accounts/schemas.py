"""What the accounts API takes and returns."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from i18n import Language
from services.accounts.models import Role, Sex

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
OLDEST_BIRTH_DATE = date(1900, 1, 1)


def normalise_phone(value: str) -> str:
    """E.164: '+998 90 123-45-67' → '+998901234567'. Only international numbers are accepted,
    since a patient's number must work whichever country the clinic is in."""
    if not value.strip().startswith("+"):
        raise PydanticCustomError("invalid_phone", "phone number must be in E.164 form")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise PydanticCustomError("invalid_phone", "phone number must be in E.164 form") from None
    if not phonenumbers.is_valid_number(number):
        raise PydanticCustomError("invalid_phone", "phone number must be in E.164 form")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError("invalid_time_zone", "unknown time zone") from None
    return value


def check_birth_date(value: date) -> date:
    if not OLDEST_BIRTH_DATE <= value < date.today():
        raise PydanticCustomError("birth_date_out_of_range", "birth date out of range")
    return value


def normalise_email(value: str) -> str:
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise PydanticCustomError("invalid_email", "not a valid e-mail address") from None
    return result.normalized.lower()


Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(normalise_phone)]
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(normalise_email)]
TimeZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(check_time_zone)]
BirthDate = Annotated[date, AfterValidator(check_birth_date)]
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class InputModel(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error instead of silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _password_differs_from_login(password: str, email: str | None, phone: str | None) -> None:
    lowered = password.lower()
    if any(login and lowered == login.lower() for login in (email, phone)):
        raise PydanticCustomError("password_too_weak", "password equals the login")


class PatientRegistration(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "phone": "+998901234567",
                    "email": "dilnoza@example.uz",
                    "password": "correct horse battery",
                    "full_name": "Dilnoza Karimova",
                    "birth_date": "1978-04-12",
                    "sex": "female",
                    "preferred_language": "uz",
                    "time_zone": "Asia/Tashkent",
                }
            ]
        },
    )

    email: Email | None = None
    phone: Phone | None = None
    password: Password
    full_name: PersonName
    birth_date: BirthDate | None = None
    sex: Sex | None = None
    preferred_language: Language | None = None
    time_zone: TimeZoneName = "Asia/Tashkent"

    @model_validator(mode="after")
    def needs_a_login(self) -> "PatientRegistration":
        if self.email is None and self.phone is None:
            raise PydanticCustomError("email_or_phone_required", "email or phone required")
        _password_differs_from_login(self.password, self.email, self.phone)
        return self


class LoginRequest(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"login": "+998901234567", "password": "correct horse battery"}]},
    )

    login: str = Field(min_length=3, max_length=254, description="E-mail address or phone number (E.164).")
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class RefreshRequest(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"refresh_token": "3q2-7wEAAAB0aGlzIGlzIG5vdCBhIHJlYWwgdG9rZW4"}]},
    )

    refresh_token: str = Field(min_length=20, max_length=200)


class TokenPair(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
                    "token_type": "bearer",
                    "expires_in": 900,
                    "refresh_token": "3q2-7wEAAAB0aGlzIGlzIG5vdCBhIHJlYWwgdG9rZW4",
                    "refresh_expires_in": 2592000,
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Single use: each refresh returns a new one.")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires.")


class ClientCredentialsForm(BaseModel):
    """OAuth2 token request (RFC 6749 §4.4.2), form-encoded. client_id and client_secret may
    come in HTTP Basic auth instead."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "grant_type": "client_credentials",
                    "client_id": "his_7KqM2xZp9LwT",
                    "client_secret": "s3cr3t-from-admin",
                }
            ]
        },
    )

    grant_type: str = Field(max_length=50, description="Must be client_credentials.")
    client_id: str | None = Field(default=None, max_length=100)
    client_secret: str | None = Field(default=None, max_length=200)


class ClientToken(BaseModel):
    """OAuth2 client-credentials answer (RFC 6749 §4.4.3)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
                    "token_type": "bearer",
                    "expires_in": 900,
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int


class ProfilePublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "6f1c1f0e-8f2a-4d53-9d8e-0c5b2f7f3a10",
                    "role": "patient",
                    "email": "dilnoza@example.uz",
                    "phone": "+998901234567",
                    "full_name": "Dilnoza Karimova",
                    "birth_date": "1978-04-12",
                    "sex": "female",
                    "preferred_language": "uz",
                    "time_zone": "Asia/Tashkent",
                    "created_at": "2026-11-25T09:30:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    role: Role
    email: str | None
    phone: str | None
    full_name: str
    birth_date: date | None
    sex: Sex | None
    preferred_language: Language | None
    time_zone: str
    created_at: datetime


class ProfileUpdate(InputModel):
    """Only the fields sent are changed; send null to clear an optional one (birth date, sex,
    language). A name and a time zone can be changed but not cleared."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"preferred_language": "ru", "time_zone": "Asia/Samarkand"}]},
    )

    # Left out, these change nothing (the router keeps only the fields sent); null is refused.
    full_name: PersonName = Field(default=None)
    birth_date: BirthDate | None = None
    sex: Sex | None = None
    preferred_language: Language | None = None
    time_zone: TimeZoneName = Field(default=None)


class PasswordChange(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"current_password": "correct horse battery", "new_password": "staple battery horse"}
            ]
        },
    )

    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: Password


class AccountDeletion(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"password": "correct horse battery"}]}
    )

    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class SessionPublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0b8e6f51-4c1d-4f0e-b6a5-2f7d0c9e1a22",
                    "user_agent": "CardioAlert/1.4 (iPhone; iOS 18.1)",
                    "created_at": "2026-11-20T08:00:00Z",
                    "last_used_at": "2026-11-25T09:30:00Z",
                    "current": True,
                }
            ]
        },
    )

    id: uuid.UUID
    user_agent: str | None
    created_at: datetime
    last_used_at: datetime
    current: bool = Field(description="True for the session making this request.")


class StaffCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "role": "clinic_staff",
                    "email": "reception@chilonzor-heart.example.uz",
                    "full_name": "Malika Yusupova",
                    "password": "initial password 2026",
                    "clinic_ids": ["3d6f0a8e-2b1c-4e5f-9a7b-8c6d5e4f3a21"],
                    "preferred_language": "ru",
                }
            ]
        },
    )

    role: Literal[Role.clinic_staff, Role.clinician, Role.admin]
    email: Email
    phone: Phone | None = None
    full_name: PersonName
    password: Password
    clinic_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    preferred_language: Language | None = None
    time_zone: TimeZoneName = "Asia/Tashkent"

    @model_validator(mode="after")
    def password_is_not_login(self) -> "StaffCreate":
        _password_differs_from_login(self.password, self.email, self.phone)
        return self


class StaffPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9a1e3c5b-7d2f-4a6e-8b0c-1d3f5e7a9b2c",
                    "role": "clinic_staff",
                    "email": "reception@chilonzor-heart.example.uz",
                    "full_name": "Malika Yusupova",
                    "clinic_ids": ["3d6f0a8e-2b1c-4e5f-9a7b-8c6d5e4f3a21"],
                }
            ]
        }
    )

    id: uuid.UUID
    role: Role
    email: str | None
    full_name: str
    clinic_ids: list[uuid.UUID]


class ClinicMemberPublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "9a1e3c5b-7d2f-4a6e-8b0c-1d3f5e7a9b2c",
                    "role": "clinician",
                    "full_name": "Dr. Rustam Aliev",
                    "email": "r.aliev@chilonzor-heart.example.uz",
                }
            ]
        },
    )

    id: uuid.UUID
    role: Role
    full_name: str
    email: str | None


class HospitalClientCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Chilonzor Heart HIS", "clinic_id": "3d6f0a8e-2b1c-4e5f-9a7b-8c6d5e4f3a21"}]
        },
    )

    name: PersonName
    clinic_id: uuid.UUID


class HospitalClientCreated(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5e2d4c6b-8a1f-4b3e-9c7d-2f4a6b8c0d1e",
                    "client_id": "his_7KqM2xZp9LwT",
                    "client_secret": "shown-once-3q2-7wEAAAB0aGlzIGlzIG5vdCBhIHNlY3JldA",
                    "clinic_id": "3d6f0a8e-2b1c-4e5f-9a7b-8c6d5e4f3a21",
                    "name": "Chilonzor Heart HIS",
                }
            ]
        }
    )

    id: uuid.UUID
    client_id: str
    client_secret: str = Field(description="Shown only once; store it in the hospital system's secret store.")
    clinic_id: uuid.UUID
    name: str


class HospitalClientPublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "5e2d4c6b-8a1f-4b3e-9c7d-2f4a6b8c0d1e",
                    "client_id": "his_7KqM2xZp9LwT",
                    "clinic_id": "3d6f0a8e-2b1c-4e5f-9a7b-8c6d5e4f3a21",
                    "name": "Chilonzor Heart HIS",
                }
            ]
        },
    )

    id: uuid.UUID
    client_id: str
    clinic_id: uuid.UUID
    name: str
