"""HTTP layer of ECG studies: the patient's uploads and results, the clinic's worklist and
reviews, the hospital systems' push, the admins' audit trail and feedback export. Thin: parse,
call the service, shape the answer. Every read of medical content by anyone but the patient is
audited here, where the reader is known."""

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from services.auth import (
    CurrentAdmin,
    CurrentClinician,
    CurrentClinicTeamMember,
    CurrentHospitalClient,
    CurrentPatient,
)
from services.db import SessionDep
from services.errors import InvalidCursor, problem_responses, request_language
from services.idempotency import (
    IdempotencyKeyHeader,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    run_idempotent,
)
from services.pagination import DEFAULT_PAGE_SIZE, Cursor, PageSize
from services.routing import ApiRoute
from services.settings import get_settings
from services.storage import StorageUnavailable, get_blob_store
from services.studies import report, service
from services.studies.intake import UploadedFile
from services.studies.schemas import AuditPage, ReviewCreate, SignalPreview, StudyPage, StudyPublic

router = APIRouter(prefix="/studies", tags=["studies"], route_class=ApiRoute)
clinic_router = APIRouter(prefix="/clinic/studies", tags=["clinic studies"], route_class=ApiRoute)
hospital_router = APIRouter(prefix="/hospital/studies", tags=["hospital"], route_class=ApiRoute)
admin_router = APIRouter(prefix="/admin", tags=["admin"], route_class=ApiRoute)

INTAKE_ERRORS = (service.UploadRefused, StorageUnavailable)
READ_ERRORS = (service.StudyNotFound,)
ECG_FILE_HELP = (
    "One photo of a paper ECG (JPEG, PNG, HEIC), or one ECG file: WFDB (.hea with its .dat as two "
    "parts, or both in a zip), DICOM waveform, HL7 aECG XML, or CSV (format in the API notes)."
)
Files = Annotated[list[UploadFile], File(description=ECG_FILE_HELP)]
# What an original is served as: the photo's own image type, any ECG file as bytes.
ORIGINAL_MEDIA_TYPES = ("application/octet-stream", "image/jpeg", "image/png", "image/heic")
FHIR_JSON = "application/fhir+json"
FHIR_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {
        "description": "A FHIR R4 Bundle (collection): DiagnosticReport, Observations, the waveform",
        "content": {FHIR_JSON: {"example": {"resourceType": "Bundle", "type": "collection", "entry": []}}},
    }
}


async def _read(files: list[UploadFile]) -> list[UploadedFile]:
    return [UploadedFile(name=file.filename or "upload", data=await file.read()) for file in files]


def _digest(files: list[UploadedFile]) -> list[str]:
    return [hashlib.sha256(file.data).hexdigest() for file in files]


# ------------------------------------------------------------------ patients


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StudyPublic,
    responses=problem_responses(
        *INTAKE_ERRORS, service.StudyBookingNotFound, IdempotencyKeyRequired, IdempotencyKeyReused
    ),
)
async def upload_study(
    request: Request,
    patient: CurrentPatient,
    session: SessionDep,
    file: Files,
    booking_id: Annotated[
        uuid.UUID | None, Form(description="Share with the clinic of this booking of yours.")
    ] = None,
    key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Upload an ECG file or a photo of a paper ECG. It is analysed in the background: poll
    getStudy or wait for the push."""
    uploaded = await _read(file)
    language = request_language(request)

    def submit() -> JSONResponse:
        return run_idempotent(
            session,
            principal_id=patient.id,
            key=key,
            operation="uploadStudy",
            body={"files": _digest(uploaded), "booking_id": booking_id},
            action=lambda: service.study_public(
                session,
                service.submit_from_app(
                    session, get_blob_store(), get_settings(), patient, uploaded, booking_id
                ),
                language,
            ),
            status_code=status.HTTP_202_ACCEPTED,
        )

    return await run_in_threadpool(submit)


@router.get("", responses=problem_responses(InvalidCursor))
def list_my_studies(
    patient: CurrentPatient, session: SessionDep, cursor: Cursor = None, limit: PageSize = DEFAULT_PAGE_SIZE
) -> StudyPage:
    """The patient's studies, newest first."""
    return service.list_own_studies(session, patient, cursor, limit)


@router.get("/{study_id}", responses=problem_responses(*READ_ERRORS))
def get_study(
    study_id: uuid.UUID, request: Request, patient: CurrentPatient, session: SessionDep
) -> StudyPublic:
    """A study with its result, in the request's language (Accept-Language)."""
    study = service.get_own_study(session, patient, study_id)
    return service.study_public(session, study, request_language(request))


@router.get("/{study_id}/signal", responses=problem_responses(*READ_ERRORS, service.StudyNotReady))
def get_study_signal(study_id: uuid.UUID, patient: CurrentPatient, session: SessionDep) -> SignalPreview:
    """The signal that was analysed, downsampled for plotting (100 Hz, microvolts)."""
    study = service.get_own_study(session, patient, study_id)
    result = service.require_result(session, study)
    return service.signal_preview(service.read_signal(get_blob_store(), result), result.fs)


@router.get(
    "/{study_id}/signal.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(*READ_ERRORS, service.StudyNotReady)},
)
def download_study_signal(study_id: uuid.UUID, patient: CurrentPatient, session: SessionDep) -> Response:
    """The analysed signal at full resolution, as CSV (microvolts)."""
    study = service.get_own_study(session, patient, study_id)
    result = service.require_result(session, study)
    text = service.signal_csv(service.read_signal(get_blob_store(), result), result.fs)
    return _download(text.encode(), "text/csv", f"ecg-{study.id}.csv")


@router.get(
    "/{study_id}/original",
    response_class=Response,
    responses={
        200: {"content": {media_type: {} for media_type in ORIGINAL_MEDIA_TYPES}},
        **problem_responses(*READ_ERRORS),
    },
)
def download_study_original(study_id: uuid.UUID, patient: CurrentPatient, session: SessionDep) -> Response:
    """The file as it was received."""
    study = service.get_own_study(session, patient, study_id)
    blob = get_blob_store().get_blob(study.blob_key)
    return _download(blob.data, blob.content_type, study.original_name)


@router.get(
    "/{study_id}/report.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        **problem_responses(*READ_ERRORS, service.StudyNotReady),
    },
)
def get_study_report(
    study_id: uuid.UUID, request: Request, patient: CurrentPatient, session: SessionDep
) -> Response:
    """The PDF report in the request's language."""
    study = service.get_own_study(session, patient, study_id)
    pdf = report.render_report_pdf(
        service.report_data(session, get_blob_store(), study, request_language(request))
    )
    return _download(pdf, "application/pdf", f"ecg-{study.id}.pdf")


@router.get(
    "/{study_id}/fhir",
    response_class=Response,  # documented as FHIR JSON only, not also as application/json
    responses={**FHIR_RESPONSE, **problem_responses(*READ_ERRORS, service.StudyNotReady)},
)
def get_study_fhir(study_id: uuid.UUID, patient: CurrentPatient, session: SessionDep) -> JSONResponse:
    """The study as a FHIR R4 Bundle: DiagnosticReport with its Observations and the waveform."""
    study = service.get_own_study(session, patient, study_id)
    return _fhir(service.fhir_bundle(session, get_blob_store(), study))


@router.delete(
    "/{study_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(*READ_ERRORS)
)
def delete_study(study_id: uuid.UUID, patient: CurrentPatient, session: SessionDep) -> Response:
    """Delete the study, its files and its results (an audit entry without medical content stays)."""
    service.delete_study(session, get_blob_store(), patient, study_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ------------------------------------------------------------------ clinics


@clinic_router.get("", responses=problem_responses(service.NotYourClinic))
def clinic_worklist(
    principal: CurrentClinicTeamMember,
    session: SessionDep,
    clinic_id: uuid.UUID,
    unreviewed: Annotated[bool, Query(description="Only studies no clinician has reviewed.")] = False,
    limit: PageSize = DEFAULT_PAGE_SIZE,
) -> StudyPage:
    """The clinic's studies for review: the most urgent AI triage first, then the newest."""
    return service.clinic_worklist(session, principal, clinic_id, unreviewed, limit)


@clinic_router.get("/{study_id}", responses=problem_responses(*READ_ERRORS))
def get_clinic_study(
    study_id: uuid.UUID, request: Request, principal: CurrentClinicTeamMember, session: SessionDep
) -> StudyPublic:
    """A study of one of the clinic's patients (the read is audited)."""
    study = service.get_clinic_study(session, principal, study_id)
    service.audit(session, principal, "study.read", study)
    return service.study_public(session, study, request_language(request))


@clinic_router.get("/{study_id}/signal", responses=problem_responses(*READ_ERRORS, service.StudyNotReady))
def get_clinic_study_signal(
    study_id: uuid.UUID, principal: CurrentClinicTeamMember, session: SessionDep
) -> SignalPreview:
    study = service.get_clinic_study(session, principal, study_id)
    result = service.require_result(session, study)
    service.audit(session, principal, "study.signal", study)
    return service.signal_preview(service.read_signal(get_blob_store(), result), result.fs)


@clinic_router.get(
    "/{study_id}/report.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        **problem_responses(*READ_ERRORS, service.StudyNotReady),
    },
)
def get_clinic_study_report(
    study_id: uuid.UUID, request: Request, principal: CurrentClinicTeamMember, session: SessionDep
) -> Response:
    study = service.get_clinic_study(session, principal, study_id)
    service.audit(session, principal, "study.report", study)
    pdf = report.render_report_pdf(
        service.report_data(session, get_blob_store(), study, request_language(request))
    )
    return _download(pdf, "application/pdf", f"ecg-{study.id}.pdf")


@clinic_router.post(
    "/{study_id}/review",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*READ_ERRORS, service.StudyNotReady, service.UnknownLabels),
)
def review_study(
    study_id: uuid.UUID,
    data: ReviewCreate,
    request: Request,
    principal: CurrentClinician,
    session: SessionDep,
) -> StudyPublic:
    """Confirm or correct the AI findings, with a comment. Stored as labelled feedback."""
    review = service.review_study(session, principal, study_id, data)
    study = service.get_clinic_study(session, principal, review.study_id)
    return service.study_public(session, study, request_language(request))


# ------------------------------------------------------------------ hospital systems


@hospital_router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StudyPublic,
    responses=problem_responses(*INTAKE_ERRORS, service.PatientNotIdentified, service.StudyBookingNotFound),
)
async def push_study(
    request: Request,
    client: CurrentHospitalClient,
    session: SessionDep,
    file: Files,
    external_id: Annotated[
        str,
        Form(
            min_length=1,
            max_length=100,
            description="Your id for this exam; a repeat returns the first study.",
        ),
    ],
    booking_id: Annotated[
        uuid.UUID | None, Form(description="Our booking id, from the booking feed.")
    ] = None,
    patient_identifier: Annotated[
        str | None,
        Form(
            max_length=100, description="Your id for the patient; linked to ours on a push with a booking_id."
        ),
    ] = None,
) -> JSONResponse:
    """Push the ECG file of an exam. Answers 202 for a new study, 200 for a repeat of external_id."""
    uploaded = await _read(file)
    language = request_language(request)

    def submit() -> JSONResponse:
        study, created = service.submit_from_hospital(
            session,
            get_blob_store(),
            get_settings(),
            client,
            uploaded,
            external_id=external_id,
            booking_id=booking_id,
            patient_identifier=patient_identifier,
        )
        body = service.study_public(session, study, language).model_dump(mode="json")
        return JSONResponse(body, status_code=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    return await run_in_threadpool(submit)


@hospital_router.get(
    "/{study_id}/fhir",
    response_class=Response,  # documented as FHIR JSON only, not also as application/json
    responses={**FHIR_RESPONSE, **problem_responses(*READ_ERRORS, service.StudyNotReady)},
)
def get_hospital_study_fhir(
    study_id: uuid.UUID, client: CurrentHospitalClient, session: SessionDep
) -> JSONResponse:
    """The study as a FHIR R4 Bundle, for studies of your clinic."""
    study = service.get_clinic_study(session, client, study_id)
    service.audit(session, client, "study.fhir", study)
    return _fhir(service.fhir_bundle(session, get_blob_store(), study))


# ------------------------------------------------------------------ admins


@admin_router.get("/audit-events", responses=problem_responses(InvalidCursor))
def list_audit_events(
    _: CurrentAdmin,
    session: SessionDep,
    object_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: PageSize = DEFAULT_PAGE_SIZE,
) -> AuditPage:
    """Who read or changed which study, newest first (never the medical content itself)."""
    return service.list_audit_events(session, object_id, subject_id, cursor, limit)


@admin_router.get(
    "/study-feedback.zip",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def export_study_feedback(admin: CurrentAdmin, session: SessionDep) -> Response:
    """Clinicians' reviews as labelled data for retraining: reviews.csv and WFDB signals."""
    return _download(
        service.export_feedback(session, get_blob_store(), admin), "application/zip", "study-feedback.zip"
    )


def _download(data: bytes, media_type: str, filename: str) -> Response:
    safe = "".join(ch for ch in filename if ch.isalnum() or ch in "._-") or "download"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "Cache-Control": "private, no-store",
        },
    )


def _fhir(bundle: dict[str, object]) -> JSONResponse:
    return JSONResponse(bundle, media_type=FHIR_JSON)
