"""Imports every table model, so SQLModel.metadata knows the whole schema (Alembic's
autogenerate and the schema test read it from here)."""

from sqlmodel import SQLModel

from booking import models as booking_models
from notifications import models as notifications_models
from services import idempotency
from services.accounts import models as accounts_models
from services.clinics import models as clinics_models
from services.risk import models as risk_models
from services.studies import models as studies_models

metadata = SQLModel.metadata

__all__ = [
    "accounts_models",
    "booking_models",
    "clinics_models",
    "idempotency",
    "metadata",
    "notifications_models",
    "risk_models",
    "studies_models",
]
