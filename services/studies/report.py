"""The PDF report of one ECG study, in the patient's language.

Page 1 is the ECG as a cardiologist expects it on paper: A4 landscape, a 1 mm / 5 mm grid,
25 mm/s and 10 mm/mV, the 12 leads in 3 rows of 4 columns (2.5 s each) and a 10 s lead II
rhythm strip, with lead labels and a 1 mV calibration pulse on every row. The pages after it
hold the reading: urgency, measurements, findings with their probabilities, advice, the
clinician's review and the model version. The disclaimer is at the foot of every page.

`render_report_pdf` is a pure function of `ReportData`: no database, no storage, no HTTP. It
draws with matplotlib's PDF backend and the DejaVu Sans font matplotlib ships (Latin and
Cyrillic), embedded as TrueType so the text stays searchable and copyable.
"""

import io
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import signal as sps

from ecg_ml.recommend import (
    DISCLAIMER,
    FINDING_TEXTS,
    QUALITY_TEXTS,
    REASON_TEXTS,
    RECOMMENDATION_TEXTS,
    TRIAGE_TEXTS,
)
from ecg_ml.record import STANDARD_LEADS
from i18n import N_, Language, gettext
from i18n.formatting import DEFAULT_TIMEZONE, format_datetime, format_number, format_percent

TITLE = N_("ECG report")
PATIENT_LINE = N_("Patient: {name}")
RECORDED_LINE = N_("Recorded: {time}")
CLINIC_LINE = N_("Clinic: {name}")
STUDY_LINE = N_("Study: {id}")
PAGE_LINE = N_("Page {page} of {pages}")
PAPER_LINE = N_("Paper speed {speed} mm/s, gain {gain} mm/mV, baseline filter {cutoff} Hz")
URGENCY_HEADING = N_("Urgency")
MEASUREMENTS_HEADING = N_("Measurements")
FINDINGS_HEADING = N_("Findings of the automated reading")
FINDINGS_NOTE = N_("Probability: how sure the model is that the sign is present.")
NO_FINDINGS = N_("No signs above the reporting threshold.")
ADVICE_HEADING = N_("Advice")
QUALITY_HEADING = N_("Notes on the recording")
REVIEW_HEADING = N_("Clinician review")
NOT_REVIEWED = N_("Not yet reviewed by a clinician.")
CONFIRMED_BY = N_("Confirmed by {clinician} on {time}.")
CORRECTED_BY = N_("Corrected by {clinician} on {time}.")
REVIEW_COMMENT = N_("Comment: {comment}")
MODEL_LINE = N_("Automated reading: model {model}, rules {rules}")
NOT_MEASURED = N_("not measured")
BEATS_PER_MINUTE = N_("{value} beats/min")
MILLISECONDS = N_("{value} ms")
MEASUREMENT_LABELS = {
    "heart_rate_bpm": N_("Heart rate"),
    "rhythm": N_("Rhythm"),
    "pr_ms": N_("PR interval"),
    "qrs_ms": N_("QRS duration"),
    "qt_ms": N_("QT interval"),
    "qtc_bazett_ms": N_("QTc (Bazett)"),
    "qtc_fridericia_ms": N_("QTc (Fridericia)"),
}
RHYTHM_TEXTS = {
    "regular": N_("regular"),
    "irregular": N_("irregular"),
    "unknown": N_("not determined"),
}

# ------------------------------------------------------------------ the paper

MM_PER_INCH = 25.4
PAGE_W, PAGE_H = 297.0, 210.0  # A4 landscape, mm
SPEED_MM_S = 25.0
GAIN_MM_MV = 10.0
COLUMN_S = 2.5  # each of the 4 columns shows 2.5 s, so the 12-lead part covers 10 s
RHYTHM_S = 10.0
CALIBRATION_MM = 10.0  # room at the left of each row for the 1 mV pulse
GRID_W = CALIBRATION_MM + RHYTHM_S * SPEED_MM_S  # 260 mm: 52 large boxes
ROW_PITCH_MM = 35.0
GRID_H = 4 * ROW_PITCH_MM  # 140 mm: 28 large boxes
GRID_LEFT = (PAGE_W - GRID_W) / 2
GRID_BOTTOM = 30.0
LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
RHYTHM_LEAD = "II"
MIN_FS = 50.0  # Hz: below this there is no ECG to draw
HIGHPASS_HZ = 0.5  # baseline wander off, as ECG machines print (and as ecg_ml.measure cleans)
MINOR_COLOR, MAJOR_COLOR = "#f7caca", "#e58a8a"
TRACE_COLOR = "#111111"
TRIAGE_COLORS = {"urgent": "#b00020", "soon": "#c25e00", "routine": "#1b7a2f", "not_interpretable": "#555555"}

# ------------------------------------------------------------------ the text pages

MARGIN_MM = 14.0
TEXT_TOP_MM = PAGE_H - 30.0
TEXT_BOTTOM_MM = 30.0
BODY_PT, HEADING_PT, SMALL_PT = 10.0, 12.5, 7.5
PT_MM = MM_PER_INCH / 72
CHAR_EM = 0.58  # DejaVu Sans' mean advance (Latin and Cyrillic), in em, with a little slack
VALUE_X_MM = MARGIN_MM + 62.0
PROBABILITY_X_MM = PAGE_W - MARGIN_MM - 25.0  # findings are long: their value sits far right

# matplotlib's rc parameters and font caches are process-wide: one report is drawn at a time,
# the settings it needs set only for that drawing, so other threads' plots stay untouched.
_RENDER_LOCK = threading.Lock()
_RC = {
    "pdf.fonttype": 42,  # embedded TrueType subset: searchable text, Cyrillic included
    "font.family": "DejaVu Sans",
    "text.parse_math": False,  # a '$' in a name or comment is text, not mathtext
    "path.simplify": False,  # every sample of the trace is drawn
}


class ReviewStatus(StrEnum):
    none = "none"
    confirmed = "confirmed"
    corrected = "corrected"


@dataclass(frozen=True)
class ClinicianReview:
    status: ReviewStatus
    clinician_name: str
    reviewed_at: datetime
    comment: str | None = None
    clinician_reference: str | None = None  # "Practitioner/<id>", for the FHIR views


@dataclass(frozen=True)
class ReportData:
    """Everything one report shows. `signal` is float32 [n, len(leads)] in mV with NaN where a
    lead was not recorded (a photographed printout has each lead only in its 2.5 s column);
    `analysis` is `ecg_ml.analyze(...).to_dict()` (after a clinician's correction, the
    corrected one); `review` None means not reviewed."""

    language: Language | str
    patient_name: str
    recorded_at: datetime
    signal: np.ndarray
    fs: float
    analysis: dict[str, Any]
    leads: Sequence[str] = STANDARD_LEADS
    clinic_name: str | None = None
    review: ClinicianReview | None = None
    study_id: str | None = None
    time_zone: str = DEFAULT_TIMEZONE


def render_report_pdf(data: ReportData) -> bytes:
    """The report as PDF bytes: the ECG page, then the reading (one or more pages)."""
    signal = np.asarray(data.signal, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[1] != len(data.leads):
        raise ValueError(f"signal must be [n, {len(data.leads)}], got {signal.shape}")
    if not np.isfinite(data.fs) or data.fs < MIN_FS:
        raise ValueError(f"unusable sampling rate {data.fs}")
    language = Language(data.language)
    with _RENDER_LOCK, matplotlib.rc_context(_RC):
        pages = [_ecg_page(data, signal, language), *_reading_pages(data, language)]
        for number, page in enumerate(pages, start=1):
            _footer(page, language, number, len(pages))
        buffer = io.BytesIO()
        metadata = {"Title": gettext(TITLE, language), "Creator": "CardioAlert", "CreationDate": None}
        with PdfPages(buffer, metadata=metadata) as pdf:
            for page in pages:
                pdf.savefig(page)
    return buffer.getvalue()


# ------------------------------------------------------------------ page 1: the ECG


def _new_page() -> Figure:
    return Figure(figsize=(PAGE_W / MM_PER_INCH, PAGE_H / MM_PER_INCH))


def _text(page: Figure, x_mm: float, y_mm: float, text: str, size: float = BODY_PT, **kwargs: Any) -> None:
    page.text(x_mm / PAGE_W, y_mm / PAGE_H, text, fontsize=size, va="baseline", **kwargs)


def _ecg_page(data: ReportData, signal: np.ndarray, language: Language) -> Figure:
    page = _new_page()
    _header(page, data, language)
    _text(page, GRID_LEFT, GRID_BOTTOM + GRID_H + 3, _summary_line(data.analysis, language), size=9)

    axes = page.add_axes(
        (GRID_LEFT / PAGE_W, GRID_BOTTOM / PAGE_H, GRID_W / PAGE_W, GRID_H / PAGE_H), frameon=False
    )
    axes.set_xlim(0, GRID_W)
    axes.set_ylim(0, GRID_H)
    axes.set_axis_off()
    _draw_grid(axes)

    display = display_signal(signal, data.fs)
    index = {name: position for position, name in enumerate(data.leads)}
    for row, names in enumerate(LAYOUT):
        baseline = GRID_H - ROW_PITCH_MM * (row + 0.5)
        _draw_calibration(axes, baseline)
        for column, name in enumerate(names):
            start_s = column * COLUMN_S
            x0 = CALIBRATION_MM + start_s * SPEED_MM_S
            if name in index:
                _draw_trace(axes, display[:, index[name]], data.fs, start_s, COLUMN_S, x0, baseline)
            axes.text(x0 + 1.5, baseline + 8.5, name, fontsize=8, fontweight="bold")
            if column > 0:  # the mark where one lead gives way to the next
                axes.plot([x0, x0], [baseline - 3, baseline + 3], color=TRACE_COLOR, linewidth=0.7)
    baseline = ROW_PITCH_MM * 0.5
    _draw_calibration(axes, baseline)
    if RHYTHM_LEAD in index:
        _draw_trace(axes, display[:, index[RHYTHM_LEAD]], data.fs, 0.0, RHYTHM_S, CALIBRATION_MM, baseline)
    axes.text(CALIBRATION_MM + 1.5, baseline + 8.5, RHYTHM_LEAD, fontsize=8, fontweight="bold")

    paper = gettext(
        PAPER_LINE,
        language,
        speed=format_number(SPEED_MM_S, language, 0),
        gain=format_number(GAIN_MM_MV, language, 0),
        cutoff=format_number(HIGHPASS_HZ, language, 1),
    )
    _text(page, GRID_LEFT, GRID_BOTTOM - 5, paper, size=SMALL_PT, color="#444444")
    return page


def _draw_grid(axes: Any) -> None:
    minor_x = [x for x in np.arange(0, GRID_W + 0.5, 1.0) if x % 5]
    minor_y = [y for y in np.arange(0, GRID_H + 0.5, 1.0) if y % 5]
    major_x = np.arange(0, GRID_W + 0.5, 5.0)
    major_y = np.arange(0, GRID_H + 0.5, 5.0)

    def lines(xs: Sequence[float], ys: Sequence[float]) -> list[list[tuple[float, float]]]:
        return [[(x, 0.0), (x, GRID_H)] for x in xs] + [[(0.0, y), (GRID_W, y)] for y in ys]

    axes.add_collection(LineCollection(lines(minor_x, minor_y), colors=MINOR_COLOR, linewidths=0.25))
    axes.add_collection(LineCollection(lines(major_x, major_y), colors=MAJOR_COLOR, linewidths=0.6))


def _draw_calibration(axes: Any, baseline: float) -> None:
    """1 mV for 200 ms: a box 10 mm high and 5 mm wide, the reader's check of gain and speed."""
    top = baseline + 1.0 * GAIN_MM_MV
    xs = [1.0, 3.0, 3.0, 8.0, 8.0, 9.5]
    ys = [baseline, baseline, top, top, baseline, baseline]
    axes.plot(xs, ys, color=TRACE_COLOR, linewidth=0.7, solid_joinstyle="miter")


def _draw_trace(
    axes: Any, lead: np.ndarray, fs: float, start_s: float, length_s: float, x0: float, baseline: float
) -> None:
    first = round(start_s * fs)
    stop = min(len(lead), round((start_s + length_s) * fs))
    if stop <= first:
        return
    values = lead[first:stop]
    if not np.isfinite(values).any():
        return
    x = x0 + np.arange(len(values)) / fs * SPEED_MM_S
    # NaN samples break the line: a gap on paper where the lead was not recorded.
    axes.plot(x, baseline + values * GAIN_MM_MV, color=TRACE_COLOR, linewidth=0.55)


def display_signal(signal: np.ndarray, fs: float) -> np.ndarray:
    """The first 10 s, baseline wander removed: each finite stretch of a lead high-passed on its
    own (filters do not cross gaps), a stretch too short to filter only centred on its median."""
    shown = signal[: round(RHYTHM_S * fs)].copy()
    highpass = sps.butter(2, HIGHPASS_HZ, btype="highpass", fs=fs, output="sos")
    min_filter_samples = int(fs)  # 1 s: shorter stretches hold no baseline to speak of
    for lead in range(shown.shape[1]):
        finite = np.isfinite(shown[:, lead])
        edges = np.flatnonzero(np.diff(np.r_[0, finite.astype(np.int8), 0]))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            stretch = shown[start:stop, lead]
            if stop - start >= min_filter_samples:
                shown[start:stop, lead] = sps.sosfiltfilt(highpass, stretch)
            else:
                shown[start:stop, lead] = stretch - np.median(stretch)
    return shown


# ------------------------------------------------------------------ texts


def _milliseconds(value: float | None, language: Language) -> str:
    if value is None:
        return gettext(NOT_MEASURED, language)
    return gettext(MILLISECONDS, language, value=format_number(value, language, 0))


def measurement_text(name: str, measurements: dict[str, Any], language: Language) -> str:
    value = measurements.get(name)
    if name == "rhythm":
        return gettext(RHYTHM_TEXTS.get(str(value), RHYTHM_TEXTS["unknown"]), language)
    if name == "heart_rate_bpm":
        if value is None:
            return gettext(NOT_MEASURED, language)
        return gettext(BEATS_PER_MINUTE, language, value=format_number(value, language, 0))
    return _milliseconds(value, language)


def _summary_line(analysis: dict[str, Any], language: Language) -> str:
    """The line above the grid, as ECG machines print it: rate, intervals, QTc."""
    measurements = analysis.get("measurements")
    if not measurements:
        return gettext(TRIAGE_TEXTS.get(analysis.get("triage", ""), TITLE), language)
    names = ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms")
    return "   ".join(
        f"{gettext(MEASUREMENT_LABELS[name], language)}: {measurement_text(name, measurements, language)}"
        for name in names
    )


def _header(page: Figure, data: ReportData, language: Language) -> None:
    top = PAGE_H - 12.0
    _text(page, MARGIN_MM, top, gettext(TITLE, language), size=16, fontweight="bold")
    _text(page, MARGIN_MM, top - 7, gettext(PATIENT_LINE, language, name=data.patient_name), size=10.5)
    recorded = format_datetime(data.recorded_at, language, data.time_zone)
    _text(page, MARGIN_MM, top - 12.5, gettext(RECORDED_LINE, language, time=recorded), size=9)
    right = PAGE_W - MARGIN_MM
    if data.clinic_name:
        clinic = gettext(CLINIC_LINE, language, name=data.clinic_name)
        _text(page, right, top - 7, clinic, size=9, ha="right")
    if data.study_id:
        study = gettext(STUDY_LINE, language, id=data.study_id)
        _text(page, right, top - 12.5, study, size=SMALL_PT, ha="right", color="#444444")


def _footer(page: Figure, language: Language, number: int, total: int) -> None:
    width = int((PAGE_W - 2 * MARGIN_MM - 30) / (SMALL_PT * PT_MM * CHAR_EM))
    lines = textwrap.wrap(gettext(DISCLAIMER, language), width)
    rule_x = [MARGIN_MM / PAGE_W, (PAGE_W - MARGIN_MM) / PAGE_W]
    rule = Line2D(rule_x, [17 / PAGE_H] * 2, color="#999999", linewidth=0.4, transform=page.transFigure)
    page.add_artist(rule)
    for offset, line in enumerate(lines):
        _text(page, MARGIN_MM, 13 - offset * 3.6, line, size=SMALL_PT, color="#333333")
    pages = gettext(PAGE_LINE, language, page=number, pages=total)
    _text(page, PAGE_W - MARGIN_MM, 13, pages, size=SMALL_PT, ha="right", color="#333333")


class _TextPages:
    """Pages of flowing text: each new line goes below the last; a full page starts the next."""

    def __init__(self, data: ReportData, language: Language) -> None:
        self.data = data
        self.language = language
        self.pages: list[Figure] = []
        self.y = 0.0
        self._new_page()

    def _new_page(self) -> None:
        page = _new_page()
        _header(page, self.data, self.language)
        self.pages.append(page)
        self.y = TEXT_TOP_MM

    def _room(self, height: float) -> Figure:
        if self.y - height < TEXT_BOTTOM_MM:
            self._new_page()
        self.y -= height
        return self.pages[-1]

    def heading(self, text: str, color: str = "#000000") -> None:
        if self.y < TEXT_TOP_MM:
            self.y -= 3.0  # space between sections
        page = self._room(HEADING_PT * PT_MM * 1.5)
        _text(page, MARGIN_MM, self.y, text, size=HEADING_PT, fontweight="bold", color=color)

    def paragraph(self, text: str, indent: float = 0.0, size: float = BODY_PT, **kwargs: Any) -> None:
        width_mm = PAGE_W - 2 * MARGIN_MM - indent
        lines = textwrap.wrap(text, int(width_mm / (size * PT_MM * CHAR_EM))) or [""]
        line_mm = size * PT_MM * 1.45
        # A paragraph that fits on a page is kept whole: a sentence broken off at the page's foot
        # reads badly.
        height = line_mm * len(lines)
        if self.y - height < TEXT_BOTTOM_MM and height <= TEXT_TOP_MM - TEXT_BOTTOM_MM:
            self._new_page()
        for line in lines:
            page = self._room(line_mm)
            _text(page, MARGIN_MM + indent, self.y, line, size=size, **kwargs)

    def row(self, label: str, value: str, value_x: float = VALUE_X_MM, bullet: bool = False) -> None:
        """A label with its value in a column to the right; a long label wraps before it."""
        width_mm = value_x - MARGIN_MM - 6 - (4 if bullet else 0)
        lines = textwrap.wrap(label, int(width_mm / (BODY_PT * PT_MM * CHAR_EM))) or [""]
        for number, line in enumerate(lines):
            page = self._room(BODY_PT * PT_MM * 1.45)
            if bullet and number == 0:
                _text(page, MARGIN_MM, self.y, "•")
            _text(page, MARGIN_MM + (4 if bullet else 0), self.y, line)
            if number == 0:
                _text(page, value_x, self.y, value, fontweight="bold")


def _reading_pages(data: ReportData, language: Language) -> list[Figure]:
    analysis = data.analysis
    out = _TextPages(data, language)
    _urgency_section(out, analysis, language)
    measurements = analysis.get("measurements")
    if measurements:
        out.heading(gettext(MEASUREMENTS_HEADING, language))
        for name, label in MEASUREMENT_LABELS.items():
            out.row(gettext(label, language), measurement_text(name, measurements, language))
    if analysis.get("interpretable", True):
        _findings_section(out, analysis.get("findings") or [], language)
    recommendations = [code for code in analysis.get("recommendations") or [] if code in RECOMMENDATION_TEXTS]
    if recommendations:
        out.heading(gettext(ADVICE_HEADING, language))
        for code in recommendations:
            out.paragraph("•  " + gettext(RECOMMENDATION_TEXTS[code], language))
    _quality_section(out, analysis, language)
    _review_section(out, data.review, data.time_zone, language)
    model_line = gettext(
        MODEL_LINE,
        language,
        model=analysis.get("model_version") or "?",
        rules=analysis.get("rules_version") or "?",
    )
    out.y -= 4.0
    out.paragraph(model_line, size=SMALL_PT + 0.5, color="#444444")
    return out.pages


def _urgency_section(out: _TextPages, analysis: dict[str, Any], language: Language) -> None:
    triage = str(analysis.get("triage", ""))
    out.heading(gettext(URGENCY_HEADING, language))
    out.paragraph(
        gettext(TRIAGE_TEXTS.get(triage, TRIAGE_TEXTS["not_interpretable"]), language),
        size=HEADING_PT,
        fontweight="bold",
        color=TRIAGE_COLORS.get(triage, "#000000"),
    )
    reason = analysis.get("reason")
    if reason:
        out.paragraph(gettext(REASON_TEXTS.get(reason, REASON_TEXTS["unreadable_ecg"]), language))


def _quality_section(out: _TextPages, analysis: dict[str, Any], language: Language) -> None:
    """What made the ECG harder to read (a noisy lead, glare on the photo), one note each; the
    refusal's reason is said under Urgency already."""
    problems = [
        code
        for code in (analysis.get("quality") or {}).get("problems") or []
        if code in QUALITY_TEXTS and code != analysis.get("reason")
    ]
    if not problems:
        return
    out.heading(gettext(QUALITY_HEADING, language))
    for code in problems:
        out.paragraph("•  " + gettext(QUALITY_TEXTS[code], language))


def _findings_section(out: _TextPages, findings: list[dict[str, Any]], language: Language) -> None:
    out.heading(gettext(FINDINGS_HEADING, language))
    for finding in findings:
        text = FINDING_TEXTS.get(finding["label"])
        label = gettext(text, language) if text else str(finding["label"])
        probability = format_percent(float(finding["probability"]), language)
        out.row(label, probability, value_x=PROBABILITY_X_MM, bullet=True)
    if findings:
        out.paragraph(gettext(FINDINGS_NOTE, language), size=SMALL_PT + 0.5, color="#444444")
    else:
        out.paragraph(gettext(NO_FINDINGS, language))


def _review_section(
    out: _TextPages, review: ClinicianReview | None, time_zone: str, language: Language
) -> None:
    out.heading(gettext(REVIEW_HEADING, language))
    if review is None or review.status is ReviewStatus.none:
        out.paragraph(gettext(NOT_REVIEWED, language))
        return
    template = CONFIRMED_BY if review.status is ReviewStatus.confirmed else CORRECTED_BY
    when = format_datetime(review.reviewed_at, language, time_zone)
    out.paragraph(gettext(template, language, clinician=review.clinician_name, time=when))
    if review.comment:
        out.paragraph(gettext(REVIEW_COMMENT, language, comment=review.comment))
