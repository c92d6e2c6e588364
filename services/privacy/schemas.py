"""The export's JSON document (data.json in the zip, or the JSON answer)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EXPORT_FORMAT = "cardioalert-export/1"

_STUDY_ID = "0b6c3c44-2f5e-4a0a-9a51-3c1f2d8e7b90"
_USER_ID = "6f1c1f0e-8f2a-4d53-9d8e-0c5b2f7f3a10"
_EXAMPLE = {
    "format": EXPORT_FORMAT,
    "exported_at": "2026-11-26T10:00:00Z",
    "profile": {
        "id": _USER_ID,
        "role": "patient",
        "email": "dilnoza@example.uz",
        "phone": "+998901234567",
        "full_name": "Dilnoza Karimova",
        "birth_date": "1978-04-12",
        "sex": "female",
        "preferred_language": "uz",
        "time_zone": "Asia/Tashkent",
        "is_active": True,
        "created_at": "2026-11-25T09:30:00Z",
        "updated_at": "2026-11-25T09:30:00Z",
        "deleted_at": None,
    },
    "sign_in_sessions": [
        {
            "id": "5a0e7c1d-3b2f-4c6e-8d9a-1f2e3d4c5b6a",
            "user_id": _USER_ID,
            "user_agent": "CardioAlert/1.0 iOS/18.1",
            "created_at": "2026-11-25T09:30:00Z",
            "last_used_at": "2026-11-26T09:55:00Z",
            "revoked_at": None,
            "revoked_reason": None,
        }
    ],
    "bookings": [
        {
            "id": "9b2d6f0a-1c3e-4b5a-8f7d-2e1c0b9a8d7f",
            "clinic_id": "2c9a7e5b-4d3f-4a1b-9c8d-7e6f5a4b3c2d",
            "clinic_name": "Tashkent Cardiology Centre",
            "slot_id": "7d6c5b4a-3f2e-4d1c-8b9a-0f1e2d3c4b5a",
            "patient_id": _USER_ID,
            "service": "ecg",
            "starts_at": "2026-11-27T05:00:00Z",
            "ends_at": "2026-11-27T05:30:00Z",
            "status": "booked",
            "hold_expires_at": None,
            "cancel_reason": None,
            "created_at": "2026-11-26T09:40:00Z",
            "updated_at": "2026-11-26T09:41:00Z",
        }
    ],
    "ecg_studies": [
        {
            "id": _STUDY_ID,
            "patient_id": _USER_ID,
            "clinic_id": None,
            "booking_id": None,
            "external_id": None,
            "source": "app_upload",
            "input_kind": "ecg_file",
            "file_format": "wfdb_zip",
            "original_name": "00001_hr.zip",
            "size_bytes": 120605,
            "sha256": "9f2c8a3e" + "0" * 56,
            "status": "done",
            "failure_reason": None,
            "attempts": 1,
            "created_at": "2026-11-26T09:45:00Z",
            "updated_at": "2026-11-26T09:45:07Z",
            "started_at": "2026-11-26T09:45:01Z",
            "finished_at": "2026-11-26T09:45:07Z",
            "file": f"files/studies/{_STUDY_ID}/original-00001_hr.zip",
            "result": {
                "interpretable": True,
                "reason": None,
                "triage": "routine",
                "analysis": {"findings": [{"label": "NORM", "probability": 0.93}], "measurements": {}},
                "model_version": "ptbxl-resnet1d-1",
                "fs": 500.0,
                "samples": 5000,
                "processing_ms": 4200,
                "created_at": "2026-11-26T09:45:07Z",
                "signal_file": f"files/studies/{_STUDY_ID}/signal.npy",
            },
            "reviews": [],
        }
    ],
    "risk_assessments": [
        {
            "id": "1e2d3c4b-5a69-4788-9aab-bccddeeff001",
            "patient_id": _USER_ID,
            "questionnaire_id": "cardio-risk",
            "questionnaire_version": 1,
            "answers": {"age": 48, "smoking": False},
            "result": {"category": "moderate"},
            "urgent": False,
            "model": "score2",
            "ten_year_risk_percent": 3.1,
            "category": "moderate",
            "created_at": "2026-11-25T10:00:00Z",
        }
    ],
    "devices": [
        {
            "id": "3f4e5d6c-7b8a-4998-a1b2-c3d4e5f60718",
            "user_id": _USER_ID,
            "auth_session_id": "5a0e7c1d-3b2f-4c6e-8d9a-1f2e3d4c5b6a",
            "platform": "ios",
            "app_version": "1.0.0",
            "language": "uz",
            "time_zone": "Asia/Tashkent",
            "created_at": "2026-11-25T09:31:00Z",
            "updated_at": "2026-11-25T09:31:00Z",
            "disabled_at": None,
            "disabled_reason": None,
        }
    ],
    "notification_preferences": None,
    "notifications": [
        {
            "id": "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d",
            "user_id": _USER_ID,
            "kind": "ecg_result_ready",
            "category": "results",
            "dedup_key": f"ecg_study:{_STUDY_ID}",
            "params": {"study_id": _STUDY_ID, "triage": "routine"},
            "state": "dispatched",
            "send_at": "2026-11-26T09:45:07Z",
            "expires_at": None,
            "created_at": "2026-11-26T09:45:07Z",
            "read_at": None,
        }
    ],
    "hospital_identifiers": [],
    "access_log": [
        {
            "id": "8c7b6a59-4837-4261-a50f-e0d1c2b3a495",
            "at": "2026-11-26T11:02:00Z",
            "actor_id": "d1e2f3a4-b5c6-4789-8abc-def012345678",
            "actor_role": "clinician",
            "action": "study.read",
            "object_type": "ecg_study",
            "object_id": _STUDY_ID,
            "detail": {},
        }
    ],
}


class PersonExport(BaseModel):
    """Everything CardioAlert stores about the signed-in person, table by table, with the values
    as stored (codes, not texts; times in UTC). Secrets of credentials are left out (password
    hash, refresh-token digests, push tokens). In the zip, `file` and `signal_file` name the
    study's original upload and the signal read from it (float32 mV, [samples, 12 leads] in the
    order I, II, III, aVR, aVL, aVF, V1-V6, NumPy .npy)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    format: str = Field(description=f"`{EXPORT_FORMAT}`: the version of this layout.")
    exported_at: datetime
    profile: dict[str, Any]
    sign_in_sessions: list[dict[str, Any]]
    bookings: list[dict[str, Any]]
    ecg_studies: list[dict[str, Any]] = Field(
        description="Each with its `result` (the automated reading) and the clinicians' `reviews`."
    )
    risk_assessments: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    notification_preferences: dict[str, Any] | None
    notifications: list[dict[str, Any]]
    hospital_identifiers: list[dict[str, Any]] = Field(
        description="Identifiers that clinics' hospital systems hold for the person."
    )
    access_log: list[dict[str, Any]] = Field(
        description="Who else read or changed the person's medical data, and when."
    )
