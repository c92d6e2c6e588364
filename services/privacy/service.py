"""A person's right of access and right to erasure, over every domain that holds their data.

Export: one JSON document of everything stored about the person (profile, sign-in sessions,
bookings, ECG studies with their results and clinicians' reviews, risk assessments, devices,
notification settings and inbox, hospital identifiers, and who read their medical data), and a
zip of that document with the original ECG files and the signals read from them.

Erasure: active bookings are cancelled as the patient would (places freed, hospitals told), the
booking events already written for hospital systems lose the person's id, then the person's row
goes and every row that names them with it (foreign keys ON DELETE CASCADE), and their files
are removed from blob storage before the transaction commits: if storage cannot be reached the
request fails (503) and nothing is erased, instead of reporting success over files left behind.
What stays is the audit trail, without medical content: who read the data, and this erasure."""

import json
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO, Any

from sqlmodel import Session, SQLModel

from booking.service import cancel_for_erasure
from services.accounts.models import User
from services.db import utcnow
from services.privacy.repository import PrivacyRepository
from services.privacy.schemas import EXPORT_FORMAT, PersonExport
from services.storage import BlobStore
from services.studies.models import AuditEvent

SPOOL_BYTES = 16 * 1024 * 1024  # an export larger than this is assembled on disk, not in memory

# Fields that are secrets of a credential, not data about the person.
SECRET_FIELDS = {"password_hash", "push_token", "token_digest", "secret_digest"}


def _plain(row: SQLModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    return row.model_dump(mode="json", exclude=SECRET_FIELDS | (exclude or set()))


def _original_file(study_id: uuid.UUID, original_name: str) -> str:
    # The stored name is the client's, cleaned at intake; inside the zip it names nothing but a file.
    return f"files/studies/{study_id}/original-{PurePosixPath(original_name).name or 'upload'}"


def _signal_file(study_id: uuid.UUID) -> str:
    return f"files/studies/{study_id}/signal.npy"


def export_data(session: Session, user: User) -> PersonExport:
    """Everything stored about `user`, as the export's JSON document."""
    repository = PrivacyRepository(session)
    studies = repository.studies(user.id)
    study_ids = [study.id for study in studies]
    results = repository.results(study_ids)
    reviews: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for review in repository.reviews(study_ids):
        reviews.setdefault(review.study_id, []).append(_plain(review, exclude={"study_id"}))
    bookings = repository.bookings(user.id)
    clinics = repository.clinics(
        {b.clinic_id for b in bookings} | {s.clinic_id for s in studies if s.clinic_id}
    )
    preferences = repository.notification_preferences(user.id)
    return PersonExport(
        format=EXPORT_FORMAT,
        exported_at=utcnow(),
        profile=_plain(user),
        sign_in_sessions=[_plain(s) for s in repository.sessions(user.id)],
        bookings=[
            {**_plain(b), "clinic_name": clinics[b.clinic_id].name_en if b.clinic_id in clinics else None}
            for b in bookings
        ],
        ecg_studies=[
            {
                **_plain(study, exclude={"blob_key", "job_id"}),
                "file": _original_file(study.id, study.original_name),
                "result": (
                    {
                        **_plain(results[study.id], exclude={"signal_blob_key", "study_id"}),
                        "signal_file": _signal_file(study.id),
                    }
                    if study.id in results
                    else None
                ),
                "reviews": reviews.get(study.id, []),
            }
            for study in studies
        ],
        risk_assessments=[_plain(a) for a in repository.risk_assessments(user.id)],
        devices=[_plain(d) for d in repository.devices(user.id)],
        notification_preferences=_plain(preferences) if preferences is not None else None,
        notifications=[_plain(n) for n in repository.notifications(user.id)],
        hospital_identifiers=[_plain(link) for link in repository.hospital_links(user.id)],
        access_log=[
            _plain(event, exclude={"subject_id"})
            for event in repository.audit_events_about(user.id)
            if event.actor_id != user.id
        ],
    )


def export_archive(session: Session, store: BlobStore, user: User) -> IO[bytes]:
    """The export as a zip: data.json, each study's original file as uploaded and the signal read
    from it (float32 mV, [samples, 12 leads], NumPy .npy). The request is audited."""
    data = export_data(session, user)
    repository = PrivacyRepository(session)
    archive_file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    with zipfile.ZipFile(archive_file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data.model_dump(mode="json"), ensure_ascii=False, indent=2))
        studies = repository.studies(user.id)
        results = repository.results([study.id for study in studies])
        for study in studies:
            archive.writestr(_original_file(study.id, study.original_name), store.get(study.blob_key))
            if study.id in results:
                signal = store.get(results[study.id].signal_blob_key)
                archive.writestr(_signal_file(study.id), signal)
    _audit(repository, user, "account.exported", {"studies": len(data.ecg_studies)})
    archive_file.seek(0)
    return archive_file


def erase_person(session: Session, store: BlobStore, user: User) -> None:
    """Erase everything stored about `user` but the audit trail (see the module's docstring)."""
    repository = PrivacyRepository(session)
    person = repository.lock_user(user.id)
    if person is None:
        return
    now = utcnow()
    cancelled = cancel_for_erasure(session, person.id, now)
    session.flush()  # the cancellation events exist now, and lose the person's id below
    for event in repository.webhook_events_naming(person.id):
        event.payload = {**event.payload, "patient_id": None}
        repository.add(event)
    studies = repository.studies(person.id)
    results = repository.results([study.id for study in studies])
    keys = [study.blob_key for study in studies] + [result.signal_blob_key for result in results.values()]
    repository.delete_idempotency_records(person.id)
    _audit(repository, person, "account.deleted", {"studies": len(studies), "bookings_cancelled": cancelled})
    repository.delete(person)  # and with it every row that names the person (ON DELETE CASCADE)
    session.flush()
    for key in keys:
        store.delete(key)


def _audit(repository: PrivacyRepository, user: User, action: str, detail: dict[str, int]) -> None:
    repository.add(
        AuditEvent(
            actor_id=user.id,
            actor_role=str(user.role),
            action=action,
            object_type="user",
            object_id=user.id,
            subject_id=user.id,
            detail=detail,
        )
    )


def archive_chunks(archive_file: IO[bytes], size: int = 1024 * 1024) -> Iterator[bytes]:
    """Hand the archive out in pieces and close it once sent."""
    try:
        while chunk := archive_file.read(size):
            yield chunk
    finally:
        archive_file.close()
