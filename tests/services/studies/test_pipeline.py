"""The study pipeline with real commits, the Redis job queue and worker processes: a study
uploaded through the API is analysed by `python -m services worker`; a worker killed in the
middle of a job leaves the study to the next worker, which completes it exactly once; a study
whose message was lost is sent again by the sweep."""

import io
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import wfdb
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from ecg_ml import read_record
from notifications.models import Notification
from services.accounts.models import User
from services.app import create_app
from services.db import get_engine, utcnow
from services.jobs import QUEUE, get_broker
from services.studies.models import Study, StudyResult, StudyStatus
from services.studies.tasks import resend_waiting_studies
from tests.support import make_user, sign_in

ROOT = Path(__file__).resolve().parents[3]
PTBXL = ROOT / "tests" / "data" / "ptbxl"


@pytest.fixture
def committed() -> Iterator[Session]:
    """A session whose commits are real: the worker processes must see the rows. The users it
    made are deleted at the end (their studies, results and notifications go with them), so
    later tests find the database as the rolled-back tests leave it."""
    with Session(get_engine(), expire_on_commit=False) as session:
        before = set(session.exec(select(User.id)).all())
        yield session
        session.rollback()
        for user in session.exec(select(User).where(col(User.id).not_in(before))).all():
            session.delete(user)
        session.commit()


def start_worker(log: Path) -> subprocess.Popen[bytes]:
    """`python -m services worker`, its output in `log` (shown when the test fails)."""
    environment = {
        **os.environ,
        "CARDIOALERT_JOB_HEARTBEAT_TIMEOUT_MS": "3000",
        "CARDIOALERT_JOB_WORKER_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services", "worker"],
        cwd=ROOT,
        env=environment,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(worker: subprocess.Popen[bytes], how: int = signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, how)
        worker.wait(timeout=30)


def wait_for(session: Session, study_id: str, statuses: set[StudyStatus], seconds: float) -> Study:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        session.expire_all()
        study = session.get(Study, uuid.UUID(study_id))
        assert study is not None
        if study.status in statuses:
            return study
        time.sleep(0.05)
    logs = "".join(path.read_text()[-3000:] for path in session.info.get("worker_logs", []))
    raise AssertionError(f"study {study_id} still {study.status} after {seconds} s\n{logs}")


def long_record_zip(minutes: int) -> bytes:
    """A long WFDB record (00001 repeated): its analysis takes long enough to be interrupted."""
    signal_mv = read_record(PTBXL / "00001_hr.hea").signal
    tiled = np.tile(signal_mv, (minutes * 6, 1))
    folder = Path(os.environ["CARDIOALERT_BLOB_DIR"]) / f"record-{uuid.uuid4().hex}"
    folder.mkdir()
    wfdb.wrsamp(
        "long",
        fs=500,
        units=["mV"] * 12,
        sig_name=["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"],
        p_signal=tiled.astype(np.float64),
        fmt=["16"] * 12,
        write_dir=str(folder),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in folder.iterdir():
            archive.write(path, path.name)
    return buffer.getvalue()


def upload(client: TestClient, headers: dict[str, str], name: str, data: bytes) -> str:
    answer = client.post(
        "/v1/studies",
        files=[("file", (name, data, "application/octet-stream"))],
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def test_a_worker_killed_mid_job_leaves_the_study_to_the_next_which_completes_it_once(
    committed: Session, tmp_path: Path
) -> None:
    patient = make_user(committed)
    headers = sign_in(committed, patient)
    committed.info["worker_logs"] = [tmp_path / "first.log", tmp_path / "second.log"]
    for log in committed.info["worker_logs"]:
        log.touch()
    first = start_worker(tmp_path / "first.log")
    second = None
    try:
        with TestClient(create_app()) as client:
            study_id = upload(client, headers, "long.zip", long_record_zip(minutes=5))
        wait_for(committed, study_id, {StudyStatus.processing}, seconds=180)
        stop(first, signal.SIGKILL)
        second = start_worker(tmp_path / "second.log")
        study = wait_for(committed, study_id, {StudyStatus.done, StudyStatus.failed}, seconds=300)
        assert study.status is StudyStatus.done, study.failure_reason
        assert study.attempts == 2
        results = committed.exec(select(StudyResult).where(StudyResult.study_id == study.id)).all()
        assert len(results) == 1 and results[0].samples == 5 * 60 * 500
        pushes = committed.exec(select(Notification).where(Notification.user_id == patient.id)).all()
        assert [n.dedup_key for n in pushes] == [f"ecg_study:{study_id}"]
    finally:
        stop(first, signal.SIGKILL)
        if second is not None:
            stop(second)


def test_a_study_whose_message_was_lost_is_sent_again_by_the_sweep(committed: Session) -> None:
    patient = make_user(committed)
    study = Study(
        patient_id=patient.id,
        source="app_upload",
        input_kind="ecg_file",
        file_format="wfdb_zip",
        original_name="lost.zip",
        size_bytes=1,
        sha256="0" * 64,
        blob_key=f"studies/{uuid.uuid4()}/original",
        status=StudyStatus.pending,
        updated_at=utcnow() - timedelta(minutes=10),
    )
    committed.add(study)
    committed.commit()
    broker = get_broker()
    queued = f"{broker.namespace}:{QUEUE}"
    before = broker.client.llen(queued)
    assert resend_waiting_studies(committed, utcnow()) >= 1
    committed.commit()
    assert broker.client.llen(queued) >= before + 1
    # Sent once per interval, not on every sweep.
    assert resend_waiting_studies(committed, utcnow()) == 0
