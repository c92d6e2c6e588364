"""The FHIR R4 views of an ECG study, validated with fhir.resources' R4B models (R4B keeps R4's
DiagnosticReport, Observation and Bundle). The models check structure, types and required
elements, not code values, so codes and references are checked here."""

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation

from booking.fhir import FHIR_BASE
from ecg_ml import ECGRecord, read_record
from ecg_ml.recommend import REASON_TEXTS, TRIAGE_TEXTS
from services.studies.fhir import (
    FINDING_SYSTEM,
    LOINC,
    MDC,
    MDC_LEADS,
    UCUM,
    StudyView,
    diagnostic_report,
    finding_observations,
    measurement_observations,
    study_bundle,
    study_observations,
    waveform_observation,
)
from services.studies.report import ClinicianReview, ReviewStatus

PTBXL = Path(__file__).resolve().parents[1] / "data" / "ptbxl"
STUDY_ID = "6f1c7e0a-2b4d-4c1e-9a55-0d3b2c1f8e77"
PATIENT = "Patient/3a9d2f10-7c4b-4a8e-b1f2-5e6d7c8b9a01"
CLINIC = "Organization/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
RECORDED = datetime(2026, 11, 26, 4, 30, tzinfo=UTC)
ISSUED = datetime(2026, 11, 26, 4, 31, 12, tzinfo=UTC)
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# R4 value sets (hl7.org/fhir/R4/valueset-diagnostic-report-status.html, -observation-status).
REPORT_STATUSES = {
    "registered",
    "partial",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "appended",
    "cancelled",
    "entered-in-error",
    "unknown",
}
OBSERVATION_STATUSES = {
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
}
ANALYSIS: dict[str, Any] = {
    "interpretable": True,
    "reason": None,
    "triage": "soon",
    "recommendations": ["see_cardiologist_soon"],
    "findings": [
        {"label": "1AVB", "probability": 0.83, "explanation": None},
        {"label": "CD", "probability": 0.64, "explanation": None},
    ],
    "probabilities": {"1AVB": 0.83, "CD": 0.64, "NORM": 0.2},
    "measurements": {
        "heart_rate_bpm": 83.1,
        "rhythm": "regular",
        "pr_ms": 246.0,
        "qrs_ms": 94.0,
        "qt_ms": 414.0,
        "qtc_bazett_ms": 487.3,
        "qtc_fridericia_ms": 460.9,
    },
    "quality": {},
    "model_version": "xresnet1d-test",
    "rules_version": "2026-11-25.1",
}


@pytest.fixture(scope="module")
def record() -> ECGRecord:
    return read_record(PTBXL / "00102_hr.hea")


def a_study(record: ECGRecord, **fields: Any) -> StudyView:
    values: dict[str, Any] = {
        "study_id": STUDY_ID,
        "patient_reference": PATIENT,
        "patient_display": "Aziza Karimova",
        "recorded_at": RECORDED,
        "issued_at": ISSUED,
        "analysis": ANALYSIS,
        "signal": record.signal,
        "fs": record.fs,
        "clinic_reference": CLINIC,
        "clinic_display": "Chilonzor Heart Centre",
    }
    values.update(fields)
    return StudyView(**values)


def codes(concept: dict[str, Any]) -> set[tuple[str, str]]:
    return {(coding["system"], coding["code"]) for coding in concept["coding"]}


def test_an_unreviewed_reading_is_a_preliminary_ekg_study(record: ECGRecord) -> None:
    study = a_study(record, report_pdf_url=f"https://api.cardioalert.app/v1/studies/{STUDY_ID}/report.pdf")
    data = diagnostic_report(study)
    DiagnosticReport.model_validate(data)

    assert data["status"] == "preliminary"
    assert data["status"] in REPORT_STATUSES
    assert codes(data["code"]) == {(LOINC, "11524-6")}
    assert data["subject"] == {"reference": PATIENT, "display": "Aziza Karimova"}
    assert data["effectiveDateTime"] == "2026-11-26T04:30:00+00:00"
    assert data["issued"] == "2026-11-26T04:31:12+00:00"
    assert data["performer"] == [{"reference": CLINIC, "display": "Chilonzor Heart Centre"}]
    assert "resultsInterpreter" not in data
    assert [ref["reference"] for ref in data["result"]] == [
        f"Observation/{observation['id']}" for observation in study_observations(study)
    ]
    assert (FINDING_SYSTEM, "1AVB") in codes(data["conclusionCode"][0])
    assert TRIAGE_TEXTS["soon"] in data["conclusion"]
    assert "83%" in data["conclusion"]
    assert data["presentedForm"][0]["contentType"] == "application/pdf"


@pytest.mark.parametrize(("status", "expected"), [("confirmed", "final"), ("corrected", "amended")])
def test_a_review_makes_the_report_final_or_amended(record: ECGRecord, status: str, expected: str) -> None:
    review = ClinicianReview(
        ReviewStatus(status),
        "Dr. Dilnoza Rahimova",
        datetime(2026, 11, 26, 6, 0, tzinfo=UTC),
        "PR prolonged, no acute signs.",
        clinician_reference="Practitioner/1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    )
    study = a_study(record, review=review)
    data = diagnostic_report(study)
    DiagnosticReport.model_validate(data)
    assert data["status"] == expected
    assert data["resultsInterpreter"] == [
        {"display": "Dr. Dilnoza Rahimova", "reference": "Practitioner/1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}
    ]
    assert "PR prolonged, no acute signs." in data["conclusion"]
    for observation in study_observations(study):
        assert observation["status"] == expected
        assert observation["status"] in OBSERVATION_STATUSES


def test_measurements_are_loinc_observations_in_ucum(record: ECGRecord) -> None:
    observations = measurement_observations(a_study(record))
    for observation in observations:
        Observation.model_validate(observation)
    by_code: dict[str, list[dict[str, Any]]] = {}
    for observation in observations:
        (system, code), *_ = codes(observation["code"])
        assert system == LOINC
        by_code.setdefault(code, []).append(observation)

    expected = {
        "8867-4": (83.1, "/min"),
        "8625-6": (246.0, "ms"),
        "8633-2": (94.0, "ms"),
        "8634-0": (414.0, "ms"),
    }
    for code, (value, unit) in expected.items():
        (observation,) = by_code[code]
        assert observation["valueQuantity"] == {"value": value, "unit": unit, "system": UCUM, "code": unit}
        assert observation["subject"]["reference"] == PATIENT
        assert observation["derivedFrom"] == [{"reference": f"Observation/{STUDY_ID}-waveform"}]
    qtc = {
        observation["method"]["text"]: observation["valueQuantity"]["value"]
        for observation in by_code["8636-5"]
    }
    assert qtc == {"Bazett": 487.3, "Fridericia": 460.9}


def test_a_value_that_was_not_measured_gives_no_observation(record: ECGRecord) -> None:
    analysis = {**ANALYSIS, "measurements": {**ANALYSIS["measurements"], "pr_ms": None}}
    observations = measurement_observations(a_study(record, analysis=analysis))
    assert "8625-6" not in {code for o in observations for _, code in codes(o["code"])}
    assert len(observations) == 5


def test_each_finding_is_an_observation_with_its_probability(record: ECGRecord) -> None:
    observations = finding_observations(a_study(record))
    assert len(observations) == 2
    for observation, finding in zip(observations, ANALYSIS["findings"], strict=True):
        Observation.model_validate(observation)
        assert codes(observation["code"]) == {(FINDING_SYSTEM, finding["label"])}
        assert observation["valueQuantity"]["value"] == finding["probability"]
        assert observation["valueQuantity"]["code"] == "1"
        assert observation["interpretation"][0]["coding"][0]["code"] == "POS"
        assert "xresnet1d-test" in observation["method"]["text"]


def decode(sampled: dict[str, Any]) -> np.ndarray:
    values = [np.nan if item == "E" else float(item) for item in sampled["data"].split(" ")]
    return sampled["origin"]["value"] + np.array(values) * sampled["factor"]


def test_the_waveform_has_one_sampled_data_component_per_lead(record: ECGRecord) -> None:
    observation = waveform_observation(a_study(record))
    Observation.model_validate(observation)
    assert codes(observation["code"]) == {(MDC, "131328")}
    components = observation["component"]
    assert [component["code"]["text"] for component in components] == list(record.leads)
    assert {(MDC, code) for code, _ in MDC_LEADS.values()} == {
        next(iter(codes(component["code"]))) for component in components
    }
    lead_i = next(c for c in components if c["code"]["coding"][0]["display"] == "MDC_ECG_LEAD_I")
    assert lead_i["code"]["coding"][0]["code"] == "131329"
    for position, component in enumerate(components):
        sampled = component["valueSampledData"]
        assert (sampled["period"], sampled["dimensions"], sampled["factor"]) == (2.0, 1, 0.001)
        assert sampled["origin"] == {"value": 0, "unit": "mV", "system": UCUM, "code": "mV"}
        decoded = decode(sampled)
        assert len(decoded) == len(record.signal)
        assert np.allclose(decoded, record.signal[:, position], atol=0.0005)


def test_samples_not_recorded_are_e(record: ECGRecord) -> None:
    printout = record.signal.copy()
    printout[1250:, 0] = np.nan  # lead I only in its 2.5 s column, as on a paper printout
    printout[:, 11] = np.nan  # V6 not seen at all
    observation = waveform_observation(a_study(record, signal=printout))
    Observation.model_validate(observation)
    lead_i = observation["component"][0]["valueSampledData"]["data"].split(" ")
    assert "E" not in lead_i[:1250]
    assert set(lead_i[1250:]) == {"E"}
    assert set(observation["component"][11]["valueSampledData"]["data"].split(" ")) == {"E"}
    assert np.isnan(decode(observation["component"][0]["valueSampledData"])[1250:]).all()


def test_the_bundle_holds_the_report_and_every_result(record: ECGRecord) -> None:
    bundle = study_bundle(a_study(record))
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    entries = {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}
    assert len(entries) == len(bundle["entry"])  # no duplicates
    report = bundle["entry"][0]["resource"]
    assert report["resourceType"] == "DiagnosticReport"
    for reference in report["result"]:
        assert f"{FHIR_BASE}/{reference['reference']}" in entries  # every reference resolves
    for entry in bundle["entry"]:
        assert FHIR_ID.fullmatch(entry["resource"]["id"]), entry["resource"]["id"]
    kinds = [resource["resourceType"] for resource in entries.values()]
    assert kinds.count("Observation") == 6 + 2 + 1  # measurements, findings, waveform


def test_a_record_that_could_not_be_read(record: ECGRecord) -> None:
    analysis = {
        **ANALYSIS,
        "interpretable": False,
        "reason": "noisy",
        "triage": "not_interpretable",
        "findings": [],
        "measurements": None,
    }
    study = a_study(record, analysis=analysis, signal=None, fs=None)
    data = diagnostic_report(study)
    DiagnosticReport.model_validate(data)
    assert "result" not in data  # FHIR JSON has no empty arrays
    assert REASON_TEXTS["noisy"] in data["conclusion"]
    assert data["conclusionCode"][0]["coding"][0]["code"] == "not_interpretable"
    Bundle.model_validate(study_bundle(study))


def test_the_waveform_needs_a_signal_of_the_right_shape(record: ECGRecord) -> None:
    with pytest.raises(ValueError, match="signal"):
        waveform_observation(a_study(record, signal=None))
    with pytest.raises(ValueError, match="signal"):
        waveform_observation(a_study(record, signal=record.signal[:, :6]))
