"""Fault drills of the file storage under the upload and the analysis: S3 unreachable (moto's
S3 server stopped, or an endpoint where nothing listens) and the local blob directory full (a
small tmpfs that really fills up).

What must hold: the upload answers 503 problem+json with a stable code (`storage_unavailable`,
`storage_full`) that the app may retry, and nothing is recorded as stored: no study row, no
object, no partial file. An upload whose row cannot be written leaves no object behind. A job
that cannot store its signal leaves no result; run again with room, it completes once."""

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer
from sqlmodel import Session, select

from notifications.models import Notification
from services.accounts.models import User
from services.db import transaction
from services.storage import StorageFull, get_blob_store
from services.studies import service as studies_service
from services.studies import tasks
from services.studies.models import Study, StudyResult, StudyStatus
from tests.infra import _free_port
from tests.support import make_user, settings_changed, sign_in, small_tmpfs

PTBXL = Path(__file__).resolve().parents[2] / "data" / "ptbxl"
BUCKET = "cardioalert-fault-drill"


def wfdb_files(record: str = "00001_hr") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        (
            "file",
            (f"{record}{suffix}", (PTBXL / f"{record}{suffix}").read_bytes(), "application/octet-stream"),
        )
        for suffix in (".hea", ".dat")
    ]


def upload(client: TestClient, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/studies", files=wfdb_files(), headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
    )


def studies_of(db: Session, patient: User) -> list[Study]:
    db.expire_all()
    return list(db.exec(select(Study).where(Study.patient_id == patient.id)).all())


def assert_clean_503(response, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert response.json()["title"] and response.json()["detail"]


# ------------------------------------------------------------------ S3


@pytest.fixture
def s3_endpoint() -> Iterator[tuple[str, ThreadedMotoServer]]:
    """moto's S3 server over HTTP, the blob store pointed at it (the run's key ring)."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        with settings_changed(
            CARDIOALERT_BLOB_BACKEND="s3",
            CARDIOALERT_S3_ENDPOINT_URL=endpoint,
            CARDIOALERT_S3_BUCKET=BUCKET,
            CARDIOALERT_S3_ACCESS_KEY_ID="test-access-key",
            CARDIOALERT_S3_SECRET_ACCESS_KEY="test-secret-key",
        ):
            get_blob_store().backend.ensure_bucket()  # type: ignore[attr-defined]
            yield endpoint, server
    finally:
        server.stop()


def bucket_keys(endpoint: str) -> list[str]:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-access-key",
        aws_secret_access_key="test-secret-key",
    )
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_s3_stopped_during_uploads_is_a_clean_503_and_nothing_is_recorded(
    client: TestClient, db: Session, s3_endpoint: tuple[str, ThreadedMotoServer]
) -> None:
    endpoint, server = s3_endpoint
    patient = make_user(db)
    headers = sign_in(db, patient)
    before = len(bucket_keys(endpoint))  # moto keeps one store per process: earlier tests' objects
    assert upload(client, headers).status_code == 202
    assert len(bucket_keys(endpoint)) == before + 1 and len(studies_of(db, patient)) == 1

    server.stop()
    assert_clean_503(upload(client, headers), "storage_unavailable")
    assert len(studies_of(db, patient)) == 1  # the refused upload left no row

    server.start()  # the same endpoint again (moto keeps its buckets in the process)
    assert upload(client, headers).status_code == 202
    assert len(studies_of(db, patient)) == 2 and len(bucket_keys(endpoint)) == before + 2


def test_s3_endpoint_where_nothing_listens_is_a_clean_503(client: TestClient, db: Session) -> None:
    patient = make_user(db)
    with settings_changed(
        CARDIOALERT_BLOB_BACKEND="s3",
        CARDIOALERT_S3_ENDPOINT_URL=f"http://127.0.0.1:{_free_port()}",
        CARDIOALERT_S3_ACCESS_KEY_ID="test-access-key",
        CARDIOALERT_S3_SECRET_ACCESS_KEY="test-secret-key",
    ):
        assert_clean_503(upload(client, sign_in(db, patient)), "storage_unavailable")
    assert studies_of(db, patient) == []


def test_an_upload_whose_row_fails_leaves_no_object_in_the_bucket(
    client: TestClient,
    db: Session,
    s3_endpoint: tuple[str, ThreadedMotoServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The file is stored before the row is written; when the transaction then fails, the
    rollback removes the object again."""
    endpoint, _ = s3_endpoint
    patient = make_user(db)
    headers = sign_in(db, patient)

    def queue_breaks(*_args: object) -> None:
        raise RuntimeError("the transaction fails after the file was stored")

    monkeypatch.setattr(studies_service, "enqueue_after_commit", queue_breaks)
    before = bucket_keys(endpoint)  # moto keeps one store per process: earlier tests' objects
    assert upload(client, headers).status_code == 500
    assert studies_of(db, patient) == []
    assert bucket_keys(endpoint) == before


# ------------------------------------------------------------------ local directory full


@pytest.fixture
def full_disk() -> Iterator[Path]:
    """A 512 KiB tmpfs as the blob directory."""
    with (
        small_tmpfs(
            "512k", "tests/services/test_storage.py covers the same error through /dev/full"
        ) as mount_point,
        settings_changed(CARDIOALERT_BLOB_DIR=str(mount_point)),
    ):
        yield mount_point


def fill(directory: Path, leave_bytes: int) -> Path:
    """Fill the file system up to `leave_bytes` of free room."""
    filler = directory / "filler"
    free = shutil.disk_usage(directory).free
    filler.write_bytes(b"\0" * max(free - leave_bytes, 0))
    return filler


def files_in(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


def test_a_full_blob_directory_is_a_clean_503_with_no_partial_file_and_no_row(
    client: TestClient, db: Session, full_disk: Path
) -> None:
    patient = make_user(db)
    headers = sign_in(db, patient)
    filler = fill(full_disk, leave_bytes=16 * 1024)

    assert_clean_503(upload(client, headers), "storage_full")
    assert studies_of(db, patient) == []
    assert files_in(full_disk) == ["filler"]  # the temp file of the failed write was removed

    filler.unlink()  # room again: the same upload goes through
    response = upload(client, headers)
    assert response.status_code == 202
    assert files_in(full_disk) == [f"studies/{response.json()['id']}/original"]


def test_a_job_that_cannot_store_its_signal_leaves_no_result_and_completes_once_later(
    client: TestClient, db: Session, full_disk: Path
) -> None:
    patient = make_user(db)
    study_id = uuid.UUID(upload(client, sign_in(db, patient)).json()["id"])
    filler = fill(full_disk, leave_bytes=8 * 1024)  # the original is stored; the signal will not fit

    with pytest.raises(StorageFull):  # raised to the queue, which retries it
        tasks.run_analysis(lambda: transaction(db), study_id, "job-1")
    db.expire_all()
    assert db.get(StudyResult, study_id) is None
    assert db.get(Study, study_id).status is StudyStatus.processing  # type: ignore[union-attr]
    assert files_in(full_disk) == ["filler", f"studies/{study_id}/original"]

    filler.unlink()
    assert tasks.run_analysis(lambda: transaction(db), study_id, "job-1")  # the retry of the same message
    db.expire_all()
    assert db.get(Study, study_id).status is StudyStatus.done  # type: ignore[union-attr]
    assert len(db.exec(select(StudyResult).where(StudyResult.study_id == study_id)).all()) == 1
    pushes = db.exec(select(Notification).where(Notification.user_id == patient.id)).all()
    assert [n.dedup_key for n in pushes] == [f"ecg_study:{study_id}"]
