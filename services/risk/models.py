"""Risk test results: each assessment keeps the answers exactly as given, the questionnaire
version they answered, and the result in language-neutral form (codes and numbers; texts are
rendered in the reader's language when read)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from services.db import utc_column, utcnow


class RiskAssessment(SQLModel, table=True):
    __tablename__ = "risk_assessments"
    __table_args__ = (Index("ix_risk_assessments_patient_created", "patient_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    patient_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    questionnaire_id: str = Field(sa_column=Column(String(50), nullable=False))
    questionnaire_version: int
    answers: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # Copied out of `result` for the history and the ECG side, which read only these.
    urgent: bool = False
    model: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    ten_year_risk_percent: float | None = None
    category: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
