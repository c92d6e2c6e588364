"""A person's data as a whole: the export holds everything stored about them (and their files),
and the erasure leaves nothing of them in any table or in blob storage but the audit trail.

The erasure check does not trust a list of tables: it reads every table the models declare
(SQLModel.metadata) and every column of every row, and looks for the person's id, e-mail, phone
and name anywhere in them, JSON included."""

import io
import json
import secrets
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select

import services.models  # noqa: F401 - every table in the metadata
from booking.models import Slot, WebhookEndpoint, WebhookEvent
from notifications.models import Device
from services.accounts.models import Role, User
from services.db import transaction
from services.risk.models import RiskAssessment
from services.storage import get_blob_store
from services.studies import tasks
from services.studies.models import AuditEvent, HospitalPatientLink, Study, StudyResult
from tests.booking.support import bookable_clinic, free_slots, slot_starting_after
from tests.infra import _free_port
from tests.support import PASSWORD, make_hospital_client, make_user, settings_changed, sign_in

PTBXL = Path(__file__).resolve().parents[2] / "data" / "ptbxl"


@dataclass
class Patient:
    user: User
    headers: dict[str, str]
    study_id: str
    booking_id: str
    slot_id: str
    original: bytes


def key(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": str(uuid.uuid4())}


def a_patient_with_everything(client: TestClient, db: Session) -> Patient:
    """A patient with a profile, a booking confirmed at a clinic whose hospital system listens,
    an ECG uploaded for that booking, analysed and read by a clinician, a risk assessment, a
    device, inbox notifications, and the hospital's identifier for them."""
    setup = bookable_clinic(client, db)
    his, _ = make_hospital_client(db, setup.clinic)
    db.add(
        WebhookEndpoint(
            hospital_client_id=his.id, clinic_id=setup.clinic.id, url="https://his.example/h", secret="s"
        )
    )
    db.commit()
    user = make_user(
        db,
        email=f"erase-{secrets.token_hex(4)}@example.uz",
        phone="+998901112233",
        full_name="Zarina Erasova",
    )
    headers = sign_in(db, user)
    slot = slot_starting_after(free_slots(client, setup.clinic.id), timedelta(hours=3))
    booking = client.post("/v1/bookings", json={"slot_id": slot["id"]}, headers=key(headers)).json()
    assert client.post(f"/v1/bookings/{booking['id']}/confirm", headers=key(headers)).status_code == 200

    files = [
        ("file", (n, (PTBXL / n).read_bytes(), "application/octet-stream"))
        for n in ("00001_lr.hea", "00001_lr.dat")
    ]
    upload = client.post("/v1/studies", files=files, data={"booking_id": booking["id"]}, headers=key(headers))
    assert upload.status_code == 202, upload.text
    study_id = upload.json()["id"]
    assert tasks.run_analysis(lambda: transaction(db), uuid.UUID(study_id), None)
    clinician = make_user(db, Role.clinician, clinics=[setup.clinic], full_name="Dr Clinician")
    assert client.get(f"/v1/clinic/studies/{study_id}", headers=sign_in(db, clinician)).status_code == 200

    db.add(
        RiskAssessment(
            patient_id=user.id,
            questionnaire_id="cardio-risk",
            questionnaire_version=1,
            answers={"age": 48},
            result={"category": "moderate"},
            category="moderate",
        )
    )
    db.add(
        Device(
            user_id=user.id,
            platform="ios",
            push_token=secrets.token_hex(32),
            app_version="1.0",
            language="en",
            time_zone="Asia/Tashkent",
        )
    )
    db.add(
        HospitalPatientLink(
            clinic_id=setup.clinic.id, identifier=f"MRN-{secrets.token_hex(3)}", patient_id=user.id
        )
    )
    db.commit()
    study = db.get(Study, uuid.UUID(study_id))
    assert study is not None
    return Patient(user, headers, study_id, booking["id"], slot["id"], get_blob_store().get(study.blob_key))


# ------------------------------------------------------------------ export


def test_export_as_json_holds_every_part_of_the_patient(client: TestClient, db: Session) -> None:
    patient = a_patient_with_everything(client, db)
    answer = client.get("/v1/me/export", params={"format": "json"}, headers=patient.headers)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, no-store"
    data = answer.json()
    assert data["format"] == "cardioalert-export/1"
    assert data["profile"]["email"] == patient.user.email and "password_hash" not in data["profile"]
    assert [b["id"] for b in data["bookings"]] == [patient.booking_id]
    assert data["bookings"][0]["status"] == "booked" and data["bookings"][0]["clinic_name"]
    [study] = data["ecg_studies"]
    assert study["id"] == patient.study_id and study["status"] == "done"
    assert study["result"]["triage"] and study["result"]["samples"] == 1000
    assert "blob_key" not in study and "signal_blob_key" not in study["result"]
    assert [a["category"] for a in data["risk_assessments"]] == ["moderate"]
    assert [d["platform"] for d in data["devices"]] == ["ios"] and "push_token" not in data["devices"][0]
    kinds = {n["kind"] for n in data["notifications"]}
    assert {"booking_confirmed", "ecg_result_ready"} <= kinds
    assert len(data["hospital_identifiers"]) == 1
    assert [(e["actor_role"], e["action"]) for e in data["access_log"]] == [("clinician", "study.read")]
    assert len(data["sign_in_sessions"]) == 1


def test_export_as_zip_holds_the_document_and_the_files(client: TestClient, db: Session) -> None:
    patient = a_patient_with_everything(client, db)
    answer = client.get("/v1/me/export", headers=patient.headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    assert "attachment" in answer.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        data = json.loads(archive.read("data.json"))
        study = data["ecg_studies"][0]
        assert archive.read(study["file"]) == patient.original
        signal = np.load(io.BytesIO(archive.read(study["result"]["signal_file"])))
        assert signal.shape == (1000, 12)
        assert sorted(archive.namelist()) == sorted(
            ["data.json", study["file"], study["result"]["signal_file"]]
        )
    events = db.exec(select(AuditEvent).where(AuditEvent.action == "account.exported")).all()
    assert [e.subject_id for e in events] == [patient.user.id]


# ------------------------------------------------------------------ erasure


def rows_naming(db: Session, needles: list[str]) -> list[str]:
    """'table.column' for every value in any table but the audit trail that contains a needle."""
    found = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name == "audit_events":
            continue
        for row in db.execute(sa_select(table)).mappings():
            for column, value in row.items():
                text = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
                if any(needle in text for needle in needles):
                    found.append(f"{table.name}.{column}")
    return found


def test_deletion_leaves_nothing_of_the_patient_but_the_audit_trail(client: TestClient, db: Session) -> None:
    patient = a_patient_with_everything(client, db)
    user = patient.user
    needles = [str(user.id), str(user.email), str(user.phone), user.full_name]
    assert len(rows_naming(db, needles)) > 10  # the check finds the patient where they are
    study = db.get(Study, uuid.UUID(patient.study_id))
    result = db.get(StudyResult, uuid.UUID(patient.study_id))
    assert study is not None and result is not None
    keys = [study.blob_key, result.signal_blob_key]
    store = get_blob_store()
    assert all(store.exists(k) for k in keys)

    wrong = client.post("/v1/me/deletion", json={"password": "not it at all"}, headers=patient.headers)
    assert wrong.status_code == 403
    answer = client.post("/v1/me/deletion", json={"password": PASSWORD}, headers=patient.headers)
    assert answer.status_code == 204, answer.text

    db.expire_all()
    assert rows_naming(db, needles) == []
    assert not any(store.exists(k) for k in keys)
    study_dir = Path(store.backend.root) / "studies" / patient.study_id  # type: ignore[attr-defined]
    assert not study_dir.exists() or list(study_dir.iterdir()) == []
    # What stays: the audit trail (who read the data, and the erasure itself), without content.
    trail = db.exec(select(AuditEvent).where(AuditEvent.subject_id == user.id).order_by(AuditEvent.at)).all()
    assert [e.action for e in trail] == ["study.read", "account.deleted"]
    assert trail[-1].detail == {"studies": 1, "bookings_cancelled": 1}
    # The clinic got its place back and its hospital system the cancellation (without the id).
    slot = db.get(Slot, uuid.UUID(patient.slot_id))
    assert slot is not None and slot.booked_count == 0
    events = db.exec(select(WebhookEvent)).all()
    cancelled = [
        e
        for e in events
        if e.event_type == "booking.cancelled" and e.payload["booking_id"] == patient.booking_id
    ]
    assert len(cancelled) == 1 and cancelled[0].payload["cancel_reason"] == "account_deleted"
    assert cancelled[0].payload["patient_id"] is None
    # Signed out everywhere; the login is free for a new account.
    assert client.get("/v1/me", headers=patient.headers).status_code == 401
    assert client.post("/v1/auth/login", json={"login": user.email, "password": PASSWORD}).status_code == 401
    again = client.post(
        "/v1/auth/register", json={"email": user.email, "password": PASSWORD, "full_name": "New"}
    )
    assert again.status_code == 201


def test_deletion_with_storage_unreachable_erases_nothing_and_says_so(
    client: TestClient, db: Session
) -> None:
    patient = a_patient_with_everything(client, db)
    with settings_changed(
        CARDIOALERT_BLOB_BACKEND="s3",
        CARDIOALERT_S3_ENDPOINT_URL=f"http://127.0.0.1:{_free_port()}",
        CARDIOALERT_S3_ACCESS_KEY_ID="test-access-key",
        CARDIOALERT_S3_SECRET_ACCESS_KEY="test-secret-key",
    ):
        answer = client.post("/v1/me/deletion", json={"password": PASSWORD}, headers=patient.headers)
    assert answer.status_code == 503
    assert answer.json()["code"] == "storage_unavailable"
    db.expire_all()
    assert db.get(User, patient.user.id) is not None
    assert db.get(Study, uuid.UUID(patient.study_id)) is not None
    assert client.get("/v1/me", headers=patient.headers).status_code == 200
