"""Names of codes as the portal shows them (msgids: pages translate them when they render)."""

from booking.models import BookingStatus, ResourceKind
from i18n import N_
from services.clinics.models import ClinicService
from services.studies.models import ReviewVerdict, StudyInput

BOOKING_STATUS = {
    BookingStatus.proposed: N_("Being booked"),
    BookingStatus.pending: N_("Awaiting confirmation"),
    BookingStatus.booked: N_("Booked"),
    BookingStatus.arrived: N_("Arrived"),
    BookingStatus.fulfilled: N_("Done"),
    BookingStatus.cancelled: N_("Cancelled"),
    BookingStatus.noshow: N_("Did not come"),
}
# What the staff's buttons say, per status they set (booking.service.STATUS_FROM).
STATUS_ACTIONS = {
    BookingStatus.arrived: N_("Arrived"),
    BookingStatus.fulfilled: N_("Exam done"),
    BookingStatus.noshow: N_("No-show"),
}
SERVICES = {
    ClinicService.ecg: N_("ECG"),
    ClinicService.holter: N_("Holter monitoring"),
    ClinicService.echocardiography: N_("Echocardiography"),
    ClinicService.cardiology_consultation: N_("Cardiologist consultation"),
    ClinicService.stress_test: N_("Cardiac stress test"),
}
RESOURCE_KINDS = {ResourceKind.room: N_("Room"), ResourceKind.device: N_("Device")}
# Why the clinic cancels: codes stored on the booking (ClinicCancel.reason).
CANCEL_REASONS = {
    "clinic": N_("Clinic's decision"),
    "patient_request": N_("Patient asked by phone"),
    "doctor_unavailable": N_("Doctor unavailable"),
    "equipment_failure": N_("Equipment out of order"),
}
VERDICTS = {ReviewVerdict.confirmed: N_("Confirmed"), ReviewVerdict.corrected: N_("Corrected")}
STUDY_STATUS_PENDING = N_("Being analysed")
STUDY_STATUS_FAILED = N_("Could not be analysed")
INPUT_KINDS = {StudyInput.ecg_file: N_("ECG file"), StudyInput.photo: N_("Photo of a paper ECG")}
