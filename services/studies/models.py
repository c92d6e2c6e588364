"""ECG studies: what a patient uploaded or a hospital pushed, its analysis, the clinicians'
reviews, the hospitals' patient identifiers, and the audit trail of who read medical content.

The original file and everything derived from it live in blob storage (services.storage); the
rows hold the keys, the status and the results. PostgreSQL is the truth about a study's status:
the job queue only carries study ids."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.db import enum_column, utc_column, utcnow


class StudySource(StrEnum):
    app_upload = "app_upload"
    hospital_push = "hospital_push"


class StudyInput(StrEnum):
    """What the original is: an ECG file read as signals, or a photo to digitize."""

    ecg_file = "ecg_file"
    photo = "photo"


class StudyStatus(StrEnum):
    pending = "pending"  # stored, waiting for the worker
    processing = "processing"
    done = "done"  # analysed: a reading, or "not interpretable" with its reason
    failed = "failed"  # the input could not be read (reason code); retrying would not help


class ReviewVerdict(StrEnum):
    confirmed = "confirmed"
    corrected = "corrected"


class Study(SQLModel, table=True):
    __tablename__ = "ecg_studies"
    __table_args__ = (
        Index("ix_ecg_studies_patient_created", "patient_id", "created_at"),
        Index("ix_ecg_studies_clinic_created", "clinic_id", "created_at"),
        Index("ix_ecg_studies_status_updated", "status", "updated_at"),
        # A hospital system's own id for the study: pushing it again returns the first study.
        UniqueConstraint("clinic_id", "external_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    patient_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    # The clinic whose clinicians may review it: the hospital's clinic, or the booking's.
    clinic_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("clinics.id", ondelete="SET NULL"), nullable=True)
    )
    booking_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("bookings.id", ondelete="SET NULL"), nullable=True)
    )
    external_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    source: StudySource = Field(sa_column=enum_column(StudySource))
    input_kind: StudyInput = Field(sa_column=enum_column(StudyInput))
    file_format: str = Field(max_length=20)  # wfdb, wfdb_zip, dicom, hl7_aecg, csv, jpeg, png, heic
    original_name: str = Field(max_length=255)
    size_bytes: int
    sha256: str = Field(max_length=64)
    blob_key: str = Field(max_length=200)  # the original, as received (one blob; a WFDB pair zipped)
    status: StudyStatus = Field(sa_column=enum_column(StudyStatus))
    failure_reason: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    job_id: str | None = Field(default=None, max_length=64)  # the queue message that holds it
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    started_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class StudyResult(SQLModel, table=True):
    """The analysis of a study: ecg_ml.analyze's reading, and the signal it read (a blob)."""

    __tablename__ = "ecg_study_results"

    study_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("ecg_studies.id", ondelete="CASCADE"), primary_key=True)
    )
    interpretable: bool
    reason: str | None = Field(default=None, max_length=64)
    triage: str = Field(max_length=32)
    analysis: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    model_version: str = Field(max_length=32)
    signal_blob_key: str = Field(max_length=200)  # float32 [n, 12] mV as .npy, with fs in the row
    fs: float
    samples: int
    processing_ms: int
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class StudyReview(SQLModel, table=True):
    """A clinician's confirmation or correction of the AI findings: labelled feedback for
    retraining. The latest review is the one the patient sees."""

    __tablename__ = "ecg_study_reviews"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    study_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("ecg_studies.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    clinician_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    )
    clinician_name: str = Field(max_length=200)
    verdict: ReviewVerdict = Field(sa_column=enum_column(ReviewVerdict))
    labels: list[str] = Field(sa_column=Column(JSON, nullable=False))  # the findings as reviewed
    comment: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class HospitalPatientLink(SQLModel, table=True):
    """The identifier a clinic's hospital system holds for one of our patients, learnt when it
    pushes a study for a booking; later pushes may name the patient by it alone."""

    __tablename__ = "hospital_patient_links"
    __table_args__ = (UniqueConstraint("clinic_id", "identifier"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("clinics.id", ondelete="CASCADE"), nullable=False)
    )
    identifier: str = Field(sa_column=Column(String(100), nullable=False))
    patient_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class AuditEvent(SQLModel, table=True):
    """Who did what to which object, when — never the medical content itself. Kept when the
    object is deleted (no foreign keys)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_object", "object_type", "object_id"),
        Index("ix_audit_events_subject_at", "subject_id", "at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    actor_id: uuid.UUID | None = None
    actor_role: str = Field(max_length=32)
    action: str = Field(max_length=64)  # study.read, study.report, study.signal, study.deleted, ...
    object_type: str = Field(max_length=32)
    object_id: uuid.UUID
    subject_id: uuid.UUID | None = None  # the patient whose data it is
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
