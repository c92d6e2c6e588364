"""The background analysis of a study, and the sweep that re-sends forgotten ones.

The job runs in three steps so that no row lock is held while ecg_ml works: claim the study
(pending -> processing, in its own transaction), analyse it, then record the result (done) with
the patient's notification in one transaction. Both transactions lock the study's row and look
at its status first, so a job that runs twice (a redelivered message, the sweep) records one
result and sends one notification. Bad input fails the study with its reason code and is not
retried; anything else (storage or database unavailable) raises, and the queue retries."""

import io
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module

import dramatiq
import numpy as np
from sqlmodel import Session, col, select

import ecg_ml  # its parts load on first use (PEP 562): torch and OpenCV only in the worker
from ecg_ml import ECGError, ECGRecord
from notifications.models import NotificationKind
from notifications.service import enqueue as enqueue_notification
from services.db import get_engine, transaction, utcnow
from services.jobs import JobKind, enqueue
from services.risk.service import latest_category
from services.settings import get_settings
from services.storage import get_blob_store
from services.studies.models import Study, StudyInput, StudyResult, StudyStatus

logger = logging.getLogger("cardioalert.studies")

ANALYZE_STUDY = JobKind("analyze_study")
ANALYSIS_FAILED = "analysis_failed"  # the failure reason of a study given up after its attempts


@dataclass(frozen=True)
class Claim:
    study_id: uuid.UUID
    blob_key: str
    input_kind: StudyInput
    original_name: str
    patient_id: uuid.UUID
    # The patient's latest risk-test category (services.risk), read with the claim.
    risk_category: str | None = None


def _current_message_id() -> str | None:
    message = dramatiq.middleware.CurrentMessage.get_current_message()
    return message.message_id if message is not None else None


def claim(session: Session, study_id: uuid.UUID, job_id: str | None, now: datetime) -> Claim | None:
    """Take the study for this job, or None when there is nothing to do: finished already, or
    another live job holds it (a redelivery of the same message takes it over), or it was taken
    `study_max_attempts` times already without an outcome (it fails now, `analysis_failed`)."""
    study = session.exec(select(Study).where(Study.id == study_id).with_for_update()).first()
    if study is None or study.status in (StudyStatus.done, StudyStatus.failed):
        return None
    stale = timedelta(seconds=get_settings().study_stale_seconds)
    held_by_other = (
        study.status is StudyStatus.processing
        and study.job_id != job_id
        and study.started_at is not None
        and now - study.started_at < stale
    )
    if held_by_other:
        return None
    if study.attempts >= get_settings().study_max_attempts:
        # Every attempt so far died or raised (a worker killed by the input, a bug on it): one
        # more would only repeat that, and the sweep would resend it forever.
        _fail(session, study, ANALYSIS_FAILED, now)
        return None
    study.status = StudyStatus.processing
    study.job_id = job_id
    study.attempts += 1
    study.started_at = now
    study.updated_at = now
    session.add(study)
    return Claim(
        study.id,
        study.blob_key,
        study.input_kind,
        study.original_name,
        study.patient_id,
        risk_category=latest_category(session, study.patient_id),
    )


def load_models() -> None:
    """Import the analysis (torch, NeuroKit2) and load the classifier: the worker does it once at
    start, so the first study waits no longer than the others. The API never does."""
    import_module("ecg_ml.classify").load_classifier()


def read_input(data: bytes, taken: Claim) -> ECGRecord:
    """The study's original as a record: read as an ECG file, or digitized from the photo."""
    if taken.input_kind is StudyInput.photo:
        return ecg_ml.digitize_image(data).record()
    return ecg_ml.read_record(data, filename=taken.original_name)


def _signal_bytes(signal: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(signal, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def record_outcome(
    session: Session,
    taken: Claim,
    *,
    job_id: str | None,
    result: StudyResult | None,
    failure: str | None,
    now: datetime,
) -> bool:
    """Done (with its result and the patient's notification) or failed; False when another job
    finished the study first."""
    study = session.exec(select(Study).where(Study.id == taken.study_id).with_for_update()).first()
    if study is None or study.status in (StudyStatus.done, StudyStatus.failed):
        return False
    study.job_id = job_id
    if result is None:
        _fail(session, study, failure or ANALYSIS_FAILED, now)
        return True
    session.add(result)
    study.status = StudyStatus.done
    study.finished_at = study.updated_at = now
    session.add(study)
    _notify_patient(session, study, result.triage)
    return True


def _fail(session: Session, study: Study, reason: str, now: datetime) -> None:
    study.status = StudyStatus.failed
    study.failure_reason = reason
    study.finished_at = study.updated_at = now
    session.add(study)
    _notify_patient(session, study, "failed")


def _notify_patient(session: Session, study: Study, triage: str) -> None:
    enqueue_notification(
        session,
        user_id=study.patient_id,
        kind=NotificationKind.ecg_result_ready,
        dedup_key=f"ecg_study:{study.id}",
        params={"study_id": str(study.id), "triage": triage},
    )


def analyze_study(study_id: str) -> None:
    """The job. Raises only for transient failures (the queue retries those)."""
    run_analysis(_own_transaction, uuid.UUID(study_id), _current_message_id())


@contextmanager
def _own_transaction() -> Iterator[Session]:
    with Session(get_engine(), expire_on_commit=False) as session, transaction(session):
        yield session


def run_analysis(
    transaction_scope: Callable[[], AbstractContextManager[Session]], study_id: uuid.UUID, job_id: str | None
) -> bool:
    """Claim, analyse, record; each database step in a transaction of `transaction_scope`.
    True when this run recorded the outcome."""
    with transaction_scope() as session:
        taken = claim(session, study_id, job_id, utcnow())
    if taken is None:
        return False
    started = time.perf_counter()
    store = get_blob_store()
    data = store.get(taken.blob_key)
    result = failure = None
    try:
        record = read_input(data, taken)
        reading = ecg_ml.analyze(record, risk_category=taken.risk_category)
    except ECGError as error:
        failure = error.code
    else:
        signal_key = f"studies/{taken.study_id}/signal.npy"
        store.put(signal_key, _signal_bytes(record.signal), "application/x-npy")
        result = StudyResult(
            study_id=taken.study_id,
            interpretable=reading.interpretable,
            reason=reading.reason,
            triage=reading.triage,
            analysis=reading.to_dict(),
            model_version=reading.model_version,
            signal_blob_key=signal_key,
            fs=float(record.fs),
            samples=int(record.signal.shape[0]),
            processing_ms=round((time.perf_counter() - started) * 1000),
        )
    with transaction_scope() as session:
        recorded = record_outcome(session, taken, job_id=job_id, result=result, failure=failure, now=utcnow())
        deleted_meanwhile = not recorded and session.get(Study, taken.study_id) is None
    if deleted_meanwhile and result is not None:
        # The patient deleted the study while it was analysed: its signal must not outlive it.
        store.delete(result.signal_blob_key)
    logger.info(
        "study analysed" if recorded else "study already finished by another job",
        extra={
            "study_id": str(study_id),
            "failure": failure,
            "ms": round((time.perf_counter() - started) * 1000),
        },
    )
    return recorded


def resend_waiting_studies(session: Session, now: datetime) -> int:
    """Periodic: studies pending for a while (their message was lost, or the queue was down at
    the commit) or processing for too long (their worker died) are sent to the queue again."""
    settings = get_settings()
    waiting = now - timedelta(seconds=settings.study_resend_after_seconds)
    stale = now - timedelta(seconds=settings.study_stale_seconds)
    ids = session.exec(
        select(Study.id)
        .where(
            ((Study.status == StudyStatus.pending) & (col(Study.updated_at) < waiting))
            | ((Study.status == StudyStatus.processing) & (col(Study.started_at) < stale))
        )
        .limit(1000)
    ).all()
    sent = 0
    for study_id in ids:
        sent += enqueue(ANALYZE_STUDY, str(study_id))
    if ids:
        # Touch them, so the next sweep waits its interval again before resending.
        for study in session.exec(select(Study).where(col(Study.id).in_(ids))):
            study.updated_at = now
            session.add(study)
    return sent
