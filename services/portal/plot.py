"""The 12-lead ECG of a study as SVG, drawn on the server from the signal preview the API serves
(services.studies.service.signal_preview), on the paper layout of the PDF report: a 1 mm / 5 mm
grid, 25 mm/s, 10 mm/mV, 3 rows of 4 leads (2.5 s each) and a 10 s lead II rhythm strip.
Units are millimetres of paper. No script draws it, so the page needs none."""

from dataclasses import dataclass

import numpy as np

from ecg_ml import STANDARD_LEADS
from services.studies.report import (
    CALIBRATION_MM,
    COLUMN_S,
    GAIN_MM_MV,
    GRID_H,
    GRID_W,
    LAYOUT,
    MAJOR_COLOR,
    MINOR_COLOR,
    RHYTHM_LEAD,
    RHYTHM_S,
    ROW_PITCH_MM,
    SPEED_MM_S,
    TRACE_COLOR,
    display_signal,
)
from services.studies.service import signal_preview

HEAT_ROW_MM = 3.0
HEAT_COLOR = "#c62828"


@dataclass(frozen=True)
class LeadLabel:
    name: str
    x: float
    y: float


@dataclass(frozen=True)
class EcgPlot:
    width: float
    height: float
    traces: list[str]  # SVG path data; a gap where a lead was not recorded starts a new "M"
    labels: list[LeadLabel]
    calibrations: list[str]
    separators: list[str]


@dataclass(frozen=True)
class HeatCell:
    x: float
    y: float
    width: float
    opacity: float


@dataclass(frozen=True)
class HeatStrip:
    width: float
    height: float
    cells: list[HeatCell]
    labels: list[LeadLabel]
    row_height: float = HEAT_ROW_MM


def _path(samples: list[int | None], fs: float, x0: float, baseline: float) -> str:
    parts: list[str] = []
    pen_down = False
    for i, microvolts in enumerate(samples):
        if microvolts is None:
            pen_down = False
            continue
        x = x0 + i / fs * SPEED_MM_S
        y = baseline - microvolts / 1000 * GAIN_MM_MV
        parts.append(f"{'L' if pen_down else 'M'}{x:.2f} {y:.2f}")
        pen_down = True
    return "".join(parts)


def _calibration(baseline: float) -> str:
    """1 mV for 200 ms at the start of a row: the reader's check of gain and speed."""
    top = baseline - GAIN_MM_MV
    return f"M1 {baseline}H3V{top}H8V{baseline}H9.5"


def ecg_plot(signal: np.ndarray, fs: float) -> EcgPlot:
    """`signal`: [samples, 12] in mV (NaN where a lead was not recorded), at `fs` Hz."""
    preview = signal_preview(display_signal(signal, fs), fs)
    traces, labels, calibrations, separators = [], [], [], []
    for row, names in enumerate((*LAYOUT, (RHYTHM_LEAD,))):
        baseline = ROW_PITCH_MM * (row + 0.5)
        calibrations.append(_calibration(baseline))
        length_s = RHYTHM_S if len(names) == 1 else COLUMN_S
        for column, name in enumerate(names):
            start_s = column * length_s
            x0 = CALIBRATION_MM + start_s * SPEED_MM_S
            first = round(start_s * preview.fs)
            samples = preview.leads.get(name, [])[first : first + round(length_s * preview.fs)]
            traces.append(_path(samples, preview.fs, x0, baseline))
            labels.append(LeadLabel(name, x0 + 1.5, baseline - ROW_PITCH_MM / 2 + 4.5))
            if column > 0:  # where one lead gives way to the next
                separators.append(f"M{x0} {baseline - 3}V{baseline + 3}")
    return EcgPlot(GRID_W, GRID_H, [t for t in traces if t], labels, calibrations, separators)


def heat_strip(explanation: list[list[float]]) -> HeatStrip | None:
    """Where the model looked for one finding: per lead, 10 s in equal bins (0..1), on the same
    time axis as the rhythm strip above it."""
    if len(explanation) != len(STANDARD_LEADS) or not all(explanation):
        return None
    cells, labels = [], []
    for row, (name, bins) in enumerate(zip(STANDARD_LEADS, explanation, strict=True)):
        y = row * HEAT_ROW_MM
        labels.append(LeadLabel(name, 0.5, y + HEAT_ROW_MM * 0.8))
        width = RHYTHM_S * SPEED_MM_S / len(bins)
        for i, value in enumerate(bins):
            share = float(min(max(value, 0.0), 1.0))
            if share >= 0.02:  # near-empty cells are left out: a lighter page
                cells.append(HeatCell(CALIBRATION_MM + i * width, y, width, round(share, 2)))
    return HeatStrip(GRID_W, HEAT_ROW_MM * len(STANDARD_LEADS), cells, labels)


GRID_COLORS = {"minor": MINOR_COLOR, "major": MAJOR_COLOR, "trace": TRACE_COLOR, "heat": HEAT_COLOR}
