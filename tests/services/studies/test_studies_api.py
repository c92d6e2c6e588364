"""ECG studies through the API on real PostgreSQL and encrypted local blob storage: uploads of
every format, the refusals of bad input (nothing stored), the analysis job run in the test's
transaction, results in the caller's language, signals, reports, clinician review, hospital
pushes, audit, feedback export and deletion."""

import csv
import io
import struct
import uuid
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
import wfdb
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, select

from booking.models import Booking, BookingStatus, Resource, ResourceKind, Slot
from ecg_ml import read_record
from ecg_ml.digitize.page import decode
from ecg_ml.recommend import QUALITY_TEXTS
from i18n import gettext
from notifications.models import Notification, NotificationKind
from services.accounts.models import Role, User
from services.clinics.models import Clinic, ClinicService
from services.db import transaction, utcnow
from services.storage import get_blob_store
from services.studies import tasks
from services.studies.models import AuditEvent, Study, StudyResult, StudyStatus
from tests.services.studies.support import READING, make_analysed_study
from tests.support import hospital_headers, make_clinic, make_hospital_client, make_user, sign_in

DATA = Path(__file__).resolve().parents[2] / "data"
PTBXL = DATA / "ptbxl"


def wfdb_pair(ecg_id: int = 1) -> list[tuple[str, tuple[str, bytes, str]]]:
    stem = f"{ecg_id:05d}_hr"
    return [
        ("file", (f"{stem}.hea", (PTBXL / f"{stem}.hea").read_bytes(), "text/plain")),
        ("file", (f"{stem}.dat", (PTBXL / f"{stem}.dat").read_bytes(), "application/octet-stream")),
    ]


def one_file(name: str, data: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (name, data, "application/octet-stream"))]


def upload(client: TestClient, headers: dict[str, str], files: list, **form: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/studies", files=files, data=form, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
    )


def process(db: Session, study_id: str) -> None:
    assert tasks.run_analysis(lambda: transaction(db), uuid.UUID(study_id), None)


@pytest.fixture
def clinic(db: Session) -> Clinic:
    return make_clinic(db)


@pytest.fixture
def patient(db: Session) -> User:
    return make_user(db, full_name="Dilnoza Karimova")


@pytest.fixture
def patient_headers(db: Session, patient: User) -> dict[str, str]:
    return sign_in(db, patient)


def test_a_wfdb_upload_is_analysed_and_read_back_in_russian(
    client: TestClient, db: Session, patient: User, patient_headers: dict[str, str]
) -> None:
    key = str(uuid.uuid4())
    headers = {**patient_headers, "Idempotency-Key": key, "Accept-Language": "ru"}
    answer = client.post("/v1/studies", files=wfdb_pair(), headers=headers)
    assert answer.status_code == 202, answer.text
    study = answer.json()
    assert study["status"] == "pending" and study["file_format"] == "wfdb_zip"
    replay = client.post("/v1/studies", files=wfdb_pair(), headers=headers)
    assert replay.status_code == 202 and replay.json()["id"] == study["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"

    process(db, study["id"])
    read = client.get(f"/v1/studies/{study['id']}", headers={**patient_headers, "Accept-Language": "ru"})
    assert read.status_code == 200
    body = read.json()
    assert body["status"] == "done"
    result = body["result"]
    assert result["interpretable"] is True
    assert result["findings"][0]["label"] == "NORM"
    assert result["findings"][0]["text"] == "ЭКГ в пределах нормы"
    assert result["triage"]["code"] == "routine"
    assert "не диагноз" in result["disclaimer"]
    assert 50 <= result["measurements"]["heart_rate_bpm"] <= 80
    assert result["model_version"] and result["processing_ms"] > 0
    assert body["reviewed_by_clinician"] is False
    pushed = db.exec(select(Notification).where(Notification.user_id == patient.id)).all()
    assert [(n.kind, n.params["study_id"]) for n in pushed] == [
        (NotificationKind.ecg_result_ready, study["id"])
    ]
    # A second run of the job (a redelivered message) records nothing more.
    assert not tasks.run_analysis(lambda: transaction(db), uuid.UUID(study["id"]), None)


def test_quality_problems_come_with_notes_in_the_callers_language(
    client: TestClient, db: Session, patient: User, patient_headers: dict[str, str]
) -> None:
    problems = ["noisy", "photo_glare", "photo_calibration_pulse_missing"]
    reading = {**READING, "quality": {"problems": problems, "interpretable": True}}
    study = make_analysed_study(db, patient, None, reading)

    result = client.get(f"/v1/studies/{study.id}", headers={**patient_headers, "Accept-Language": "ru"})
    assert result.status_code == 200, result.text
    body = result.json()["result"]
    assert body["quality_problems"] == problems  # the codes older apps read, as they were
    notes = body["quality_notes"]
    assert [note["code"] for note in notes] == problems
    assert [note["text"] for note in notes] == [gettext(QUALITY_TEXTS[code], "ru") for code in problems]
    assert "блик" in notes[1]["text"] and "лампы" in notes[1]["text"]  # Russian, with the retake advice

    english = client.get(f"/v1/studies/{study.id}", headers=patient_headers).json()["result"]
    assert [note["text"] for note in english["quality_notes"]] == [QUALITY_TEXTS[code] for code in problems]


def test_a_result_without_quality_problems_has_no_notes(
    client: TestClient, db: Session, patient: User, patient_headers: dict[str, str]
) -> None:
    study = make_analysed_study(db, patient, None)
    body = client.get(f"/v1/studies/{study.id}", headers=patient_headers).json()["result"]
    assert body["quality_problems"] == [] and body["quality_notes"] == []


@pytest.mark.parametrize(
    ("path", "expected_format"),
    [
        ("dicom/waveform_ecg.dcm", "dicom"),
        ("aecg/hl7_aecg_example_1s.xml", "hl7_aecg"),
    ],
)
def test_other_formats_are_accepted(
    client: TestClient, patient_headers: dict[str, str], path: str, expected_format: str
) -> None:
    answer = upload(client, patient_headers, one_file(Path(path).name, (DATA / path).read_bytes()))
    assert answer.status_code == 202, answer.text
    assert answer.json()["file_format"] == expected_format


def test_a_zip_and_a_csv_are_accepted(
    client: TestClient, db: Session, patient_headers: dict[str, str]
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for _, (name, data, _) in wfdb_pair():
            archive.writestr(f"exam/{name}", data)
    zipped = upload(client, patient_headers, one_file("exam.zip", buffer.getvalue()))
    assert zipped.status_code == 202 and zipped.json()["file_format"] == "wfdb"
    process(db, zipped.json()["id"])
    csv_text = client.get(f"/v1/studies/{zipped.json()['id']}/signal.csv", headers=patient_headers)
    assert csv_text.status_code == 200 and csv_text.headers["content-type"].startswith("text/csv")
    # Our own download is a CSV our reader takes back.
    again = upload(client, patient_headers, one_file("signal.csv", csv_text.content))
    assert again.status_code == 202 and again.json()["file_format"] == "csv"


def tiny_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (the pixels are never there: only the header is read)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("00001_hr.dat", b"\0" * 200_000_000)
        archive.writestr("00001_hr.hea", (PTBXL / "00001_hr.hea").read_bytes())
    return buffer.getvalue()


def header_only_zip() -> bytes:
    """A zip whose .hea names a signal file the zip does not hold."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("00001_hr.hea", (PTBXL / "00001_hr.hea").read_bytes())
    return buffer.getvalue()


def dicom_without_waveform() -> bytes:
    dataset = pydicom.dcmread(DATA / "dicom" / "waveform_ecg.dcm")
    del dataset.WaveformSequence
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (lambda: one_file("empty.dat", b""), "empty_file"),
        (lambda: one_file("00001_hr.hea", (PTBXL / "00001_hr.hea").read_bytes()), "wfdb_data_missing"),
        (
            lambda: [
                wfdb_pair()[0],
                ("file", ("00001_hr.dat", (PTBXL / "00001_hr.dat").read_bytes()[:1000], "x")),
            ],
            "corrupt_file",
        ),
        (lambda: one_file("bomb.zip", zip_bomb()), "unsafe_archive"),
        (lambda: one_file("header-only.zip", header_only_zip()), "corrupt_file"),
        (lambda: one_file("no-waveform.dcm", dicom_without_waveform()), "no_waveform"),
        (lambda: one_file("huge.png", tiny_png(30_000, 30_000)), "image_too_large"),
        (lambda: one_file("notes.txt", b"Dear doctor, my heart hurts."), "unsupported_format"),
    ],
    ids=[
        "empty",
        "hea_without_dat",
        "truncated_dat",
        "zip_bomb",
        "hea_pointing_at_missing_dat",
        "dicom_without_waveform",
        "huge_image",
        "text",
    ],
)
def test_bad_input_is_refused_in_the_callers_language_and_nothing_is_stored(
    client: TestClient, db: Session, patient: User, patient_headers: dict[str, str], files, reason: str
) -> None:  # type: ignore[no-untyped-def]
    blobs_before = set(Path(get_blob_store().backend.root).rglob("*"))  # type: ignore[attr-defined]
    answer = upload(client, {**patient_headers, "Accept-Language": "ru"}, files())
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "upload_refused"
    assert problem["reason"] == reason
    assert any("а" <= ch <= "я" for ch in problem["detail"].lower()), problem["detail"]
    assert db.exec(select(Study).where(Study.patient_id == patient.id)).all() == []
    assert set(Path(get_blob_store().backend.root).rglob("*")) == blobs_before  # type: ignore[attr-defined]


def test_a_photo_that_is_not_an_ecg_fails_with_a_retake_hint(
    client: TestClient, db: Session, patient_headers: dict[str, str]
) -> None:
    rng = np.random.default_rng(1)
    picture = (rng.random((900, 1200, 3)) * 255).astype(np.uint8)  # noise, not an ECG
    ok, png = cv2.imencode(".png", picture)
    assert ok
    answer = upload(client, patient_headers, one_file("photo.png", png.tobytes()))
    assert answer.status_code == 202 and answer.json()["input_kind"] == "photo"
    process(db, answer.json()["id"])
    body = client.get(
        f"/v1/studies/{answer.json()['id']}", headers={**patient_headers, "Accept-Language": "uz"}
    ).json()
    assert body["status"] == "failed"
    assert body["result"] is None
    assert body["failure"]["code"] in {"not_an_ecg", "no_grid", "trace_not_readable", "layout_not_recognized"}
    assert body["failure"]["text"] and body["failure"]["text"] != body["failure"]["code"]


def test_signal_preview_report_and_fhir(
    client: TestClient, db: Session, patient_headers: dict[str, str]
) -> None:
    study_id = upload(client, patient_headers, wfdb_pair()).json()["id"]
    not_ready = client.get(f"/v1/studies/{study_id}/signal", headers=patient_headers)
    assert not_ready.status_code == 409 and not_ready.json()["code"] == "study_not_ready"
    process(db, study_id)
    preview = client.get(f"/v1/studies/{study_id}/signal", headers=patient_headers).json()
    assert preview["fs"] == 100 and preview["units"] == "uV" and preview["duration_s"] == 10
    assert list(preview["leads"]) == [
        "I",
        "II",
        "III",
        "aVR",
        "aVL",
        "aVF",
        "V1",
        "V2",
        "V3",
        "V4",
        "V5",
        "V6",
    ]
    assert len(preview["leads"]["II"]) == 1000
    original = read_record(PTBXL / "00001_hr.hea")
    lead_ii = np.array(preview["leads"]["II"], dtype=float) / 1000
    assert np.corrcoef(lead_ii, original.signal[::5, 1])[0, 1] > 0.95
    pdf = client.get(f"/v1/studies/{study_id}/report.pdf", headers=patient_headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    bundle = client.get(f"/v1/studies/{study_id}/fhir", headers=patient_headers)
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("application/fhir+json")
    assert bundle.json()["resourceType"] == "Bundle"
    original_file = client.get(f"/v1/studies/{study_id}/original", headers=patient_headers)
    with zipfile.ZipFile(io.BytesIO(original_file.content)) as archive:
        assert archive.read("00001_hr.dat") == (PTBXL / "00001_hr.dat").read_bytes()


def test_other_patients_cannot_see_a_study(
    client: TestClient, db: Session, patient_headers: dict[str, str]
) -> None:
    study_id = upload(client, patient_headers, wfdb_pair()).json()["id"]
    stranger = sign_in(db, make_user(db))
    for path in ("", "/signal", "/report.pdf", "/fhir", "/original"):
        answer = client.get(f"/v1/studies/{study_id}{path}", headers=stranger)
        assert answer.status_code == 404 and answer.json()["code"] == "study_not_found", path
    assert client.delete(f"/v1/studies/{study_id}", headers=stranger).status_code == 404


def booked(db: Session, clinic: Clinic, patient: User) -> uuid.UUID:
    """A booked ECG appointment of the patient at the clinic (rows made directly: the booking
    rules have their own tests)."""
    start = utcnow().replace(microsecond=0) + timedelta(hours=2)
    resource = Resource(clinic_id=clinic.id, name="ECG room", kind=ResourceKind.room)
    db.add(resource)
    db.commit()
    slot = Slot(
        clinic_id=clinic.id,
        resource_id=resource.id,
        service=ClinicService.ecg,
        starts_at=start,
        ends_at=start + timedelta(minutes=15),
        capacity=1,
        booked_count=1,
    )
    db.add(slot)
    db.commit()
    booking = Booking(
        clinic_id=clinic.id,
        slot_id=slot.id,
        patient_id=patient.id,
        service=ClinicService.ecg,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        status=BookingStatus.booked,
    )
    db.add(booking)
    db.commit()
    return booking.id


def test_clinicians_review_and_every_read_is_audited(
    client: TestClient, db: Session, clinic: Clinic, patient: User, patient_headers: dict[str, str]
) -> None:
    booking_id = booked(db, clinic, patient)
    study_id = upload(client, patient_headers, wfdb_pair(17), booking_id=str(booking_id)).json()["id"]
    process(db, study_id)
    clinician = make_user(db, Role.clinician, clinics=[clinic], full_name="Dr Aziz Rakhimov")
    doctor = sign_in(db, clinician)
    worklist = client.get("/v1/clinic/studies", params={"clinic_id": str(clinic.id)}, headers=doctor).json()
    assert [item["id"] for item in worklist["items"]] == [study_id]
    assert worklist["items"][0]["triage"] in ("soon", "urgent")
    seen = client.get(f"/v1/clinic/studies/{study_id}", headers=doctor)
    assert seen.status_code == 200 and seen.json()["result"]["findings"]

    unknown = client.post(
        f"/v1/clinic/studies/{study_id}/review",
        json={"verdict": "corrected", "labels": ["XYZ"]},
        headers=doctor,
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_labels"
    reviewed = client.post(
        f"/v1/clinic/studies/{study_id}/review",
        json={"verdict": "corrected", "labels": ["AFLT"], "comment": "Flutter 2:1, not fibrillation."},
        headers=doctor,
    )
    assert reviewed.status_code == 201, reviewed.text
    mine = client.get(f"/v1/studies/{study_id}", headers=patient_headers).json()
    assert mine["reviewed_by_clinician"] is True
    assert mine["review"]["labels"] == ["AFLT"] and mine["review"]["clinician_name"] == "Dr Aziz Rakhimov"

    other_clinic = make_user(db, Role.clinician, clinics=[make_clinic(db)])
    assert client.get(f"/v1/clinic/studies/{study_id}", headers=sign_in(db, other_clinic)).status_code == 404

    admin = sign_in(db, make_user(db, Role.admin))
    events = client.get("/v1/admin/audit-events", params={"object_id": study_id}, headers=admin).json()[
        "items"
    ]
    assert {(e["action"], e["actor_id"]) for e in events} >= {
        ("study.read", str(clinician.id)),
        ("study.reviewed", str(clinician.id)),
    }
    # The patient reading their own study is not an audit event.
    assert all(e["actor_id"] != str(patient.id) for e in events)

    export = client.get("/v1/admin/study-feedback.zip", headers=admin)
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("reviews.csv").decode())))
        assert [(r["study_id"], r["clinician_labels"], r["verdict"]) for r in rows] == [
            (study_id, "AFLT", "corrected")
        ]
        names = set(archive.namelist())
        assert {f"signals/{study_id}.hea", f"signals/{study_id}.dat"} <= names


def test_feedback_export_signals_are_readable_wfdb(
    client: TestClient,
    db: Session,
    clinic: Clinic,
    patient: User,
    patient_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    booking_id = booked(db, clinic, patient)
    study_id = upload(client, patient_headers, wfdb_pair(), booking_id=str(booking_id)).json()["id"]
    process(db, study_id)
    doctor = sign_in(db, make_user(db, Role.clinician, clinics=[clinic]))
    client.post(f"/v1/clinic/studies/{study_id}/review", json={"verdict": "confirmed"}, headers=doctor)
    export = client.get("/v1/admin/study-feedback.zip", headers=sign_in(db, make_user(db, Role.admin)))
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        archive.extractall(tmp_path)
        rows = list(csv.DictReader(io.StringIO(archive.read("reviews.csv").decode())))
    assert rows[0]["clinician_labels"] == "NORM"
    signal, fields = wfdb.rdsamp(str(tmp_path / "signals" / study_id))
    original = read_record(PTBXL / "00001_hr.hea").signal
    assert fields["fs"] == 500 and signal.shape == original.shape
    assert np.abs(signal - original).max() < 0.001


def test_hospital_push_links_patients_and_is_idempotent(
    client: TestClient, db: Session, clinic: Clinic, patient: User, patient_headers: dict[str, str]
) -> None:
    his, _ = make_hospital_client(db, clinic)
    headers = hospital_headers(his)
    booking_id = booked(db, clinic, patient)
    form = {"external_id": "EXAM-1", "booking_id": str(booking_id), "patient_identifier": "MRN-77"}
    first = client.post("/v1/hospital/studies", files=wfdb_pair(), data=form, headers=headers)
    assert first.status_code == 202, first.text
    again = client.post("/v1/hospital/studies", files=wfdb_pair(), data=form, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    later = client.post(
        "/v1/hospital/studies",
        files=wfdb_pair(2),
        data={"external_id": "EXAM-2", "patient_identifier": "MRN-77"},
        headers=headers,
    )
    assert later.status_code == 202
    mine = client.get("/v1/studies", headers=patient_headers).json()["items"]
    assert {item["id"] for item in mine} == {first.json()["id"], later.json()["id"]}
    unknown = client.post(
        "/v1/hospital/studies",
        files=wfdb_pair(),
        data={"external_id": "EXAM-3", "patient_identifier": "MRN-nobody"},
        headers=headers,
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "patient_not_identified"
    other_his, _ = make_hospital_client(db, make_clinic(db))
    foreign = client.post(
        "/v1/hospital/studies",
        files=wfdb_pair(),
        data={"external_id": "EXAM-4", "booking_id": str(booking_id)},
        headers=hospital_headers(other_his),
    )
    assert foreign.status_code == 404 and foreign.json()["code"] == "booking_not_found"
    process(db, first.json()["id"])
    fhir = client.get(f"/v1/hospital/studies/{first.json()['id']}/fhir", headers=headers)
    assert fhir.status_code == 200
    assert (
        client.get(
            f"/v1/hospital/studies/{first.json()['id']}/fhir", headers=hospital_headers(other_his)
        ).status_code
        == 404
    )


def test_deleting_a_study_leaves_only_an_audit_entry(
    client: TestClient, db: Session, patient: User, patient_headers: dict[str, str]
) -> None:
    study_id = upload(client, patient_headers, wfdb_pair()).json()["id"]
    process(db, study_id)
    study = db.get(Study, uuid.UUID(study_id))
    result = db.get(StudyResult, uuid.UUID(study_id))
    assert study is not None and result is not None
    keys = [study.blob_key, result.signal_blob_key]
    store = get_blob_store()
    assert all(store.exists(key) for key in keys)
    assert client.delete(f"/v1/studies/{study_id}", headers=patient_headers).status_code == 204
    db.expire_all()
    assert db.get(Study, uuid.UUID(study_id)) is None and db.get(StudyResult, uuid.UUID(study_id)) is None
    assert not any(store.exists(key) for key in keys)
    events = db.exec(select(AuditEvent).where(AuditEvent.object_id == uuid.UUID(study_id))).all()
    assert [(e.action, e.detail) for e in events] == [("study.deleted", {"source": "app_upload"})]
    assert client.get(f"/v1/studies/{study_id}", headers=patient_headers).status_code == 404


def test_list_is_paged_newest_first(client: TestClient, db: Session, patient_headers: dict[str, str]) -> None:
    ids = [upload(client, patient_headers, wfdb_pair()).json()["id"] for _ in range(3)]
    first = client.get("/v1/studies", params={"limit": 2}, headers=patient_headers).json()
    second = client.get(
        "/v1/studies", params={"limit": 2, "cursor": first["next_cursor"]}, headers=patient_headers
    ).json()
    assert [i["id"] for i in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
    assert all(i["status"] == StudyStatus.pending for i in first["items"])


def test_an_iphone_heic_photo_is_accepted_and_decoded(
    client: TestClient, patient_headers: dict[str, str]
) -> None:
    picture = Image.new("RGB", (1200, 900), (250, 225, 225))
    encoded = io.BytesIO()
    picture.save(encoded, format="HEIF", quality=90)
    answer = upload(client, patient_headers, one_file("IMG_0001.HEIC", encoded.getvalue()))
    assert answer.status_code == 202, answer.text
    assert (answer.json()["input_kind"], answer.json()["file_format"]) == ("photo", "heic")
    decoded = decode(encoded.getvalue())  # the digitizer's first step
    assert decoded.shape == (900, 1200, 3)
    assert np.abs(decoded.reshape(-1, 3).mean(0) - (225, 225, 250)).max() < 6  # BGR of the pink page
