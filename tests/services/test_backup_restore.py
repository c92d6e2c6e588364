"""Backup and restore drill with PostgreSQL's own tools, as docs/operations.md describes it: a
database migrated to head and holding data of every kind (Cyrillic and Uzbek text, JSON,
timestamps, constraints) is dumped with `pg_dump --format=custom`, restored with `pg_restore`
into a new database, and compared table by table (row counts and a digest of every row), with
the Alembic version, and with its constraints still refusing what they refused."""

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

import services.models  # noqa: F401 - every table in the metadata
from booking.models import Resource, ResourceKind
from notifications.models import Notification, NotificationKind
from services.accounts.models import Role
from services.db import make_engine
from services.migrations import upgrade_to_head
from services.risk.models import RiskAssessment
from services.studies.models import AuditEvent, Study, StudyInput, StudyResult, StudySource, StudyStatus
from tests.conftest import POSTGRES_ADMIN_URL
from tests.infra import create_database, drop_database
from tests.support import make_clinic, make_user

PG_DUMP, PG_RESTORE = shutil.which("pg_dump"), shutil.which("pg_restore")
pytestmark = pytest.mark.skipif(
    not (PG_DUMP and PG_RESTORE), reason="pg_dump/pg_restore not installed (Debian: postgresql-client)"
)


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    names = (f"cardioalert_backup_{suffix}", f"cardioalert_restored_{suffix}")
    source = create_database(POSTGRES_ADMIN_URL, names[0])
    target = create_database(POSTGRES_ADMIN_URL, names[1])
    try:
        yield source, target
    finally:
        for name in names:
            drop_database(POSTGRES_ADMIN_URL, name)


def fill(url: str) -> None:
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as db:
            clinic = make_clinic(
                db, name_ru="Кардиологический центр", name_uz="Yurak markazi, Toshkent shahri"
            )
            patient = make_user(db, full_name="Oʻgʻiloy Toʻxtayeva", phone="+998901234567")
            make_user(db, Role.clinician, clinics=[clinic], full_name="Доктор Иванова")
            db.add(Resource(clinic_id=clinic.id, name="ECG 1", kind=ResourceKind.room))
            study = Study(
                patient_id=patient.id,
                clinic_id=clinic.id,
                source=StudySource.app_upload,
                input_kind=StudyInput.ecg_file,
                file_format="wfdb_zip",
                original_name="ЭКГ 2026.zip",
                size_bytes=1234,
                sha256="ab" * 32,
                blob_key="studies/x/original",
                status=StudyStatus.done,
            )
            db.add(study)
            db.flush()
            db.add(
                StudyResult(
                    study_id=study.id,
                    interpretable=True,
                    triage="routine",
                    analysis={"findings": [{"label": "NORM", "probability": 0.93}], "note": "ритм синусовый"},
                    model_version="test",
                    signal_blob_key="studies/x/signal.npy",
                    fs=500.0,
                    samples=5000,
                    processing_ms=120,
                )
            )
            db.add(
                RiskAssessment(
                    patient_id=patient.id,
                    questionnaire_id="cardio-risk",
                    questionnaire_version=1,
                    answers={"age": 48, "smoking": False},
                    result={"category": "moderate"},
                    category="moderate",
                )
            )
            db.add(
                Notification(
                    user_id=patient.id,
                    kind=NotificationKind.ecg_result_ready,
                    category="results",
                    dedup_key=f"ecg_study:{study.id}",
                    params={"study_id": str(study.id)},
                )
            )
            db.add(
                AuditEvent(
                    actor_id=patient.id,
                    actor_role="patient",
                    action="study.read",
                    object_type="ecg_study",
                    object_id=study.id,
                    subject_id=patient.id,
                )
            )
            db.commit()
    finally:
        engine.dispose()


def table_digests(url: str) -> dict[str, tuple[int, str | None]]:
    """Per table: (rows, md5 of every row's text in a fixed order), and Alembic's version."""
    digests = {}
    with psycopg.connect(libpq(url)) as connection:
        for table in [*SQLModel.metadata.sorted_tables, "alembic_version"]:
            name = table if isinstance(table, str) else table.name
            digests[name] = connection.execute(
                f'SELECT count(*), md5(string_agg(t::text, chr(10) ORDER BY t::text)) FROM "{name}" t'  # noqa: S608 - our table names
            ).fetchone()  # type: ignore[assignment]
    return digests


def test_pg_dump_and_pg_restore_bring_back_every_row_the_schema_version_and_the_constraints(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    source, target = databases
    upgrade_to_head(source)
    fill(source)
    dump = tmp_path / "cardioalert.dump"

    subprocess.run(
        [PG_DUMP, "--format=custom", "--no-owner", f"--dbname={libpq(source)}", f"--file={dump}"],
        check=True,
        capture_output=True,
    )
    restored = subprocess.run(
        [PG_RESTORE, "--no-owner", "--exit-on-error", f"--dbname={libpq(target)}", str(dump)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert restored.returncode == 0, restored.stderr

    before, after = table_digests(source), table_digests(target)
    assert after == before
    assert before["users"][0] == 2 and before["ecg_study_results"][0] == 1
    assert after["alembic_version"][0] == 1
    upgrade_to_head(target)  # already at head: nothing to do, nothing fails
    assert table_digests(target) == before

    engine = make_engine(target)
    try:
        with engine.connect() as connection:
            name = connection.execute(
                text("SELECT full_name FROM users WHERE phone = '+998901234567'")
            ).scalar()
            assert name == "Oʻgʻiloy Toʻxtayeva"
            with pytest.raises(IntegrityError):  # the unique phone came back too
                connection.execute(
                    text(
                        "INSERT INTO users (id, role, phone, password_hash, full_name, time_zone, is_active, "
                        "created_at, updated_at) VALUES (:id, 'patient', '+998901234567', 'x', 'x', "
                        "'Asia/Tashkent', true, now(), now())"
                    ),
                    {"id": uuid.uuid4()},
                )
    finally:
        engine.dispose()
