"""From findings, measurements and the latest risk-test result to a triage level and advice codes,
by the versioned rule table in rules/recommendations.json (each threshold cites its source).

Only codes leave ecg_ml; their texts are msgids here, translated by the caller (en, ru, uz) —
so the app never shows a diagnosis, only signs, urgency and advice, with the disclaimer."""

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from i18n import N_

RULES_FILE = Path(__file__).resolve().parent / "rules" / "recommendations.json"
NOT_INTERPRETABLE = "not_interpretable"

DISCLAIMER = N_(
    "This is an automated reading to support you and your doctor. It is not a diagnosis. "
    "If you feel unwell, have chest pain, fainting or severe breathlessness, call emergency services."
)

TRIAGE_TEXTS = {
    "urgent": N_("Urgent: get medical help now"),
    "soon": N_("See a doctor soon"),
    "routine": N_("No urgent signs found"),
    NOT_INTERPRETABLE: N_("This ECG could not be read reliably"),
}

RECOMMENDATION_TEXTS = {
    "call_emergency_services": N_(
        "Call emergency services (103) now or go to the nearest emergency department."
    ),
    "seek_care_today": N_("See a doctor today."),
    "see_cardiologist_soon": N_("Book a visit to a cardiologist within the next days."),
    "see_doctor_soon": N_("See a doctor within the next days."),
    "see_doctor_routine": N_("Discuss this ECG with your doctor at your next regular visit."),
    "discuss_stroke_prevention": N_("Ask your doctor whether you need treatment to prevent a stroke."),
    "bring_medication_list": N_("Bring a list of all your medicines: some can lengthen the QT interval."),
    "check_blood_pressure": N_("Have your blood pressure checked."),
    "risk_factor_control": N_("Work with your doctor on blood pressure, cholesterol, smoking and weight."),
    "routine_follow_up": N_("Keep your regular check-ups and repeat the ECG if you have symptoms."),
    "retake_ecg": N_("Please record the ECG again, or have it recorded at a clinic."),
}

# What the model's labels mean to a patient: signs, never diagnoses.
FINDING_TEXTS = {
    "NORM": N_("Normal ECG pattern"),
    "MI": N_("Signs of a possible heart attack (old or recent)"),
    "STTC": N_("ST-T changes"),
    "CD": N_("Signs of a conduction disturbance"),
    "HYP": N_("Signs of enlarged heart chambers"),
    "AFIB": N_("Signs of atrial fibrillation"),
    "AFLT": N_("Signs of atrial flutter"),
    "STACH": N_("Fast heart rhythm (sinus tachycardia)"),
    "SBRAD": N_("Slow heart rhythm (sinus bradycardia)"),
    "PVC": N_("Extra beats from the ventricles"),
    "PAC": N_("Extra beats from the atria"),
    "1AVB": N_("Slowed conduction between atria and ventricles (first-degree AV block)"),
    "CLBBB": N_("Signs of left bundle branch block"),
    "CRBBB": N_("Signs of right bundle branch block"),
    "LVH": N_("Signs of left ventricular hypertrophy"),
    "IMI": N_("Signs of a possible heart attack in the lower wall"),
    "AMI": N_("Signs of a possible heart attack in the front wall"),
}

# Why an ECG was not read (quality and reader codes), with what to do.
REASON_TEXTS = {
    "all_missing": N_("The file holds no usable signal."),
    "flat_line": N_("The leads show a flat line: the electrodes were probably not connected."),
    "too_short": N_("The recording is too short; at least 2.5 seconds are needed."),
    "implausible_amplitude": N_("The signal's size is implausible; the file may use the wrong units."),
    "invalid_sampling_rate": N_("The file's sampling rate is not usable for an ECG."),
    "noisy": N_("The recording is too noisy to read."),
    "lead_reversal": N_("The electrodes look swapped (left and right arm)."),
    "saturated": N_("The signal is clipped: the recorder's range was exceeded."),
    "missing_leads": N_("Some leads are missing."),
    "unreadable_ecg": N_("This file could not be read as an ECG."),
    # The readers' refusals (ecg_ml.io).
    "unsupported_format": N_(
        "This file type is not supported. Send WFDB, DICOM, HL7 aECG XML or CSV, or a photo of the printout."
    ),
    "corrupt_file": N_("The file is damaged or incomplete."),
    "no_waveform": N_("This DICOM file holds no ECG waveform (it may be an image or a report)."),
    "no_standard_leads": N_("The file holds no standard ECG leads."),
    "inconsistent_leads": N_("The file's leads disagree in length or sampling rate."),
    "too_long": N_("The recording is too long; send at most 24 hours."),
    "unsafe_archive": N_("The archive must hold one ECG record, at most 100 MB unpacked."),
}

# What each quality problem (ecg_ml.quality, and a photo's reading problems, see
# ecg_ml.analysis.PHOTO_PROBLEMS) means for the reading: a note beside the result, worded for a
# warning and for a refusal alike (the refusal itself speaks through REASON_TEXTS); for a photo,
# how to take a better one.
QUALITY_TEXTS = {
    "invalid_sampling_rate": N_("The file's sampling rate is not one an ECG can be read at."),
    "all_missing": N_("The recording holds no signal to read."),
    "too_short": N_("The recording is shorter than 2.5 seconds, too short to read."),
    "missing_leads": N_("Some leads were not recorded; the reading relies on the others."),
    "flat_line": N_(
        "Some leads show a flat line, as when an electrode does not touch the skin; they add nothing to "
        "the reading."
    ),
    "implausible_amplitude": N_("The signal's size is implausible; the file may use the wrong units."),
    "saturated": N_(
        "In places the signal went beyond the recorder's range and was cut off; those parts were read "
        "with less certainty."
    ),
    "noisy": N_(
        "Parts of the recording are disturbed by noise (movement, muscle tension or a loose electrode), "
        "which makes them harder to read."
    ),
    "lead_reversal": N_(
        "The left and right arm electrodes look swapped, which changes how some leads look. When the ECG "
        "is recorded again, the electrodes can be checked."
    ),
    "photo_glare": N_(
        "Light reflected off part of the paper, so part of the trace was read with less certainty. Next "
        "time, tilt the phone a little or move away from the lamp."
    ),
    "photo_calibration_pulse_missing": N_(
        "The calibration mark at the start of a row was not found, so the usual scale was assumed. Next "
        "time, keep the left edge of the printout, with its calibration marks, in the photo."
    ),
    "photo_leads_not_read": N_(
        "Some printed leads could not be followed in the photo; the reading relies on the others. Next "
        "time, lay the printout flat and take the photo from straight above, in even light."
    ),
    "photo_row_shorter_than_printed": N_(
        "A row of the trace ends before the printed length, as if cut off, so less of it was read. Next "
        "time, fit the whole printout in the photo with a little margin around it."
    ),
}


@dataclass(frozen=True)
class Advice:
    triage: str
    recommendations: list[str]
    rules: list[str] = field(default_factory=list)  # ids of the rules that matched
    version: str = ""


@lru_cache
def rule_table() -> dict[str, Any]:
    return json.loads(RULES_FILE.read_text(encoding="utf-8"))


def _compare(value: float | None, condition: dict[str, Any]) -> bool:
    if value is None:
        return False
    checks = {"lt": value.__lt__, "lte": value.__le__, "gt": value.__gt__, "gte": value.__ge__}
    return all(check(condition[name]) for name, check in checks.items() if name in condition)


def _matches(
    when: dict[str, Any],
    findings: dict[str, float],
    measurements: dict[str, Any],
    risk_category: str | None,
) -> bool:
    if "finding_any" in when:
        threshold = when.get("min_probability", 0.5)
        if not any(findings.get(label, 0.0) >= threshold for label in when["finding_any"]):
            return False
    if "measure" in when and not _compare(measurements.get(when["measure"]), when):
        return False
    if "rhythm" in when and measurements.get("rhythm") != when["rhythm"]:
        return False
    return not ("risk_category_any" in when and risk_category not in when["risk_category_any"])


def advise(
    findings: dict[str, float], measurements: dict[str, Any], risk_category: str | None = None
) -> Advice:
    """Triage and advice codes for label probabilities, measurements (measure.Measurements as a
    dict) and the latest risk-test category (low_to_moderate, high, very_high or None)."""
    table = rule_table()
    order = table["triage_order"]
    matched = [
        rule for rule in table["rules"] if _matches(rule["when"], findings, measurements, risk_category)
    ]
    if not matched:
        default = table["default"]
        return Advice(default["triage"], list(default["recommendations"]), [], table["version"])
    matched.sort(key=lambda rule: order.index(rule["triage"]))
    recommendations = list(dict.fromkeys(code for rule in matched for code in rule["recommendations"]))
    return Advice(matched[0]["triage"], recommendations, [rule["id"] for rule in matched], table["version"])


def not_interpretable_advice() -> Advice:
    return Advice(NOT_INTERPRETABLE, ["retake_ecg"], [], rule_table()["version"])
