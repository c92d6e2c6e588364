"""The rules of ECG studies: intake from the app and from hospital systems, who may read what
(and the audit of every read of medical content by anyone but the patient), results in the
reader's language, clinicians' reviews, the feedback export, and deletion on the patient's
request. Services never commit; files leave storage only after the rows' deletion commits."""

import csv
import hashlib
import io
import tempfile
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import wfdb
from scipy.signal import resample_poly
from sqlmodel import Session, col, select

from booking.models import Booking
from ecg_ml import STANDARD_LEADS
from ecg_ml.digitize.feedback import RETAKE_HINTS
from ecg_ml.labels import LABELS
from ecg_ml.recommend import (
    DISCLAIMER,
    FINDING_TEXTS,
    QUALITY_TEXTS,
    REASON_TEXTS,
    RECOMMENDATION_TEXTS,
    TRIAGE_TEXTS,
)
from i18n import N_, Language, gettext, pick_localized
from services.accounts.models import User
from services.auth import Principal
from services.clinics.models import Clinic
from services.db import run_after_commit, run_after_rollback
from services.errors import Conflict, Forbidden, NotFound, UnprocessableRequest
from services.jobs import enqueue_after_commit
from services.pagination import decode_cursor, encode_cursor
from services.settings import Settings
from services.storage import BlobStore
from services.studies import intake
from services.studies.fhir import StudyView, study_bundle
from services.studies.models import (
    AuditEvent,
    HospitalPatientLink,
    ReviewVerdict,
    Study,
    StudyInput,
    StudyResult,
    StudyReview,
    StudySource,
    StudyStatus,
)
from services.studies.report import ClinicianReview, ReportData, ReviewStatus
from services.studies.schemas import (
    AuditEventPublic,
    AuditPage,
    CodeText,
    FindingPublic,
    ReviewCreate,
    ReviewPublic,
    SignalPreview,
    StudyPage,
    StudyPublic,
    StudyResultPublic,
    StudySummary,
)
from services.studies.tasks import ANALYSIS_FAILED, ANALYZE_STUDY

PREVIEW_FS = 100.0  # the app's plot: 1,000 points per lead for 10 s
TRIAGE_ORDER = {"urgent": 0, "soon": 1, "not_interpretable": 2, "routine": 3}

# Why an upload was refused (intake.IntakeRefused reasons); the ECG readers' codes are in
# ecg_ml.recommend.REASON_TEXTS.
INTAKE_TEXTS = {
    "no_file": N_("Attach the ECG file or photo to the request."),
    "empty_file": N_("The file is empty."),
    "file_too_large": N_("The file is too large: at most {limit} bytes."),
    "image_too_large": N_("The image is too large: at most {limit} pixels."),
    "image_too_small": N_("The image is too small to read an ECG from: take a closer, sharper photo."),
    "corrupt_image": N_("The image file is damaged and cannot be opened."),
    "one_photo_per_study": N_("Send one photo per study."),
    "no_signal": N_("The file holds no signal."),
    "wfdb_data_missing": N_(
        "A WFDB header (.hea) needs its signal file (.dat): send both, or a zip of them."
    ),
}


# ------------------------------------------------------------------ errors


class StudyNotFound(NotFound):
    code = "study_not_found"
    title = N_("Study not found")
    detail = N_("There is no such ECG study, or it is not yours to see.")


class UploadRefused(UnprocessableRequest):
    code = "upload_refused"
    title = N_("This file cannot be used")


class StudyNotReady(Conflict):
    code = "study_not_ready"
    title = N_("Not analysed yet")
    detail = N_("The study has no result yet. You will get a notification when it is ready.")


class PatientNotIdentified(UnprocessableRequest):
    code = "patient_not_identified"
    title = N_("Patient not identified")
    detail = N_(
        "Name the patient by a booking of your clinic, or by a patient identifier already linked "
        "through an earlier study for a booking."
    )


class UnknownLabels(UnprocessableRequest):
    code = "unknown_labels"
    title = N_("Unknown findings")
    detail = N_("These findings are not labels of the model: {labels}.")


class NotYourClinic(Forbidden):
    code = "not_your_clinic"
    detail = N_("This study belongs to a clinic you are not a member of.")


def refused(error: intake.IntakeRefused) -> UploadRefused:
    text = INTAKE_TEXTS.get(error.reason) or REASON_TEXTS.get(error.reason) or REASON_TEXTS["unreadable_ecg"]
    return UploadRefused(text, extensions={"reason": error.reason}, **error.params)


# ------------------------------------------------------------------ intake


def _store_new_study(
    session: Session,
    store: BlobStore,
    accepted: intake.Accepted,
    *,
    patient_id: uuid.UUID,
    source: StudySource,
    clinic_id: uuid.UUID | None,
    booking_id: uuid.UUID | None,
    external_id: str | None = None,
) -> Study:
    study_id = uuid.uuid4()
    blob_key = f"studies/{study_id}/original"
    content_type = (
        f"image/{accepted.file_format}"
        if accepted.input_kind is StudyInput.photo
        else "application/octet-stream"
    )
    store.put(blob_key, accepted.original, content_type)
    # A transaction that fails after the put must not leave an unreachable copy behind.
    run_after_rollback(session, lambda: store.delete(blob_key))
    study = Study(
        id=study_id,
        patient_id=patient_id,
        clinic_id=clinic_id,
        booking_id=booking_id,
        external_id=external_id,
        source=source,
        input_kind=accepted.input_kind,
        file_format=accepted.file_format,
        original_name=accepted.original_name,
        size_bytes=len(accepted.original),
        sha256=hashlib.sha256(accepted.original).hexdigest(),
        blob_key=blob_key,
        status=StudyStatus.pending,
    )
    session.add(study)
    session.flush()
    enqueue_after_commit(session, ANALYZE_STUDY, str(study.id))
    return study


def submit_from_app(
    session: Session,
    store: BlobStore,
    settings: Settings,
    patient: User,
    files: list[intake.UploadedFile],
    booking_id: uuid.UUID | None,
) -> Study:
    """A patient's upload. With `booking_id` (one of the patient's bookings) the study is
    shared with that booking's clinic for review."""
    clinic_id = None
    if booking_id is not None:
        clinic_id = _booking_clinic(session, booking_id, patient_id=patient.id)
    try:
        accepted = intake.accept(files, settings.max_upload_bytes, settings.max_image_pixels)
    except intake.IntakeRefused as error:
        raise refused(error) from None
    return _store_new_study(
        session,
        store,
        accepted,
        patient_id=patient.id,
        source=StudySource.app_upload,
        clinic_id=clinic_id,
        booking_id=booking_id,
    )


def submit_from_hospital(
    session: Session,
    store: BlobStore,
    settings: Settings,
    client: Principal,
    files: list[intake.UploadedFile],
    *,
    external_id: str,
    booking_id: uuid.UUID | None,
    patient_identifier: str | None,
) -> tuple[Study, bool]:
    """A hospital system's push, linked to the patient by a booking at its clinic or by the
    identifier it holds for the patient. The same `external_id` again returns the first study
    (False: not created now)."""
    assert client.client is not None
    clinic_id = client.client.clinic_id
    existing = session.exec(
        select(Study).where(Study.clinic_id == clinic_id, Study.external_id == external_id)
    ).first()
    if existing is not None:
        return existing, False
    patient_id = None
    if booking_id is not None:
        patient_id = _booking_patient(session, booking_id, clinic_id)
        if patient_identifier:
            _link_patient(session, clinic_id, patient_identifier, patient_id)
    elif patient_identifier:
        link = session.exec(
            select(HospitalPatientLink).where(
                HospitalPatientLink.clinic_id == clinic_id,
                HospitalPatientLink.identifier == patient_identifier,
            )
        ).first()
        patient_id = link.patient_id if link is not None else None
    if patient_id is None:
        raise PatientNotIdentified()
    try:
        accepted = intake.accept(files, settings.max_upload_bytes, settings.max_image_pixels)
    except intake.IntakeRefused as error:
        raise refused(error) from None
    study = _store_new_study(
        session,
        store,
        accepted,
        patient_id=patient_id,
        source=StudySource.hospital_push,
        clinic_id=clinic_id,
        booking_id=booking_id,
        external_id=external_id,
    )
    return study, True


def _booking_clinic(session: Session, booking_id: uuid.UUID, *, patient_id: uuid.UUID) -> uuid.UUID:
    booking = session.get(Booking, booking_id)
    if booking is None or booking.patient_id != patient_id:
        raise StudyBookingNotFound()
    return booking.clinic_id


def _booking_patient(session: Session, booking_id: uuid.UUID, clinic_id: uuid.UUID) -> uuid.UUID:
    booking = session.get(Booking, booking_id)
    if booking is None or booking.clinic_id != clinic_id:
        raise StudyBookingNotFound()
    return booking.patient_id


class StudyBookingNotFound(NotFound):
    code = "booking_not_found"
    title = N_("Booking not found")
    detail = N_("There is no such booking for this patient or clinic.")


def _link_patient(session: Session, clinic_id: uuid.UUID, identifier: str, patient_id: uuid.UUID) -> None:
    link = session.exec(
        select(HospitalPatientLink).where(
            HospitalPatientLink.clinic_id == clinic_id, HospitalPatientLink.identifier == identifier
        )
    ).first()
    if link is None:
        session.add(HospitalPatientLink(clinic_id=clinic_id, identifier=identifier, patient_id=patient_id))
    elif link.patient_id != patient_id:
        raise Conflict(N_("This patient identifier is already linked to another patient."))


# ------------------------------------------------------------------ reading


def get_own_study(session: Session, patient: User, study_id: uuid.UUID) -> Study:
    study = session.get(Study, study_id)
    if study is None or study.patient_id != patient.id:
        raise StudyNotFound()
    return study


def get_clinic_study(session: Session, principal: Principal, study_id: uuid.UUID) -> Study:
    study = session.get(Study, study_id)
    if study is None:
        raise StudyNotFound()
    if study.clinic_id is None or not principal.can_access_clinic(study.clinic_id):
        raise StudyNotFound()  # not 403: whether a study exists is itself medical information
    return study


def audit(session: Session, actor: Principal | User, action: str, study: Study, **detail: Any) -> None:
    """Record a read (or change) of a study's medical content by someone other than its patient,
    or the patient's own deletion of it."""
    session.add(
        AuditEvent(
            actor_id=actor.id,
            actor_role=str(actor.role),
            action=action,
            object_type="ecg_study",
            object_id=study.id,
            subject_id=study.patient_id,
            detail=detail,
        )
    )


def latest_review(session: Session, study_id: uuid.UUID) -> StudyReview | None:
    return session.exec(
        select(StudyReview)
        .where(StudyReview.study_id == study_id)
        .order_by(col(StudyReview.created_at).desc(), col(StudyReview.id).desc())
    ).first()


def _text(code: str, texts: dict[str, str], language: Language) -> CodeText:
    return CodeText(code=code, text=gettext(texts[code], language) if code in texts else code)


def result_public(result: StudyResult, language: Language) -> StudyResultPublic:
    analysis = result.analysis
    findings = [
        FindingPublic(
            label=finding["label"],
            text=gettext(FINDING_TEXTS.get(finding["label"], finding["label"]), language),
            probability=finding["probability"],
            explanation=finding.get("explanation"),
        )
        for finding in analysis.get("findings", [])
    ]
    problems = list(analysis.get("quality", {}).get("problems", []))
    return StudyResultPublic(
        interpretable=result.interpretable,
        reason=_text(result.reason, REASON_TEXTS, language) if result.reason else None,
        triage=_text(result.triage, TRIAGE_TEXTS, language),
        recommendations=[_text(code, RECOMMENDATION_TEXTS, language) for code in analysis["recommendations"]],
        findings=findings,
        measurements=analysis.get("measurements"),
        quality_problems=problems,
        quality_notes=[_text(code, QUALITY_TEXTS, language) for code in problems],
        model_version=result.model_version,
        rules_version=str(analysis.get("rules_version", "")),
        processing_ms=result.processing_ms,
        disclaimer=gettext(DISCLAIMER, language),
    )


# Why a job gave a study up (services.studies.tasks).
JOB_FAILURE_TEXTS = {
    ANALYSIS_FAILED: N_(
        "The ECG could not be analysed after several tries. Send it again, or contact support if "
        "this happens again."
    ),
}


def failure_text(reason: str, language: Language) -> CodeText:
    texts = {**REASON_TEXTS, **INTAKE_TEXTS, **RETAKE_HINTS, **JOB_FAILURE_TEXTS}
    return _text(reason, texts, language)


def study_public(session: Session, study: Study, language: Language) -> StudyPublic:
    result = session.get(StudyResult, study.id)
    review = latest_review(session, study.id)
    return StudyPublic(
        id=study.id,
        status=study.status,
        source=study.source,
        input_kind=study.input_kind,
        file_format=study.file_format,
        original_name=study.original_name,
        size_bytes=study.size_bytes,
        clinic_id=study.clinic_id,
        booking_id=study.booking_id,
        created_at=study.created_at,
        finished_at=study.finished_at,
        failure=failure_text(study.failure_reason, language) if study.failure_reason else None,
        result=result_public(result, language) if result is not None else None,
        review=_review_public(review) if review is not None else None,
        reviewed_by_clinician=review is not None,
    )


def _review_public(review: StudyReview) -> ReviewPublic:
    return ReviewPublic(
        verdict=review.verdict,
        labels=review.labels,
        comment=review.comment,
        clinician_name=review.clinician_name,
        reviewed_at=review.created_at,
    )


def _summary(study: Study, result: StudyResult | None, reviewed: bool) -> StudySummary:
    findings = result.analysis.get("findings", []) if result is not None else []
    measurements = (result.analysis.get("measurements") or {}) if result is not None else {}
    return StudySummary(
        id=study.id,
        status=study.status,
        input_kind=study.input_kind,
        created_at=study.created_at,
        patient_id=study.patient_id,
        clinic_id=study.clinic_id,
        triage=result.triage if result is not None else None,
        top_finding=findings[0]["label"] if findings else None,
        heart_rate_bpm=measurements.get("heart_rate_bpm"),
        reviewed_by_clinician=reviewed,
    )


def _summaries(session: Session, studies: Sequence[Study]) -> list[StudySummary]:
    """The studies' list entries, with their results and review marks in two queries."""
    ids = [s.id for s in studies]
    results = {
        r.study_id: r for r in session.exec(select(StudyResult).where(col(StudyResult.study_id).in_(ids)))
    }
    reviewed = set(session.exec(select(StudyReview.study_id).where(col(StudyReview.study_id).in_(ids))))
    return [_summary(s, results.get(s.id), s.id in reviewed) for s in studies]


def _page(session: Session, query: Any, cursor: str | None, limit: int) -> StudyPage:
    if cursor is not None:
        created, study_id = decode_cursor(cursor, 2)
        moment = datetime.fromisoformat(str(created))
        query = query.where(
            (col(Study.created_at) < moment)
            | ((col(Study.created_at) == moment) & (col(Study.id) < uuid.UUID(str(study_id))))
        )
    studies = session.exec(
        query.order_by(col(Study.created_at).desc(), col(Study.id).desc()).limit(limit + 1)
    ).all()
    more = len(studies) > limit
    studies = studies[:limit]
    items = _summaries(session, studies)
    last = studies[-1] if studies else None
    next_cursor = encode_cursor([last.created_at.isoformat(), str(last.id)]) if more and last else None
    return StudyPage(items=items, next_cursor=next_cursor)


def list_own_studies(session: Session, patient: User, cursor: str | None, limit: int) -> StudyPage:
    return _page(session, select(Study).where(Study.patient_id == patient.id), cursor, limit)


def clinic_worklist(
    session: Session, principal: Principal, clinic_id: uuid.UUID, unreviewed_only: bool, limit: int
) -> StudyPage:
    """The clinic's analysed studies, the most urgent AI triage first, then the newest."""
    if not principal.can_access_clinic(clinic_id):
        raise NotYourClinic()
    query = select(Study).where(Study.clinic_id == clinic_id)
    studies = session.exec(query.order_by(col(Study.created_at).desc()).limit(500)).all()
    items = _summaries(session, studies)
    if unreviewed_only:
        items = [item for item in items if not item.reviewed_by_clinician]
    items.sort(key=lambda item: (TRIAGE_ORDER.get(item.triage or "", 4), -item.created_at.timestamp()))
    return StudyPage(items=items[:limit], next_cursor=None)


def list_clinic_studies(
    session: Session, principal: Principal, clinic_id: uuid.UUID, cursor: str | None, limit: int
) -> StudyPage:
    if not principal.can_access_clinic(clinic_id):
        raise NotYourClinic()
    return _page(session, select(Study).where(Study.clinic_id == clinic_id), cursor, limit)


# ------------------------------------------------------------------ signal


def read_signal(store: BlobStore, result: StudyResult) -> np.ndarray:
    with io.BytesIO(store.get(result.signal_blob_key)) as buffer:
        return np.load(buffer, allow_pickle=False)


def require_result(session: Session, study: Study) -> StudyResult:
    result = session.get(StudyResult, study.id)
    if result is None:
        raise StudyNotReady()
    return result


def signal_preview(signal: np.ndarray, fs: float) -> SignalPreview:
    """Each lead at PREVIEW_FS in whole microvolts; gaps (NaN) stay gaps."""
    finite = np.isfinite(signal)
    if fs > PREVIEW_FS:
        filled = np.where(finite, signal, 0.0)
        step = round(fs / PREVIEW_FS)
        low = resample_poly(filled, 1, step, axis=0)
        kept = finite[::step][: len(low)]
        low = np.where(kept, low[: len(kept)], np.nan)
        out_fs = fs / step
    else:
        low, out_fs = signal, fs
    leads = {
        name: [None if not np.isfinite(v) else round(float(v) * 1000) for v in low[:, k]]
        for k, name in enumerate(STANDARD_LEADS)
    }
    return SignalPreview(fs=out_fs, duration_s=round(signal.shape[0] / fs, 3), leads=leads)


def signal_csv(signal: np.ndarray, fs: float) -> str:
    """Full resolution in the CSV format ecg_ml reads back (see ecg_ml/io/csv_reader.py)."""
    out = io.StringIO()
    out.write(f"# fs={fs:g}\n# units=uV\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", *STANDARD_LEADS])
    micro = np.where(np.isfinite(signal), np.round(signal * 1000), np.nan)
    for i, row in enumerate(micro):
        writer.writerow([f"{i / fs:.4f}", *("" if np.isnan(v) else int(v) for v in row)])
    return out.getvalue()


# ------------------------------------------------------------------ reports


def _clinician_review(review: StudyReview | None) -> ClinicianReview | None:
    if review is None:
        return None
    return ClinicianReview(
        status=ReviewStatus(str(review.verdict)),
        clinician_name=review.clinician_name,
        reviewed_at=review.created_at,
        comment=review.comment or None,
        clinician_reference=f"Practitioner/{review.clinician_id}" if review.clinician_id else None,
    )


def _clinic_name(clinic: Clinic | None, language: Language) -> str | None:
    if clinic is None:
        return None
    names = {Language.en: clinic.name_en, Language.ru: clinic.name_ru, Language.uz: clinic.name_uz}
    return pick_localized(names, language)


def report_data(session: Session, store: BlobStore, study: Study, language: Language) -> ReportData:
    result = require_result(session, study)
    patient = session.get(User, study.patient_id)
    clinic = session.get(Clinic, study.clinic_id) if study.clinic_id else None
    return ReportData(
        language=language,
        patient_name=patient.full_name if patient is not None else "",
        recorded_at=study.created_at,
        signal=read_signal(store, result),
        fs=result.fs,
        analysis=result.analysis,
        clinic_name=_clinic_name(clinic, language),
        review=_clinician_review(latest_review(session, study.id)),
        study_id=str(study.id),
        time_zone=(clinic.time_zone if clinic is not None else None)
        or (patient.time_zone if patient is not None else "Asia/Tashkent"),
    )


def fhir_bundle(session: Session, store: BlobStore, study: Study) -> dict[str, Any]:
    result = require_result(session, study)
    patient = session.get(User, study.patient_id)
    clinic = session.get(Clinic, study.clinic_id) if study.clinic_id else None
    review = latest_review(session, study.id)
    return study_bundle(
        StudyView(
            study_id=str(study.id),
            patient_reference=f"Patient/{study.patient_id}",
            recorded_at=study.created_at,
            issued_at=review.created_at if review is not None else result.created_at,
            analysis=result.analysis,
            signal=read_signal(store, result),
            fs=result.fs,
            patient_display=patient.full_name if patient is not None else None,
            clinic_reference=f"Organization/{clinic.id}" if clinic is not None else None,
            clinic_display=_clinic_name(clinic, Language.en),
            review=_clinician_review(review),
            report_pdf_url=f"/v1/studies/{study.id}/report.pdf",
        )
    )


# ------------------------------------------------------------------ review and feedback


def review_study(
    session: Session, principal: Principal, study_id: uuid.UUID, data: ReviewCreate
) -> StudyReview:
    study = get_clinic_study(session, principal, study_id)
    result = require_result(session, study)
    unknown = sorted(set(data.labels) - set(LABELS))
    if unknown:
        raise UnknownLabels(labels=", ".join(unknown))
    labels = list(dict.fromkeys(data.labels))
    if data.verdict is ReviewVerdict.confirmed and not labels:
        labels = [finding["label"] for finding in result.analysis.get("findings", [])]
    user = principal.user
    review = StudyReview(
        study_id=study.id,
        clinician_id=principal.id,
        clinician_name=user.full_name if user is not None else "",
        verdict=data.verdict,
        labels=labels,
        comment=data.comment.strip(),
    )
    session.add(review)
    audit(session, principal, "study.reviewed", study, verdict=str(data.verdict))
    session.flush()
    return review


def export_feedback(session: Session, store: BlobStore, principal: Principal) -> bytes:
    """Every reviewed study as labelled data for retraining: reviews.csv (one row per review:
    the AI's findings beside the clinician's labels) and each study's signal as a WFDB record
    (signals/<study id>.hea/.dat, 16-bit, 1 uV per unit). Admins only; audited per study."""
    rows = session.exec(
        select(StudyReview, Study, StudyResult)
        .join(Study, col(Study.id) == col(StudyReview.study_id))
        .join(StudyResult, col(StudyResult.study_id) == col(Study.id))
        .order_by(col(StudyReview.created_at))
    ).all()
    buffer = io.BytesIO()
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(
        [
            "study_id",
            "reviewed_at",
            "verdict",
            "clinician_labels",
            "ai_findings",
            "ai_probabilities",
            "model_version",
            "fs",
            "comment",
        ]
    )
    written: set[uuid.UUID] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for review, study, result in rows:
            probabilities = result.analysis.get("probabilities", {})
            writer.writerow(
                [
                    study.id,
                    review.created_at.isoformat(),
                    review.verdict,
                    ";".join(review.labels),
                    ";".join(f["label"] for f in result.analysis.get("findings", [])),
                    ";".join(f"{k}={v}" for k, v in probabilities.items()),
                    result.model_version,
                    result.fs,
                    review.comment,
                ]
            )
            if study.id not in written:
                written.add(study.id)
                for name, data in _wfdb_files(str(study.id), read_signal(store, result), result.fs).items():
                    archive.writestr(f"signals/{name}", data)
                audit(session, principal, "study.exported", study)
        archive.writestr("reviews.csv", table.getvalue())
    return buffer.getvalue()


def _wfdb_files(name: str, signal: np.ndarray, fs: float) -> dict[str, bytes]:
    digital = (
        np.where(np.isfinite(signal), np.round(signal * 1000), -32768).clip(-32768, 32767).astype(np.int16)
    )
    with tempfile.TemporaryDirectory() as folder:
        wfdb.wrsamp(
            name,
            fs=fs,
            units=["mV"] * 12,
            sig_name=list(STANDARD_LEADS),
            d_signal=digital,
            fmt=["16"] * 12,
            adc_gain=[1000.0] * 12,
            baseline=[0] * 12,
            write_dir=folder,
        )
        return {path.name: path.read_bytes() for path in Path(folder).iterdir()}


def stored_blob_keys(session: Session) -> Iterator[str]:
    """Every blob the studies keep (originals and signals), for key rotation."""
    yield from session.exec(select(Study.blob_key).order_by(col(Study.created_at)))
    yield from session.exec(select(StudyResult.signal_blob_key).order_by(col(StudyResult.created_at)))


# ------------------------------------------------------------------ deletion and audit


def delete_study(session: Session, store: BlobStore, patient: User, study_id: uuid.UUID) -> None:
    """The patient's right to erasure: rows go now, files once that has committed; what stays is
    an audit entry without medical content."""
    study = get_own_study(session, patient, study_id)
    result = session.get(StudyResult, study.id)
    keys = [study.blob_key] + ([result.signal_blob_key] if result is not None else [])
    audit(session, patient, "study.deleted", study, source=str(study.source))
    # Its result and reviews go with it: ON DELETE CASCADE (PostgreSQL, and SQLite with its
    # foreign-key pragma on).
    session.delete(study)
    session.flush()
    for key in keys:
        run_after_commit(session, lambda key=key: store.delete(key))


def list_audit_events(
    session: Session,
    object_id: uuid.UUID | None,
    subject_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> AuditPage:
    query = select(AuditEvent)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    if subject_id is not None:
        query = query.where(AuditEvent.subject_id == subject_id)
    if cursor is not None:
        at, event_id = decode_cursor(cursor, 2)
        moment = datetime.fromisoformat(str(at))
        query = query.where(
            (col(AuditEvent.at) < moment)
            | ((col(AuditEvent.at) == moment) & (col(AuditEvent.id) < uuid.UUID(str(event_id))))
        )
    events = session.exec(
        query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit + 1)
    ).all()
    more = len(events) > limit
    events = events[:limit]
    items = [AuditEventPublic.model_validate(event, from_attributes=True) for event in events]
    last = events[-1] if events else None
    return AuditPage(
        items=items, next_cursor=encode_cursor([last.at.isoformat(), str(last.id)]) if more and last else None
    )
