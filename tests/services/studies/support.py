"""Studies for tests that need one with a result, made directly (no upload, no model run)."""

import io
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session

from ecg_ml import read_record
from services.accounts.models import User
from services.clinics.models import Clinic
from services.storage import get_blob_store
from services.studies.models import Study, StudyInput, StudyResult, StudySource, StudyStatus

RECORD = Path(__file__).resolve().parents[2] / "data" / "ptbxl" / "00001_hr.hea"
READING = {
    "interpretable": True,
    "reason": None,
    "triage": "routine",
    "recommendations": ["routine_follow_up"],
    "findings": [{"label": "NORM", "probability": 0.93, "explanation": None}],
    "probabilities": {"NORM": 0.93},
    "measurements": {"heart_rate_bpm": 63.0, "rhythm": "regular", "pr_ms": 150.0, "qrs_ms": 90.0},
    "quality": {"problems": [], "interpretable": True},
    "model_version": "test",
    "rules_version": "test",
    "timings_ms": {},
    "disclaimer": "automated_reading_not_a_diagnosis",
}


def make_analysed_study(
    db: Session, patient: User, clinic: Clinic | None, reading: dict[str, Any] | None = None
) -> Study:
    """A done study of RECORD whose result is `reading` (default READING)."""
    store = get_blob_store()
    record = read_record(RECORD)
    study = Study(
        patient_id=patient.id,
        clinic_id=clinic.id if clinic is not None else None,
        source=StudySource.app_upload,
        input_kind=StudyInput.ecg_file,
        file_format="wfdb",
        original_name="00001_hr.hea",
        size_bytes=RECORD.stat().st_size,
        sha256="0" * 64,
        blob_key="",
        status=StudyStatus.done,
    )
    study.blob_key = f"studies/{study.id}/original"
    store.put(study.blob_key, RECORD.read_bytes(), "application/octet-stream")  # as intake stores it
    buffer = io.BytesIO()
    np.save(buffer, record.signal.astype(np.float32), allow_pickle=False)
    signal_key = f"studies/{study.id}/signal.npy"
    store.put(signal_key, buffer.getvalue(), "application/x-npy")
    db.add(study)
    db.commit()
    db.add(
        StudyResult(
            study_id=study.id,
            interpretable=True,
            triage="routine",
            analysis=reading if reading is not None else READING,
            model_version="test",
            signal_blob_key=signal_key,
            fs=record.fs,
            samples=record.signal.shape[0],
            processing_ms=100,
        )
    )
    db.commit()
    return study
