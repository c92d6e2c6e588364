"""FHIR R4 JSON views of schedules, slots and bookings, for hospital systems.

Pure functions from our rows to plain dicts (what the API returns as application/fhir+json);
nothing here reads the database. Our booking statuses are FHIR Appointment.status codes
already. Timestamps are UTC instants with their offset; a schedule's validity is given in
calendar dates, as the clinic plans it. Texts here are for machines and stay in English (the
clinic's English name, the service's English name)."""

from datetime import UTC, datetime
from typing import Any

from booking.models import Booking, BookingStatus, Resource, Schedule, Slot, SlotStatus
from services.clinics.models import Clinic, ClinicService

FHIR_BASE = "https://cardioalert.app/fhir"
SERVICE_SYSTEM = f"{FHIR_BASE}/CodeSystem/service"
CANCEL_REASON_SYSTEM = f"{FHIR_BASE}/CodeSystem/cancel-reason"
SLOT_CAPACITY_EXTENSION = f"{FHIR_BASE}/StructureDefinition/slot-capacity"
SLOT_BOOKED_EXTENSION = f"{FHIR_BASE}/StructureDefinition/slot-booked-count"
# A slot made without a weekly schedule still needs one in FHIR (Slot.schedule is 1..1): it
# carries a contained schedule of its resource instead.
CONTAINED_SCHEDULE_ID = "schedule"

SERVICE_NAMES: dict[ClinicService, str] = {
    ClinicService.ecg: "Electrocardiogram (ECG)",
    ClinicService.holter: "Holter monitoring",
    ClinicService.echocardiography: "Echocardiography",
    ClinicService.cardiology_consultation: "Cardiology consultation",
    ClinicService.stress_test: "Cardiac stress test",
}


def instant(moment: datetime) -> str:
    """An ISO 8601 instant with its UTC offset, as FHIR requires ("…T09:00:00+00:00")."""
    if moment.tzinfo is None:
        raise ValueError("FHIR instants need a time zone")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def service_concept(service: ClinicService) -> dict[str, Any]:
    service = ClinicService(service)
    name = SERVICE_NAMES[service]
    return {"coding": [{"system": SERVICE_SYSTEM, "code": service.value, "display": name}], "text": name}


def location_reference(clinic: Clinic) -> dict[str, str]:
    return {"reference": f"Location/{clinic.id}", "display": clinic.name_en}


def schedule_resource(schedule: Schedule, clinic: Clinic, resource: Resource) -> dict[str, Any]:
    horizon = {"start": schedule.valid_from.isoformat()}
    if schedule.valid_until is not None:
        horizon["end"] = schedule.valid_until.isoformat()
    return {
        "resourceType": "Schedule",
        "id": str(schedule.id),
        "meta": {"lastUpdated": instant(schedule.updated_at)},
        "active": schedule.active,
        "serviceType": [service_concept(schedule.service)],
        "actor": [
            location_reference(clinic),
            {"reference": f"Device/{resource.id}", "display": resource.name},
        ],
        "planningHorizon": horizon,
    }


def slot_status(slot: Slot) -> str:
    if SlotStatus(slot.status) is SlotStatus.blocked:
        return "busy-unavailable"
    return "free" if slot.booked_count < slot.capacity else "busy"


def slot_resource(slot: Slot) -> dict[str, Any]:
    data: dict[str, Any] = {
        "resourceType": "Slot",
        "id": str(slot.id),
        "meta": {"lastUpdated": instant(slot.updated_at)},
        "extension": [
            {"url": SLOT_CAPACITY_EXTENSION, "valueInteger": slot.capacity},
            {"url": SLOT_BOOKED_EXTENSION, "valueInteger": slot.booked_count},
        ],
        "serviceType": [service_concept(slot.service)],
        "status": slot_status(slot),
        "start": instant(slot.starts_at),
        "end": instant(slot.ends_at),
    }
    if slot.schedule_id is not None:
        data["schedule"] = {"reference": f"Schedule/{slot.schedule_id}"}
    else:
        data["contained"] = [
            {
                "resourceType": "Schedule",
                "id": CONTAINED_SCHEDULE_ID,
                "serviceType": [service_concept(slot.service)],
                "actor": [
                    {"reference": f"Location/{slot.clinic_id}"},
                    {"reference": f"Device/{slot.resource_id}"},
                ],
            }
        ]
        data["schedule"] = {"reference": f"#{CONTAINED_SCHEDULE_ID}"}
    if SlotStatus(slot.status) is SlotStatus.blocked and slot.blocked_reason:
        data["comment"] = slot.blocked_reason
    return data


def appointment_resource(booking: Booking, clinic: Clinic, patient_display: str | None) -> dict[str, Any]:
    status = BookingStatus(booking.status)
    patient: dict[str, str] = {"reference": f"Patient/{booking.patient_id}"}
    if patient_display:
        patient["display"] = patient_display
    data: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(booking.id),
        "meta": {"lastUpdated": instant(booking.updated_at)},
        "status": status.value,
        "serviceType": [service_concept(booking.service)],
        "start": instant(booking.starts_at),
        "end": instant(booking.ends_at),
        "slot": [{"reference": f"Slot/{booking.slot_id}"}],
        "created": instant(booking.created_at),
        "participant": [
            {"actor": patient, "required": "required", "status": "accepted"},
            {"actor": location_reference(clinic), "required": "required", "status": "accepted"},
        ],
    }
    # FHIR allows a cancellation reason only on cancelled (or no-show) appointments.
    if status is BookingStatus.cancelled and booking.cancel_reason:
        data["cancelationReason"] = {
            "coding": [{"system": CANCEL_REASON_SYSTEM, "code": booking.cancel_reason}],
            "text": booking.cancel_reason,
        }
    return data


def bundle(
    resources: list[dict[str, Any]], total: int | None = None, next_url: str | None = None
) -> dict[str, Any]:
    """A searchset Bundle of these resources; `total` when the caller counted the matches,
    `next_url` when there is a next page."""
    data: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        data["total"] = total
    if next_url is not None:
        data["link"] = [{"relation": "next", "url": next_url}]
    # FHIR JSON has no empty arrays: an empty page has no `entry` at all.
    if resources:
        data["entry"] = [{"resource": resource, "search": {"mode": "match"}} for resource in resources]
    return data
