"""FHIR R4 JSON views of an ECG study, for hospital systems.

Pure functions from plain values (the same inputs as the PDF report) to dicts; nothing here
reads the database or the blob store. One study gives:

- a DiagnosticReport (LOINC 11524-6 "EKG study"): preliminary while no clinician has looked at
  the automated reading, final once one confirmed it, amended once one corrected it;
- Observations it references in `result`: heart rate, PR, QRS, QT and QTc (Bazett and
  Fridericia, both LOINC 8636-5 told apart by `method`), in UCUM units; one per AI finding
  (probability as a unitless quantity, and POS as interpretation); and the waveform, one
  `component` per lead with valueSampledData in µV steps (`factor` 0.001 to mV, 'E' where a
  sample was not recorded, as FHIR's SampledData allows);
- `study_bundle`, a collection Bundle of all of them, where the references resolve by fullUrl.

Texts here are for machines and clinicians' systems and stay in English (as in booking/fhir.py).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from booking.fhir import FHIR_BASE, instant
from ecg_ml.recommend import FINDING_TEXTS, REASON_TEXTS, TRIAGE_TEXTS
from ecg_ml.record import STANDARD_LEADS
from services.studies.report import ClinicianReview, ReviewStatus

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MDC = "urn:oid:2.16.840.1.113883.6.24"  # ISO/IEEE 11073-10101, as FHIR's own ECG example names it
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# Our model's labels: PTB-XL's SCP-ECG statements (AFIB, 1AVB, CLBBB, ...) and its diagnostic
# superclasses (NORM, MI, STTC, CD, HYP). No public code system holds both, so we name ours.
FINDING_SYSTEM = f"{FHIR_BASE}/CodeSystem/ecg-finding"
TRIAGE_SYSTEM = f"{FHIR_BASE}/CodeSystem/ecg-triage"

EKG_STUDY = {"system": LOINC, "code": "11524-6", "display": "EKG study"}
WAVEFORM_CODE = {"system": MDC, "code": "131328", "display": "MDC_ECG_ELEC_POTL"}
# MDC lead codes: partition 2 (ECG), term codes I=1, II=2, V1..V6=3..8, III=61, aVR=62, aVL=63,
# aVF=64 — the code is 2 * 65536 + term.
MDC_LEADS: dict[str, tuple[str, str]] = {
    "I": ("131329", "MDC_ECG_LEAD_I"),
    "II": ("131330", "MDC_ECG_LEAD_II"),
    "III": ("131389", "MDC_ECG_LEAD_III"),
    "aVR": ("131390", "MDC_ECG_LEAD_AVR"),
    "aVL": ("131391", "MDC_ECG_LEAD_AVL"),
    "aVF": ("131392", "MDC_ECG_LEAD_AVF"),
    "V1": ("131331", "MDC_ECG_LEAD_V1"),
    "V2": ("131332", "MDC_ECG_LEAD_V2"),
    "V3": ("131333", "MDC_ECG_LEAD_V3"),
    "V4": ("131334", "MDC_ECG_LEAD_V4"),
    "V5": ("131335", "MDC_ECG_LEAD_V5"),
    "V6": ("131336", "MDC_ECG_LEAD_V6"),
}


@dataclass(frozen=True)
class Measure:
    """One measurement of ecg_ml.measure as a FHIR Observation."""

    field: str  # key in the analysis' measurements
    slug: str  # the Observation id's suffix
    loinc: str
    display: str
    unit: str  # UCUM
    method: str | None = None


MEASURES = (
    Measure("heart_rate_bpm", "heart-rate", "8867-4", "Heart rate", "/min"),
    Measure("pr_ms", "pr", "8625-6", "P-R Interval", "ms"),
    Measure("qrs_ms", "qrs", "8633-2", "QRS duration", "ms"),
    Measure("qt_ms", "qt", "8634-0", "Q-T interval", "ms"),
    Measure("qtc_bazett_ms", "qtc-bazett", "8636-5", "Q-T interval corrected", "ms", "Bazett"),
    Measure("qtc_fridericia_ms", "qtc-fridericia", "8636-5", "Q-T interval corrected", "ms", "Fridericia"),
)
MICROVOLTS_PER_MV = 1000  # waveform samples are written as whole µV


@dataclass(frozen=True)
class StudyView:
    """What the FHIR views of one study are made of: plain values, no rows."""

    study_id: str
    patient_reference: str  # "Patient/<id>"
    recorded_at: datetime
    issued_at: datetime  # when the reading (or its latest review) was made
    analysis: dict[str, Any]  # ecg_ml.analyze(...).to_dict(), or the clinician's correction
    signal: np.ndarray | None = None  # float [n, leads] mV, NaN where not recorded
    fs: float | None = None
    leads: Sequence[str] = STANDARD_LEADS
    patient_display: str | None = None
    clinic_reference: str | None = None  # "Organization/<id>": who performed the ECG
    clinic_display: str | None = None
    review: ClinicianReview | None = None
    report_pdf_url: str | None = None  # where the PDF report can be fetched


def report_status(review: ClinicianReview | None) -> str:
    if review is None or review.status is ReviewStatus.none:
        return "preliminary"
    return "final" if review.status is ReviewStatus.confirmed else "amended"


def _reference(reference: str, display: str | None) -> dict[str, str]:
    data = {"reference": reference}
    if display:
        data["display"] = display
    return data


def _observation_id(study: StudyView, suffix: str) -> str:
    return f"{study.study_id}-{suffix}"


def _base_observation(study: StudyView, suffix: str, code: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": _observation_id(study, suffix),
        "status": report_status(study.review),
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "procedure", "display": "Procedure"}]}
        ],
        "code": code,
        "subject": _reference(study.patient_reference, study.patient_display),
        "effectiveDateTime": instant(study.recorded_at),
        "issued": instant(study.issued_at),
    }


def measurement_observations(study: StudyView) -> list[dict[str, Any]]:
    """Heart rate and intervals; a value ecg_ml could not measure gives no Observation."""
    measurements = study.analysis.get("measurements") or {}
    observations = []
    for measure in MEASURES:
        value = measurements.get(measure.field)
        if value is None:
            continue
        code = {
            "coding": [{"system": LOINC, "code": measure.loinc, "display": measure.display}],
            "text": f"{measure.display} ({measure.method})" if measure.method else measure.display,
        }
        observation = _base_observation(study, measure.slug, code)
        observation["valueQuantity"] = {
            "value": round(float(value), 1),
            "unit": measure.unit,
            "system": UCUM,
            "code": measure.unit,
        }
        if measure.method:
            observation["method"] = {"text": measure.method}
        if study.signal is not None:
            observation["derivedFrom"] = [{"reference": f"Observation/{_observation_id(study, 'waveform')}"}]
        observations.append(observation)
    return observations


def finding_concept(label: str) -> dict[str, Any]:
    display = FINDING_TEXTS.get(label, label)
    return {"coding": [{"system": FINDING_SYSTEM, "code": label, "display": display}], "text": display}


def finding_observations(study: StudyView) -> list[dict[str, Any]]:
    """One Observation per reported finding: the model's probability and a positive reading."""
    model = study.analysis.get("model_version") or "unknown"
    observations = []
    for finding in study.analysis.get("findings") or []:
        label = str(finding["label"])
        observation = _base_observation(study, f"finding-{label.lower()}", finding_concept(label))
        observation["valueQuantity"] = {
            "value": round(float(finding["probability"]), 4),
            "unit": "probability",
            "system": UCUM,
            "code": "1",
        }
        observation["interpretation"] = [
            {"coding": [{"system": INTERPRETATION, "code": "POS", "display": "Positive"}]}
        ]
        observation["method"] = {"text": f"Automated ECG reading, model {model}"}
        observations.append(observation)
    return observations


def sampled_data(lead: np.ndarray, fs: float) -> dict[str, Any]:
    """One lead as FHIR SampledData: whole µV (factor 0.001 → mV), 'E' where not recorded."""
    finite = np.isfinite(lead)
    microvolts = np.zeros(len(lead), dtype=np.int64)
    microvolts[finite] = np.rint(lead[finite] * MICROVOLTS_PER_MV)
    values = np.where(finite, microvolts.astype(str), "E")
    return {
        "origin": {"value": 0, "unit": "mV", "system": UCUM, "code": "mV"},
        "period": round(1000.0 / fs, 6),
        "factor": 1 / MICROVOLTS_PER_MV,
        "dimensions": 1,
        "data": " ".join(values.tolist()),
    }


def waveform_observation(study: StudyView) -> dict[str, Any]:
    """The ECG itself: one component per standard lead the signal holds."""
    if study.signal is None or study.fs is None:
        raise ValueError("the waveform view needs the signal and its sampling rate")
    signal = np.asarray(study.signal, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[1] != len(study.leads):
        raise ValueError(f"signal must be [n, {len(study.leads)}], got {signal.shape}")
    observation = _base_observation(study, "waveform", {"coding": [WAVEFORM_CODE], "text": "ECG waveform"})
    components = []
    for position, name in enumerate(study.leads):
        if name not in MDC_LEADS:
            continue
        code, display = MDC_LEADS[name]
        components.append(
            {
                "code": {"coding": [{"system": MDC, "code": code, "display": display}], "text": name},
                "valueSampledData": sampled_data(signal[:, position], study.fs),
            }
        )
    observation["component"] = components
    return observation


def study_observations(study: StudyView) -> list[dict[str, Any]]:
    """Every Observation the DiagnosticReport references, in the order of its `result`."""
    observations = measurement_observations(study) + finding_observations(study)
    if study.signal is not None:
        observations.append(waveform_observation(study))
    return observations


def conclusion_text(analysis: dict[str, Any], review: ClinicianReview | None) -> str:
    parts = [TRIAGE_TEXTS.get(str(analysis.get("triage")), str(analysis.get("triage", ""))) + "."]
    reason = analysis.get("reason")
    if reason:
        parts.append(REASON_TEXTS.get(reason, str(reason)))
    findings = analysis.get("findings") or []
    if findings:
        listed = "; ".join(
            f"{FINDING_TEXTS.get(f['label'], f['label'])} ({float(f['probability']):.0%})" for f in findings
        )
        parts.append(f"Automated findings: {listed}.")
    if review is not None and review.status is not ReviewStatus.none:
        verb = "Confirmed" if review.status is ReviewStatus.confirmed else "Corrected"
        comment = f": {review.comment}" if review.comment else "."
        parts.append(f"{verb} by {review.clinician_name}{comment}")
    return " ".join(parts)


def diagnostic_report(study: StudyView) -> dict[str, Any]:
    observations = study_observations(study)
    triage = str(study.analysis.get("triage", ""))
    data: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": study.study_id,
        "meta": {"lastUpdated": instant(study.issued_at)},
        "status": report_status(study.review),
        "category": [{"coding": [{"system": DIAGNOSTIC_SERVICE, "code": "EC", "display": "Electrocardiac"}]}],
        "code": {"coding": [EKG_STUDY], "text": "EKG study"},
        "subject": _reference(study.patient_reference, study.patient_display),
        "effectiveDateTime": instant(study.recorded_at),
        "issued": instant(study.issued_at),
        "conclusion": conclusion_text(study.analysis, study.review),
    }
    if study.clinic_reference:
        data["performer"] = [_reference(study.clinic_reference, study.clinic_display)]
    review = study.review
    if review is not None and review.status is not ReviewStatus.none:
        interpreter = {"display": review.clinician_name}
        if review.clinician_reference:
            interpreter["reference"] = review.clinician_reference
        data["resultsInterpreter"] = [interpreter]
    if observations:
        data["result"] = [{"reference": f"Observation/{observation['id']}"} for observation in observations]
    conclusion_codes = [finding_concept(str(f["label"])) for f in study.analysis.get("findings") or []]
    if triage:
        display = TRIAGE_TEXTS.get(triage, triage)
        conclusion_codes.append({"coding": [{"system": TRIAGE_SYSTEM, "code": triage, "display": display}]})
    if conclusion_codes:
        data["conclusionCode"] = conclusion_codes
    if study.report_pdf_url:
        data["presentedForm"] = [
            {"contentType": "application/pdf", "url": study.report_pdf_url, "title": "ECG report"}
        ]
    return data


def study_bundle(study: StudyView) -> dict[str, Any]:
    """The DiagnosticReport and its Observations in one collection Bundle. Each entry's fullUrl
    is its address on our FHIR base, so the report's relative references resolve inside it."""
    resources = [diagnostic_report(study), *study_observations(study)]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": instant(study.issued_at),
        "entry": [
            {"fullUrl": f"{FHIR_BASE}/{resource['resourceType']}/{resource['id']}", "resource": resource}
            for resource in resources
        ],
    }
