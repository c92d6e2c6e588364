"""The analysis job's edges that fault drills found: a study whose every attempt died is given
up (not resent forever by the sweep), and a study deleted while it was analysed leaves no signal
file behind. (The worker killed mid-job is tests/services/studies/test_pipeline.py.)"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from notifications.models import Notification
from services.db import transaction
from services.settings import get_settings
from services.storage import get_blob_store
from services.studies import service as studies_service
from services.studies import tasks
from services.studies.models import Study, StudyResult, StudyStatus
from tests.support import make_user, sign_in

PTBXL = Path(__file__).resolve().parents[2] / "data" / "ptbxl"


def uploaded_study(client: TestClient, headers: dict[str, str]) -> uuid.UUID:
    files = [
        ("file", (name, (PTBXL / name).read_bytes(), "application/octet-stream"))
        for name in ("00001_lr.hea", "00001_lr.dat")
    ]
    response = client.post(
        "/v1/studies", files=files, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


def test_a_study_whose_attempts_all_died_fails_once_with_its_reason(client: TestClient, db: Session) -> None:
    patient = make_user(db)
    headers = {**sign_in(db, patient), "Accept-Language": "en"}
    study_id = uploaded_study(client, headers)
    study = db.get(Study, study_id)
    assert study is not None
    study.attempts = get_settings().study_max_attempts  # every earlier worker died on it
    study.status = StudyStatus.processing
    db.add(study)
    db.commit()

    assert tasks.run_analysis(lambda: transaction(db), study_id, "another-message") is False
    assert tasks.run_analysis(lambda: transaction(db), study_id, "yet-another") is False
    db.expire_all()
    study = db.get(Study, study_id)
    assert study is not None
    assert (study.status, study.failure_reason) == (StudyStatus.failed, "analysis_failed")
    assert db.get(StudyResult, study_id) is None
    pushes = db.exec(select(Notification).where(Notification.user_id == patient.id)).all()
    assert [(n.dedup_key, n.params["triage"]) for n in pushes] == [(f"ecg_study:{study_id}", "failed")]
    failure = client.get(f"/v1/studies/{study_id}", headers=headers).json()["failure"]
    assert failure["code"] == "analysis_failed"
    assert failure["text"].startswith("The ECG could not be analysed")


def test_a_study_deleted_during_its_analysis_leaves_no_signal_file(client: TestClient, db: Session) -> None:
    patient = make_user(db)
    study_id = uploaded_study(client, sign_in(db, patient))
    store = get_blob_store()
    scopes = 0

    @contextmanager
    def scope() -> Iterator[Session]:
        nonlocal scopes
        scopes += 1
        if scopes == 2:  # analysed, not yet recorded: the patient deletes the study now
            with transaction(db):
                studies_service.delete_study(db, store, patient, study_id)
        with transaction(db):
            yield db

    assert tasks.run_analysis(scope, study_id, "job-1") is False
    assert db.get(Study, study_id) is None
    assert not store.exists(f"studies/{study_id}/signal.npy")
    assert not store.exists(f"studies/{study_id}/original")
