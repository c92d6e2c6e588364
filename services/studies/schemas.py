"""API shapes of ECG studies: what the app, the clinicians and the hospital systems read."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.studies.models import ReviewVerdict, StudyInput, StudySource, StudyStatus


class CodeText(BaseModel):
    """A stable code and its text in the request's language."""

    code: str
    text: str


class FindingPublic(BaseModel):
    label: str = Field(description="PTB-XL label (superclass or SCP statement code).")
    text: str
    probability: float = Field(ge=0, le=1, description="Temperature-scaled model probability.")
    explanation: list[list[float]] | None = Field(
        default=None,
        description="Where the model looked: 12 leads (I, II, III, aVR, aVL, aVF, V1-V6) x 50 time "
        "bins, 0..1, for a heat strip under the plot.",
    )


class ReviewPublic(BaseModel):
    verdict: ReviewVerdict
    labels: list[str]
    comment: str
    clinician_name: str
    reviewed_at: datetime


class StudyResultPublic(BaseModel):
    interpretable: bool
    reason: CodeText | None = Field(default=None, description="Why the ECG could not be read.")
    triage: CodeText
    recommendations: list[CodeText]
    findings: list[FindingPublic]
    measurements: dict[str, Any] | None
    quality_problems: list[str]
    model_version: str
    rules_version: str
    processing_ms: int
    disclaimer: str


class StudyPublic(BaseModel):
    id: uuid.UUID
    status: StudyStatus
    source: StudySource
    input_kind: StudyInput
    file_format: str
    original_name: str
    size_bytes: int
    clinic_id: uuid.UUID | None
    booking_id: uuid.UUID | None
    created_at: datetime
    finished_at: datetime | None
    failure: CodeText | None = Field(default=None, description="Why the study failed, and what to do.")
    result: StudyResultPublic | None = None
    review: ReviewPublic | None = Field(default=None, description="The latest clinician review.")
    reviewed_by_clinician: bool = False


class StudySummary(BaseModel):
    id: uuid.UUID
    status: StudyStatus
    input_kind: StudyInput
    created_at: datetime
    patient_id: uuid.UUID
    clinic_id: uuid.UUID | None
    triage: str | None = None
    top_finding: str | None = None
    heart_rate_bpm: float | None = None
    reviewed_by_clinician: bool = False


class StudyPage(BaseModel):
    items: list[StudySummary]
    next_cursor: str | None


class SignalPreview(BaseModel):
    """The signal for plotting: each lead in microvolts at `fs`, null where not recorded."""

    fs: float
    units: str = "uV"
    duration_s: float
    leads: dict[str, list[int | None]]


class ReviewCreate(BaseModel):
    verdict: ReviewVerdict
    labels: list[str] = Field(
        default_factory=list,
        max_length=30,
        description="The findings as the clinician reads them (the model's labels); for 'confirmed', "
        "leave empty to take the AI findings as they are.",
    )
    comment: str = Field(default="", max_length=2000)


class AuditEventPublic(BaseModel):
    id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None
    actor_role: str
    action: str
    object_type: str
    object_id: uuid.UUID
    subject_id: uuid.UUID | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEventPublic]
    next_cursor: str | None
