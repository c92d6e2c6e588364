"""HTTP layer of booking: slot search, patients' bookings, clinic staff's schedules and day, and
the hospital systems' view. Thin: parse, call the service, shape the answer."""

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse

from booking import service, webhooks
from booking.schemas import (
    BlockResult,
    BookingHold,
    BookingMove,
    BookingPage,
    BookingPublic,
    ClinicCancel,
    DayView,
    ExceptionCreate,
    HisBooking,
    HisBookingPage,
    ResourceCreate,
    ResourcePublic,
    ScheduleCreate,
    SchedulePublic,
    SlotBlock,
    SlotSearch,
    SlotStatusPublic,
    StatusUpdate,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
)
from services.auth import PUBLIC, CurrentHospitalClient, CurrentPatient, CurrentStaff
from services.clinics.models import ClinicService
from services.clinics.service import ClinicNotFound
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

slots_router = APIRouter(prefix="/clinics", tags=["booking"], route_class=ApiRoute)
bookings_router = APIRouter(prefix="/bookings", tags=["booking"], route_class=ApiRoute)
staff_router = APIRouter(prefix="/staff", tags=["staff"], route_class=ApiRoute)
hospital_router = APIRouter(prefix="/hospital", tags=["hospital"], route_class=ApiRoute)

IDEMPOTENCY_ERRORS = (IdempotencyKeyRequired, IdempotencyKeyReused)
BOOKING_ID_EXAMPLE = "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f"
HOLD_ERRORS = (
    service.SlotNotFound,
    service.SlotFull,
    service.SlotUnavailable,
    service.SlotInPast,
    service.TooManyActiveBookings,
    service.OverlappingBooking,
)


@slots_router.get(
    "/{clinic_id}/slots",
    dependencies=[PUBLIC],
    response_model=SlotSearch,
    responses=problem_responses(ClinicNotFound),
)
def search_slots(
    clinic_id: uuid.UUID,
    session: SessionDep,
    service_type: Annotated[ClinicService, Query(alias="service")] = ClinicService.ecg,
    from_date: Annotated[
        date | None, Query(alias="from", description="First day (clinic's calendar).")
    ] = None,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
) -> Response:
    """Free slots of a clinic for a service over some days, on the clinic's clock."""
    document = service.search_slots(session, clinic_id, service_type, from_date, days)
    return Response(document, media_type="application/json")


@bookings_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BookingPublic,
    responses=problem_responses(*HOLD_ERRORS, *IDEMPOTENCY_ERRORS),
)
def hold_slot(
    data: BookingHold,
    request: Request,
    patient: CurrentPatient,
    session: SessionDep,
    key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Hold a place in a slot. Confirm the hold (confirmBooking) before `hold_expires_at`."""
    return run_idempotent(
        session,
        principal_id=patient.id,
        key=key,
        operation="holdSlot",
        body=data,
        action=lambda: service.hold(session, patient, data.slot_id, request_language(request)),
        status_code=status.HTTP_201_CREATED,
    )


@bookings_router.get("", responses=problem_responses(InvalidCursor))
def list_my_bookings(
    request: Request,
    patient: CurrentPatient,
    session: SessionDep,
    cursor: Cursor = None,
    limit: PageSize = DEFAULT_PAGE_SIZE,
) -> BookingPage:
    """The patient's bookings, latest appointment first."""
    return service.list_patient_bookings(session, patient, cursor, limit, request_language(request))


@bookings_router.get("/{booking_id}", responses=problem_responses(service.BookingNotFound))
def get_my_booking(
    booking_id: uuid.UUID, request: Request, patient: CurrentPatient, session: SessionDep
) -> BookingPublic:
    return service.get_patient_booking(session, patient, booking_id, request_language(request))


@bookings_router.post(
    "/{booking_id}/confirm",
    response_model=BookingPublic,
    responses=problem_responses(
        service.BookingNotFound, service.HoldExpired, service.BookingStatusConflict, *IDEMPOTENCY_ERRORS
    ),
)
def confirm_booking(
    booking_id: uuid.UUID,
    request: Request,
    patient: CurrentPatient,
    session: SessionDep,
    key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Turn a hold into a booking: booked at once, or pending until the clinic's hospital system confirms."""
    return run_idempotent(
        session,
        principal_id=patient.id,
        key=key,
        operation=f"confirmBooking:{booking_id}",
        body=None,
        action=lambda: service.confirm(session, patient, booking_id, request_language(request)),
    )


@bookings_router.post(
    "/{booking_id}/cancel",
    response_model=BookingPublic,
    responses=problem_responses(
        service.BookingNotFound,
        service.CancellationTooLate,
        service.BookingStatusConflict,
        *IDEMPOTENCY_ERRORS,
    ),
)
def cancel_booking(
    booking_id: uuid.UUID,
    request: Request,
    patient: CurrentPatient,
    session: SessionDep,
    key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Cancel, up to the cutoff before the appointment; the place is freed and reminders withdrawn."""
    return run_idempotent(
        session,
        principal_id=patient.id,
        key=key,
        operation=f"cancelBooking:{booking_id}",
        body=None,
        action=lambda: service.cancel_by_patient(session, patient, booking_id, request_language(request)),
    )


@bookings_router.post(
    "/{booking_id}/reschedule",
    response_model=BookingPublic,
    responses=problem_responses(
        service.BookingNotFound,
        service.SameSlot,
        service.CancellationTooLate,
        service.BookingStatusConflict,
        *HOLD_ERRORS,
        *IDEMPOTENCY_ERRORS,
    ),
)
def reschedule_booking(
    booking_id: uuid.UUID,
    data: BookingMove,
    request: Request,
    patient: CurrentPatient,
    session: SessionDep,
    key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Move to another slot in one step: the old time is given up only once the new one is held."""
    return run_idempotent(
        session,
        principal_id=patient.id,
        key=key,
        operation=f"rescheduleBooking:{booking_id}",
        body=data,
        action=lambda: service.reschedule(
            session, patient, booking_id, data.slot_id, request_language(request)
        ),
    )


# Clinic staff


@staff_router.post(
    "/clinics/{clinic_id}/resources",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(ClinicNotFound),
)
def create_resource(
    clinic_id: uuid.UUID, data: ResourceCreate, staff: CurrentStaff, session: SessionDep
) -> ResourcePublic:
    """Add an ECG room or device."""
    return ResourcePublic.model_validate(service.create_resource(session, staff, clinic_id, data))


@staff_router.get("/clinics/{clinic_id}/resources", responses=problem_responses(ClinicNotFound))
def list_resources(clinic_id: uuid.UUID, staff: CurrentStaff, session: SessionDep) -> list[ResourcePublic]:
    return [ResourcePublic.model_validate(r) for r in service.list_resources(session, staff, clinic_id)]


@staff_router.post(
    "/clinics/{clinic_id}/schedules",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(
        ClinicNotFound, service.ResourceNotFound, service.ScheduleOverlaps, service.ScheduleStartsInPast
    ),
)
def create_schedule(
    clinic_id: uuid.UUID, data: ScheduleCreate, staff: CurrentStaff, session: SessionDep
) -> SchedulePublic:
    """A weekly schedule of one room or device for one service; its slots are generated ahead."""
    return SchedulePublic.model_validate(service.create_schedule(session, staff, clinic_id, data))


@staff_router.get("/clinics/{clinic_id}/schedules", responses=problem_responses(ClinicNotFound))
def list_schedules(clinic_id: uuid.UUID, staff: CurrentStaff, session: SessionDep) -> list[SchedulePublic]:
    return [SchedulePublic.model_validate(s) for s in service.list_schedules(session, staff, clinic_id)]


@staff_router.delete(
    "/clinics/{clinic_id}/schedules/{schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(ClinicNotFound, service.ScheduleNotFound),
)
def end_schedule(
    clinic_id: uuid.UUID, schedule_id: uuid.UUID, staff: CurrentStaff, session: SessionDep
) -> Response:
    """Stop a schedule: its free future slots go; booked ones stay."""
    service.end_schedule(session, staff, clinic_id, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@staff_router.post(
    "/clinics/{clinic_id}/exceptions",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(ClinicNotFound, service.ResourceNotFound, service.BookingsInTheWay),
)
def add_schedule_exception(
    clinic_id: uuid.UUID, data: ExceptionCreate, staff: CurrentStaff, session: SessionDep
) -> BlockResult:
    """Close a room, a device or the whole clinic for a span (holiday, closure, repair). Bookings
    in the span are moved or cancelled as `on_bookings` says; their patients are notified."""
    return service.add_exception(session, staff, clinic_id, data)


@staff_router.post(
    "/slots/{slot_id}/block", responses=problem_responses(service.SlotNotFound, service.BookingsInTheWay)
)
def block_slot(slot_id: uuid.UUID, data: SlotBlock, staff: CurrentStaff, session: SessionDep) -> BlockResult:
    """Stop taking bookings in one slot; its bookings are moved or cancelled as `on_bookings` says."""
    return service.block_slot(session, staff, slot_id, data)


@staff_router.post("/slots/{slot_id}/unblock", responses=problem_responses(service.SlotNotFound))
def unblock_slot(slot_id: uuid.UUID, staff: CurrentStaff, session: SessionDep) -> SlotStatusPublic:
    slot = service.unblock_slot(session, staff, slot_id)
    return SlotStatusPublic(id=slot.id, status=slot.status, booked=slot.booked_count, capacity=slot.capacity)


@staff_router.get("/clinics/{clinic_id}/bookings", responses=problem_responses(ClinicNotFound))
def get_day_bookings(
    clinic_id: uuid.UUID,
    staff: CurrentStaff,
    session: SessionDep,
    day: Annotated[date, Query(alias="date", description="A day on the clinic's calendar.")],
) -> DayView:
    """The day's bookings with patient name and phone, on the clinic's clock."""
    return service.day_view(session, staff, clinic_id, day)


@staff_router.post(
    "/bookings/{booking_id}/status",
    responses=problem_responses(service.BookingNotFound, service.BookingStatusConflict),
)
def set_booking_status_by_staff(
    booking_id: uuid.UUID, data: StatusUpdate, request: Request, staff: CurrentStaff, session: SessionDep
) -> BookingPublic:
    """Record arrival, the exam done (fulfilled) or a no-show."""
    return service.booking_public(
        *service.set_status(session, staff, booking_id, data.status), request_language(request)
    )


@staff_router.post(
    "/bookings/{booking_id}/cancel",
    responses=problem_responses(service.BookingNotFound, service.BookingStatusConflict),
)
def cancel_booking_by_staff(
    booking_id: uuid.UUID, data: ClinicCancel, request: Request, staff: CurrentStaff, session: SessionDep
) -> BookingPublic:
    """Cancel on the clinic's side; the patient is notified."""
    return service.booking_public(
        *service.cancel_by_clinic(session, staff, booking_id, data.reason), request_language(request)
    )


@staff_router.post(
    "/bookings/{booking_id}/move",
    responses=problem_responses(service.BookingNotFound, service.BookingStatusConflict, *HOLD_ERRORS),
)
def move_booking_by_staff(
    booking_id: uuid.UUID, data: BookingMove, request: Request, staff: CurrentStaff, session: SessionDep
) -> BookingPublic:
    """Move a booking to another slot; the patient is notified."""
    return service.booking_public(
        *service.move_by_clinic(session, staff, booking_id, data.slot_id), request_language(request)
    )


# Hospital systems (OAuth2 client credentials; each acts for one clinic)


@hospital_router.get("/bookings", responses=problem_responses(InvalidCursor))
def list_changed_bookings(
    request: Request,
    hospital: CurrentHospitalClient,
    session: SessionDep,
    cursor: Cursor = None,
    limit: PageSize = DEFAULT_PAGE_SIZE,
) -> HisBookingPage:
    """The clinic's bookings changed since the cursor (all of them, without one), oldest change
    first. Poll with the returned cursor; booking events also arrive by webhook."""
    return service.changed_bookings(session, hospital, cursor, limit, request_language(request))


@hospital_router.post(
    "/bookings/{booking_id}/confirm",
    responses=problem_responses(service.BookingNotFound, service.BookingStatusConflict),
)
def confirm_booking_by_hospital(
    booking_id: uuid.UUID, request: Request, hospital: CurrentHospitalClient, session: SessionDep
) -> HisBooking:
    """Accept a pending booking: it becomes booked and the patient is told. Repeating is harmless."""
    booking, clinic = service.confirm_by_clinic(session, hospital, booking_id)
    return service.his_booking(session, booking, clinic, request_language(request))


@hospital_router.post(
    "/bookings/{booking_id}/reject",
    responses=problem_responses(service.BookingNotFound, service.BookingStatusConflict),
)
def reject_booking_by_hospital(
    booking_id: uuid.UUID, request: Request, hospital: CurrentHospitalClient, session: SessionDep
) -> HisBooking:
    """Refuse a pending booking: it is cancelled, the place freed, and the patient told."""
    booking, clinic = service.reject_by_clinic(session, hospital, booking_id)
    return service.his_booking(session, booking, clinic, request_language(request))


@hospital_router.post(
    "/bookings/{booking_id}/status",
    responses=problem_responses(service.BookingNotFound, service.BookingStatusConflict),
)
def set_booking_status_by_hospital(
    booking_id: uuid.UUID,
    data: StatusUpdate,
    request: Request,
    hospital: CurrentHospitalClient,
    session: SessionDep,
) -> HisBooking:
    """Record arrival, the exam done (fulfilled) or a no-show."""
    booking, clinic = service.set_status(session, hospital, booking_id, data.status)
    return service.his_booking(session, booking, clinic, request_language(request))


@hospital_router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(webhooks.InvalidWebhookUrl, webhooks.TooManyWebhooks),
)
def register_webhook(
    data: WebhookCreate, hospital: CurrentHospitalClient, session: SessionDep
) -> WebhookCreated:
    """Receive the clinic's booking events at this URL: POSTs of {id, type, created_at, data},
    signed with HMAC-SHA256 (see ios_contract/README.md), retried with backoff until answered
    2xx; de-duplicate on the event id."""
    assert hospital.client is not None
    endpoint, secret = webhooks.register_endpoint(session, hospital.client, data.url)
    return WebhookCreated(**WebhookPublic.model_validate(endpoint).model_dump(), secret=secret)


@hospital_router.get("/webhooks")
def list_webhooks(hospital: CurrentHospitalClient, session: SessionDep) -> list[WebhookPublic]:
    assert hospital.client is not None
    return [WebhookPublic.model_validate(e) for e in webhooks.list_endpoints(session, hospital.client)]


@hospital_router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(webhooks.WebhookNotFound),
)
def delete_webhook(webhook_id: uuid.UUID, hospital: CurrentHospitalClient, session: SessionDep) -> Response:
    assert hospital.client is not None
    webhooks.delete_endpoint(session, hospital.client, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


FHIR_JSON = "application/fhir+json"


def _fhir(document: dict[str, object]) -> JSONResponse:
    return JSONResponse(document, media_type=FHIR_JSON)


def _fhir_responses(example: dict[str, object]) -> dict[int | str, dict[str, object]]:
    return {200: {"description": "FHIR R4 JSON", "content": {FHIR_JSON: {"example": example}}}}


BUNDLE_EXAMPLE = {"resourceType": "Bundle", "type": "searchset", "total": 0}


@hospital_router.get("/fhir/Schedule", response_class=JSONResponse, responses=_fhir_responses(BUNDLE_EXAMPLE))
def list_fhir_schedules(hospital: CurrentHospitalClient, session: SessionDep) -> JSONResponse:
    """The clinic's active schedules as a FHIR R4 searchset Bundle of Schedule."""
    return _fhir(service.fhir_schedules(session, hospital))


@hospital_router.get("/fhir/Slot", response_class=JSONResponse, responses=_fhir_responses(BUNDLE_EXAMPLE))
def list_fhir_slots(
    hospital: CurrentHospitalClient,
    session: SessionDep,
    start: Annotated[
        date | None, Query(description="First day (clinic's calendar); today if left out.")
    ] = None,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
) -> JSONResponse:
    """The clinic's slots (free, busy, busy-unavailable) as a FHIR R4 Bundle of Slot."""
    return _fhir(service.fhir_slots(session, hospital, start, days))


@hospital_router.get(
    "/fhir/Appointment",
    response_class=JSONResponse,
    responses=_fhir_responses(BUNDLE_EXAMPLE),
)
def list_fhir_appointments(
    hospital: CurrentHospitalClient,
    session: SessionDep,
    day: Annotated[date, Query(alias="date", description="A day on the clinic's calendar.")],
) -> JSONResponse:
    """The day's bookings as a FHIR R4 Bundle of Appointment."""
    return _fhir(service.fhir_appointments_of_day(session, hospital, day))


@hospital_router.get(
    "/fhir/Appointment/{booking_id}",
    response_class=JSONResponse,
    responses={
        **_fhir_responses({"resourceType": "Appointment", "id": BOOKING_ID_EXAMPLE, "status": "booked"}),
        **problem_responses(service.BookingNotFound),
    },
)
def get_fhir_appointment(
    booking_id: uuid.UUID, hospital: CurrentHospitalClient, session: SessionDep
) -> JSONResponse:
    """One booking as a FHIR R4 Appointment."""
    return _fhir(service.fhir_appointment(session, hospital, booking_id))
