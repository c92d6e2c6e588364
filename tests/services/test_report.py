"""The PDF report of an ECG study: a real PTB-XL record, measured by ecg_ml, read back from the
PDF's own text (pypdf) in each language, as a full 12-lead record and as a printout."""

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pypdf import PdfReader

from ecg_ml import ECGRecord, read_record
from ecg_ml.measure import measure
from ecg_ml.quality import assess
from ecg_ml.recommend import (
    DISCLAIMER,
    FINDING_TEXTS,
    QUALITY_TEXTS,
    REASON_TEXTS,
    RECOMMENDATION_TEXTS,
    TRIAGE_TEXTS,
    advise,
    not_interpretable_advice,
)
from i18n import gettext
from i18n.formatting import format_datetime, format_percent
from services.studies.report import (
    CONFIRMED_BY,
    CORRECTED_BY,
    LAYOUT,
    MEASUREMENT_LABELS,
    NOT_REVIEWED,
    PAGE_LINE,
    QUALITY_HEADING,
    TITLE,
    ClinicianReview,
    ReportData,
    ReviewStatus,
    render_report_pdf,
)

PTBXL = Path(__file__).resolve().parents[1] / "data" / "ptbxl"
WEIGHTS = Path(__file__).resolve().parents[2] / "ecg_ml" / "weights" / "xresnet1d.pt"
RECORDED = datetime(2026, 11, 26, 4, 30, tzinfo=UTC)  # 09:30 in Tashkent
REVIEWED = datetime(2026, 11, 26, 6, 5, tzinfo=UTC)
CLINICIAN = "Dr. Dilnoza Rahimova"


@pytest.fixture(scope="module")
def record() -> ECGRecord:
    return read_record(PTBXL / "00102_hr.hea")  # first-degree AV block in PTB-XL's labels


def hand_made_analysis(record: ECGRecord) -> dict[str, Any]:
    """What ecg_ml.analyze returns, while the classifier's weights are being trained: the
    measurements, quality and advice are computed by ecg_ml itself; only the model's
    probabilities are written here."""
    measurements = measure(record).to_dict()
    probabilities = {"1AVB": 0.83, "NORM": 0.21, "STTC": 0.58, "MI": 0.07, "CD": 0.64}
    advice = advise(probabilities, measurements)
    reported = sorted(((k, p) for k, p in probabilities.items() if p >= 0.5), key=lambda item: -item[1])
    return {
        "interpretable": True,
        "reason": None,
        "triage": advice.triage,
        "recommendations": advice.recommendations,
        "findings": [{"label": label, "probability": p, "explanation": None} for label, p in reported],
        "probabilities": probabilities,
        "measurements": measurements,
        "quality": assess(record).to_dict(),
        "model_version": "xresnet1d-test",
        "rules_version": advice.version,
        "timings_ms": {},
        "disclaimer": "automated_reading_not_a_diagnosis",
    }


@pytest.fixture(scope="module")
def analysis(record: ECGRecord) -> dict[str, Any]:
    return hand_made_analysis(record)


def report(record: ECGRecord, analysis: dict[str, Any], language: str, **fields: Any) -> bytes:
    values: dict[str, Any] = {
        "language": language,
        "patient_name": "Азиза Каримова" if language == "ru" else "Aziza Karimova",
        "recorded_at": RECORDED,
        "signal": record.signal,
        "fs": record.fs,
        "analysis": analysis,
        "clinic_name": "Chilonzor Heart Centre",
        "study_id": "0b9c2f1e",
    }
    values.update(fields)
    return render_report_pdf(ReportData(**values))


def pages_text(pdf: bytes, tmp_path: Path) -> list[str]:
    """Each page's text, whitespace collapsed (wrapped lines join up again)."""
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return [" ".join((page.extract_text() or "").split()) for page in PdfReader(path).pages]


def plain(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("language", ["ru", "uz", "en", "uz-Cyrl"])
def test_the_report_speaks_the_patients_language(
    record: ECGRecord, analysis: dict[str, Any], language: str, tmp_path: Path
) -> None:
    review = ClinicianReview(ReviewStatus.corrected, CLINICIAN, REVIEWED, "PR 220 ms; no acute signs.")
    pdf = report(record, analysis, language, review=review)

    assert pdf.startswith(b"%PDF-")
    pages = pages_text(pdf, tmp_path)
    assert len(pages) == 2
    text = " ".join(pages)
    disclaimer = plain(gettext(DISCLAIMER, language))
    for number, page in enumerate(pages, start=1):
        assert gettext(TITLE, language) in page
        assert disclaimer in page  # on every page
        assert plain(gettext(PAGE_LINE, language, page=number, pages=2)) in page
    for label in MEASUREMENT_LABELS.values():
        assert gettext(label, language) in text
    assert plain(gettext(TRIAGE_TEXTS[analysis["triage"]], language)) in text
    for finding in analysis["findings"]:
        assert plain(gettext(FINDING_TEXTS[finding["label"]], language)) in text
        assert plain(format_percent(finding["probability"], language)) in text
    for code in analysis["recommendations"]:
        assert plain(gettext(RECOMMENDATION_TEXTS[code], language)) in text
    assert CLINICIAN in text
    assert "PR 220 ms; no acute signs." in text
    assert "xresnet1d-test" in text
    assert "Chilonzor Heart Centre" in text
    # The 12 lead labels and the rhythm strip's are on the ECG page.
    assert all(name in pages[0].split() for row in LAYOUT for name in row)
    if language != "en":  # the texts ecg_ml ships are translated, so the report must not be English
        assert disclaimer != plain(DISCLAIMER)
        assert plain(DISCLAIMER) not in text


def test_russian_and_uzbek_cyrillic_render_as_cyrillic(
    record: ECGRecord, analysis: dict[str, Any], tmp_path: Path
) -> None:
    russian = " ".join(pages_text(report(record, analysis, "ru"), tmp_path))
    assert "Азиза Каримова" in russian
    assert "ЭКГ" in russian or "Это" in russian
    uzbek_cyrillic = " ".join(pages_text(report(record, analysis, "uz-Cyrl"), tmp_path))
    assert any("\u0400" <= char <= "\u04ff" for char in uzbek_cyrillic)


def test_review_states(record: ECGRecord, analysis: dict[str, Any], tmp_path: Path) -> None:
    unreviewed = " ".join(pages_text(report(record, analysis, "ru"), tmp_path))
    assert gettext(NOT_REVIEWED, "ru") in unreviewed

    confirmed = ClinicianReview(ReviewStatus.confirmed, CLINICIAN, REVIEWED)
    text = " ".join(pages_text(report(record, analysis, "uz", review=confirmed), tmp_path))
    when = format_datetime(REVIEWED, "uz")
    assert plain(gettext(CONFIRMED_BY, "uz", clinician=CLINICIAN, time=when)) in text
    assert plain(gettext(CORRECTED_BY, "uz", clinician=CLINICIAN, time=when)) not in text
    assert gettext(NOT_REVIEWED, "uz") not in text


def printout_view(record: ECGRecord) -> np.ndarray:
    """A photographed paper ECG: each lead only in its 2.5 s column, lead II for all 10 s."""
    signal = np.full_like(record.signal, np.nan)
    column = int(2.5 * record.fs)
    index = {name: position for position, name in enumerate(record.leads)}
    for row in LAYOUT:
        for number, name in enumerate(row):
            part = slice(number * column, (number + 1) * column)
            signal[part, index[name]] = record.signal[part, index[name]]
    signal[:, index["II"]] = record.signal[:, index["II"]]
    return signal


def test_a_printout_with_nan_gaps_renders(
    record: ECGRecord, analysis: dict[str, Any], tmp_path: Path
) -> None:
    signal = printout_view(record)
    signal[:, record.leads.index("V6")] = np.nan  # a lead the photo did not show at all
    signal[700:760, record.leads.index("II")] = np.nan  # a fold in the paper
    pdf = report(record, analysis, "ru", signal=signal)
    assert pdf.startswith(b"%PDF-")
    pages = pages_text(pdf, tmp_path)
    assert len(pages) == 2
    assert "V6" in pages[0].split()  # labelled though empty


def test_a_short_recording_at_another_rate_renders(record: ECGRecord, analysis: dict[str, Any]) -> None:
    four_seconds_at_250_hz = record.signal[: 4 * 500 : 2]
    pdf = report(record, analysis, "en", signal=four_seconds_at_250_hz, fs=250.0)
    assert pdf.startswith(b"%PDF-")


def refused_as_noisy(problems: list[str]) -> dict[str, Any]:
    """What ecg_ml.analyze returns for a record its quality check refused as noisy."""
    advice = not_interpretable_advice()
    return {
        "interpretable": False,
        "reason": "noisy",
        "triage": advice.triage,
        "recommendations": advice.recommendations,
        "findings": [],
        "probabilities": {},
        "measurements": None,
        "quality": {"problems": problems},
        "model_version": "xresnet1d-test",
        "rules_version": advice.version,
    }


def with_problems(analysis: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    return {**analysis, "quality": {**analysis["quality"], "problems": problems}}


def test_a_record_that_could_not_be_read(record: ECGRecord, tmp_path: Path) -> None:
    text = " ".join(pages_text(report(record, refused_as_noisy([]), "ru"), tmp_path))
    assert plain(gettext(TRIAGE_TEXTS["not_interpretable"], "ru")) in text
    assert plain(gettext(REASON_TEXTS["noisy"], "ru")) in text
    assert plain(gettext(RECOMMENDATION_TEXTS["retake_ecg"], "ru")) in text
    assert gettext(MEASUREMENT_LABELS["qrs_ms"], "ru") not in text


def test_the_quality_notes_are_listed(record: ECGRecord, analysis: dict[str, Any], tmp_path: Path) -> None:
    problems = ["noisy", "photo_glare"]
    text = " ".join(pages_text(report(record, with_problems(analysis, problems), "ru"), tmp_path))
    assert gettext(QUALITY_HEADING, "ru") in text
    for code in problems:
        assert plain(gettext(QUALITY_TEXTS[code], "ru")) in text


def test_a_note_is_not_split_across_a_page_break(
    record: ECGRecord, analysis: dict[str, Any], tmp_path: Path
) -> None:
    """In Uzbek three long notes reach the bottom of the reading's page: the one that does not fit
    starts the next page whole instead of breaking off mid-sentence."""
    problems = ["noisy", "photo_glare", "photo_calibration_pulse_missing"]
    pages = pages_text(report(record, with_problems(analysis, problems), "uz"), tmp_path)
    for code in problems:
        assert any(plain(gettext(QUALITY_TEXTS[code], "uz")) in page for page in pages), code


def test_a_refusal_is_not_noted_twice(record: ECGRecord, tmp_path: Path) -> None:
    analysis = refused_as_noisy(["noisy", "photo_leads_not_read"])
    text = " ".join(pages_text(report(record, analysis, "uz"), tmp_path))
    assert plain(gettext(REASON_TEXTS["noisy"], "uz")) in text
    assert plain(gettext(QUALITY_TEXTS["noisy"], "uz")) not in text
    assert plain(gettext(QUALITY_TEXTS["photo_leads_not_read"], "uz")) in text


def test_a_long_reading_flows_onto_more_pages(
    record: ECGRecord, analysis: dict[str, Any], tmp_path: Path
) -> None:
    every_finding = [{"label": label, "probability": 0.6} for label in FINDING_TEXTS]
    long_comment = "Reviewed against the previous ECG of 2025-03-01. " * 25
    review = ClinicianReview(ReviewStatus.corrected, CLINICIAN, REVIEWED, long_comment)
    crowded = {**analysis, "findings": every_finding, "recommendations": list(RECOMMENDATION_TEXTS)}
    pages = pages_text(report(record, crowded, "ru", review=review), tmp_path)
    assert len(pages) >= 3
    disclaimer = plain(gettext(DISCLAIMER, "ru"))
    for number, page in enumerate(pages, start=1):
        assert disclaimer in page
        assert plain(gettext(PAGE_LINE, "ru", page=number, pages=len(pages))) in page
    text = " ".join(pages)
    assert all(plain(gettext(FINDING_TEXTS[label], "ru")) in text for label in FINDING_TEXTS)
    assert text.count("Reviewed against the previous ECG") == 25


def test_texts_with_dollar_signs_stay_text(
    record: ECGRecord, analysis: dict[str, Any], tmp_path: Path
) -> None:
    review = ClinicianReview(ReviewStatus.confirmed, "Dr. $x$ Smith", REVIEWED, "cost $5 and $6")
    text = " ".join(pages_text(report(record, analysis, "en", review=review), tmp_path))
    assert "Dr. $x$ Smith" in text
    assert "cost $5 and $6" in text


def test_a_signal_of_the_wrong_shape_is_refused(record: ECGRecord, analysis: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="signal"):
        report(record, analysis, "en", signal=record.signal[:, :6])
    with pytest.raises(ValueError, match="sampling rate"):
        report(record, analysis, "en", fs=float("nan"))


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_poppler_reads_the_same_text(record: ECGRecord, analysis: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(report(record, analysis, "uz"))
    extracted = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True)
    assert plain(gettext(DISCLAIMER, "uz")) in plain(extracted.stdout)


@pytest.mark.skipif(not WEIGHTS.exists(), reason="classifier weights not trained yet (ecg_ml/weights/)")
def test_a_report_of_a_real_analysis(record: ECGRecord, tmp_path: Path) -> None:
    from ecg_ml import analyze  # noqa: PLC0415 - loads torch and the weights only when they exist

    result = analyze(record).to_dict()
    pages = pages_text(report(record, result, "ru"), tmp_path)
    assert len(pages) >= 2
    assert plain(gettext(TRIAGE_TEXTS[result["triage"]], "ru")) in " ".join(pages)
