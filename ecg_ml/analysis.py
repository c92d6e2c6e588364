"""One ECG in, one reading out: quality gate, measurements, model findings with explanations,
triage and advice. Never a confident reading of garbage: a record the quality check refuses
gets `not_interpretable` with the reason code and nothing else.

A photographed printout brings the digitiser's reading problems along (record.metadata
["photo_problems"]): those a patient should hear of join the quality problems as warnings, under
a `photo_` prefix so that none reads as a signal code (the digitiser's "leads_not_read" beside
the signal's "missing_leads"). They never refuse a record the signal check let through."""

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ecg_ml import classify, measure, quality
from ecg_ml.recommend import advise, not_interpretable_advice
from ecg_ml.record import ECGRecord

FINDING_THRESHOLD = 0.5  # temperature-scaled probability from which a label is reported
NORMAL_LABEL = "NORM"  # not explained: a normal ECG has no place to point at

# The digitiser's problem codes (ecg_ml.digitize) -> the quality problem the reading carries.
PHOTO_PROBLEMS = {
    "glare": "photo_glare",
    "calibration_pulse_missing": "photo_calibration_pulse_missing",
    "leads_not_read": "photo_leads_not_read",
    "row_shorter_than_printed": "photo_row_shorter_than_printed",
}
# The digitiser's own bookkeeping, nothing a patient could act on: left out of the reading.
PHOTO_PROBLEMS_NOT_SHOWN = frozenset({"trace_start_not_at_convention", "rows_out_of_step"})


@dataclass(frozen=True)
class Finding:
    label: str
    probability: float
    # Where the model looked: 12 leads × ~50 time steps, 0..1, for the app's heat strip.
    explanation: list[list[float]] | None = None


@dataclass
class Analysis:
    interpretable: bool
    reason: str | None
    triage: str
    recommendations: list[str]
    findings: list[Finding]
    probabilities: dict[str, float]
    measurements: dict[str, Any] | None
    quality: dict[str, Any]
    model_version: str
    rules_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    disclaimer: str = "automated_reading_not_a_diagnosis"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def photo_problems(record: ECGRecord) -> list[str]:
    """The photo's reading problems worth telling, as quality problem codes, in the digitiser's
    order; an unknown digitiser code is left out (tests/ecg_ml/test_analyze.py keeps the table
    above in step with the digitiser)."""
    found = record.metadata.get("photo_problems") or []
    return list(dict.fromkeys(PHOTO_PROBLEMS[code] for code in found if code in PHOTO_PROBLEMS))


def _with_photo_problems(checked: quality.Quality, record: ECGRecord) -> quality.Quality:
    problems = list(dict.fromkeys([*checked.problems, *photo_problems(record)]))
    return replace(checked, problems=problems)


def analyze(record: ECGRecord, risk_category: str | None = None) -> Analysis:
    """Read one record. `risk_category` is the patient's latest risk-test category, if any."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    # The beats (R peaks, median beats, fiducials) serve both the quality check and the
    # measurements: found once.
    beats = measure.analyze_beats(record)
    checked = _with_photo_problems(quality.assess(record, beats), record)
    timings["quality"] = _ms(started)
    model_version = classify.load_classifier().version
    if not checked.interpretable:
        advice = not_interpretable_advice()
        return Analysis(
            interpretable=False,
            reason=checked.reason,
            triage=advice.triage,
            recommendations=advice.recommendations,
            findings=[],
            probabilities={},
            measurements=None,
            quality=checked.to_dict(),
            model_version=model_version,
            rules_version=advice.version,
            timings_ms=timings,
        )

    started = time.perf_counter()
    measurements = measure.measure(record, beats).to_dict()
    timings["measure"] = _ms(started)

    started = time.perf_counter()
    probabilities, labels = classify.classify_batch(record.signal[np.newaxis], record.fs)
    by_label = {label: round(float(p), 4) for label, p in zip(labels, probabilities[0], strict=True)}
    timings["classify"] = _ms(started)

    started = time.perf_counter()
    reported = sorted(
        ((label, p) for label, p in by_label.items() if p >= FINDING_THRESHOLD), key=lambda item: -item[1]
    )
    explained = [label for label, _ in reported if label != NORMAL_LABEL]
    heat = classify.saliency_maps(record.signal, record.fs, explained)
    findings = [
        Finding(label, probability, np.round(heat[label], 3).tolist() if label in heat else None)
        for label, probability in reported
    ]
    timings["explain"] = _ms(started)

    advice = advise(by_label, measurements, risk_category)
    return Analysis(
        interpretable=True,
        reason=None,
        triage=advice.triage,
        recommendations=advice.recommendations,
        findings=findings,
        probabilities=by_label,
        measurements=measurements,
        quality=checked.to_dict(),
        model_version=model_version,
        rules_version=advice.version,
        timings_ms=timings,
    )
