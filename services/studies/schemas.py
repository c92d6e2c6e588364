"""API shapes of ECG studies: what the app, the clinicians and the hospital systems read."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.studies.models import ReviewVerdict, StudyInput, StudySource, StudyStatus


class CodeText(BaseModel):
    """A stable code and its text in the request's language."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"code": "routine", "text": "No urgent signs found"}]}
    )

    code: str
    text: str


class FindingPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "label": "AFIB",
                    "text": "Signs of atrial fibrillation",
                    "probability": 0.91,
                    "explanation": None,
                }
            ]
        }
    )

    label: str = Field(description="PTB-XL label (superclass or SCP statement code).")
    text: str
    probability: float = Field(ge=0, le=1, description="Temperature-scaled model probability.")
    explanation: list[list[float]] | None = Field(
        default=None,
        description="Where the model looked: 12 leads (I, II, III, aVR, aVL, aVF, V1-V6) x 50 time "
        "bins, 0..1, for a heat strip under the plot.",
    )


class ReviewPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "verdict": "corrected",
                    "labels": ["AFLT"],
                    "comment": "Flutter 2:1.",
                    "clinician_name": "Dr Aziz Rakhimov",
                    "reviewed_at": "2026-11-26T09:30:00Z",
                }
            ]
        }
    )

    verdict: ReviewVerdict
    labels: list[str]
    comment: str
    clinician_name: str
    reviewed_at: datetime


class StudyResultPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "interpretable": True,
                    "reason": None,
                    "triage": {"code": "soon", "text": "See a doctor soon"},
                    "recommendations": [
                        {
                            "code": "see_cardiologist_soon",
                            "text": "Book a visit to a cardiologist within the next days.",
                        }
                    ],
                    "findings": [
                        {
                            "label": "AFIB",
                            "text": "Signs of atrial fibrillation",
                            "probability": 0.91,
                            "explanation": None,
                        }
                    ],
                    "measurements": {"heart_rate_bpm": 112.0, "rhythm": "irregular", "qrs_ms": 92.0},
                    "quality_problems": ["photo_glare"],
                    "quality_notes": [
                        {
                            "code": "photo_glare",
                            "text": "Light reflected off part of the paper, so part of the trace was read "
                            "with less certainty. Next time, tilt the phone a little or move away from "
                            "the lamp.",
                        }
                    ],
                    "model_version": "1.0.0",
                    "rules_version": "2026-11-25.1",
                    "processing_ms": 180,
                    "disclaimer": "This is an automated reading to support you and your doctor. "
                    "It is not a diagnosis.",
                }
            ]
        }
    )

    interpretable: bool
    reason: CodeText | None = Field(default=None, description="Why the ECG could not be read.")
    triage: CodeText
    recommendations: list[CodeText]
    findings: list[FindingPublic]
    measurements: dict[str, Any] | None
    quality_problems: list[str] = Field(
        description="Codes of what made the ECG harder to read (signal quality, and for a photo its "
        "reading problems, prefixed photo_); kept for older apps, quality_notes has their texts."
    )
    quality_notes: list[CodeText] = Field(
        description="One note per quality problem, in the same order: its code and what it means for "
        "the reading (for a photo, how to take a better one), in the request's language."
    )
    model_version: str
    rules_version: str
    processing_ms: int
    disclaimer: str


class StudyPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f",
                    "status": "pending",
                    "source": "app_upload",
                    "input_kind": "ecg_file",
                    "file_format": "wfdb_zip",
                    "original_name": "00001_hr.zip",
                    "size_bytes": 240321,
                    "clinic_id": None,
                    "booking_id": None,
                    "created_at": "2026-11-26T09:00:00Z",
                    "finished_at": None,
                    "failure": None,
                    "result": None,
                    "review": None,
                    "reviewed_by_clinician": False,
                }
            ]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f",
                    "status": "done",
                    "input_kind": "photo",
                    "created_at": "2026-11-26T09:00:00Z",
                    "patient_id": "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f",
                    "clinic_id": None,
                    "triage": "routine",
                    "top_finding": "NORM",
                    "heart_rate_bpm": 68.0,
                    "reviewed_by_clinician": False,
                }
            ]
        }
    )

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
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [], "next_cursor": None}]})

    items: list[StudySummary]
    next_cursor: str | None


class SignalPreview(BaseModel):
    """The signal for plotting: each lead in microvolts at `fs`, null where not recorded."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"fs": 100.0, "units": "uV", "duration_s": 10.0, "leads": {"II": [12, 15, 30, None]}}
            ]
        }
    )

    fs: float
    units: str = "uV"
    duration_s: float
    leads: dict[str, list[int | None]]


class ReviewCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",  # like every request body: an unknown field is an error, never ignored
        json_schema_extra={
            "examples": [
                {"verdict": "corrected", "labels": ["AFLT"], "comment": "Flutter 2:1, not fibrillation."}
            ]
        },
    )

    verdict: ReviewVerdict
    labels: list[str] = Field(
        default_factory=list,
        max_length=30,
        description="The findings as the clinician reads them (the model's labels); for 'confirmed', "
        "leave empty to take the AI findings as they are.",
    )
    comment: str = Field(default="", max_length=2000)


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f",
                    "at": "2026-11-26T09:31:00Z",
                    "actor_id": "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f",
                    "actor_role": "clinician",
                    "action": "study.read",
                    "object_type": "ecg_study",
                    "object_id": "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f",
                    "subject_id": "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f",
                    "detail": {},
                }
            ]
        }
    )

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
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [], "next_cursor": None}]})

    items: list[AuditEventPublic]
    next_cursor: str | None
