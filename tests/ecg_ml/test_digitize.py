"""ecg_ml.digitize on the committed rendered photos (tests/data/photos, made by
`python bench/ecg_photo_render.py --tests` from the PTB-XL records of tests/data/ptbxl): SNR floors
per level scored the 2024 PhysioNet Challenge's way, the reason codes of bad photos, the CLI, and
the hand-over to ecg_ml.analyze."""

import subprocess
import sys
import warnings
from dataclasses import replace
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.signal import find_peaks

from ecg_ml.analysis import analyze
from ecg_ml.digitize import RETAKE_HINTS, DigitizedECG, digitize_image, feedback
from ecg_ml.digitize.grid import Grid, _comb_period, dark_grid, normalise, profile_to_mm, x_to_mm
from ecg_ml.digitize.pipeline import (
    N_SAMPLES,
    beat_envelope,
    beat_lag,
    calibration_pulses,
    row_lags,
    runs_on,
    stroke_break_mm,
    trace_end,
    unpulsed_row,
)
from ecg_ml.digitize.trace import (
    Pulse,
    _drop_detours,
    _drop_far_lines,
    find_pulses,
    follow_row,
    in_one_column,
    pulse_gain_and_speed,
    pulse_speed,
    vertical_runs,
)
from ecg_ml.errors import UnreadablePhoto
from ecg_ml.measure import measure
from ecg_ml.record import STANDARD_LEADS, ECGRecord

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"
REAL_PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos_real"
REPO_ROOT = Path(__file__).resolve().parents[2]


def challenge_snr(output: np.ndarray, truth: np.ndarray) -> float:
    """Mean over printed leads of 10*log10(sum truth^2 / sum (output - truth)^2), NaN -> 0 on both
    sides, no alignment, no offset removal."""
    values = []
    for lead in range(truth.shape[1]):
        if not np.isfinite(truth[:, lead]).any():
            continue
        t = np.nan_to_num(truth[:, lead].astype(np.float64))
        o = np.nan_to_num(output[:, lead].astype(np.float64))
        values.append(10 * np.log10((t**2).sum() / ((o - t) ** 2).sum()))
    return float(np.mean(values))


@cache
def digitized(name: str) -> DigitizedECG:
    return digitize_image((PHOTOS / f"{name}.jpg").read_bytes())


def truth(name: str) -> np.ndarray:
    with np.load(PHOTOS / f"{name}.npz") as z:
        return z["truth"]


@pytest.mark.parametrize(
    ("name", "layout", "floor_db"),
    [
        ("scan_3x4_norm", "3x4+1", 12.5),
        ("scan_6x2_lvh", "6x2", 14.0),
        ("easy_3x4r3_sbrad", "3x4+3", 11.0),
        ("hard_3x4_imi", "3x4+1", 8.5),
    ],
)
def test_rendered_printouts_reach_their_snr_floor(name: str, layout: str, floor_db: float) -> None:
    result = digitized(name)
    assert result.layout == layout
    assert (result.paper_speed, result.gain) == (25.0, 10.0)
    assert challenge_snr(result.signal, truth(name)) >= floor_db


def test_a_shifted_or_offset_output_scores_lower() -> None:
    """The score punishes what the issue says it must: a few samples of shift, a baseline offset."""
    reference = truth("scan_3x4_norm")
    perfect = challenge_snr(np.nan_to_num(reference) + 1e-6, reference)
    assert challenge_snr(np.roll(reference, 3, axis=0), reference) < perfect - 20
    assert challenge_snr(reference + 0.1, reference) < perfect - 20


def test_digitized_ecg_fields() -> None:
    result = digitized("scan_3x4_norm")
    assert result.signal.shape == (5000, 12)
    assert result.signal.dtype == np.float32
    assert result.fs == 500.0
    assert result.leads == STANDARD_LEADS
    # 3 x 4 + rhythm strip: lead I only in the first 2.5 s, lead II (the strip) over all 10 s.
    lead_i, lead_ii = result.signal[:, 0], result.signal[:, 1]
    assert np.isfinite(lead_i[:1250]).all() and np.isnan(lead_i[1300:]).all()
    assert np.isfinite(lead_ii).all()
    assert 0.9 <= result.quality["score"] <= 1.0
    assert result.quality["leads_not_read"] == []
    assert {"decode", "paper", "traces"} <= set(result.timings)


def test_heart_rate_of_the_digitized_rhythm_strip_matches_the_record() -> None:
    true_ii = np.full((5000, 12), np.nan, dtype=np.float32)
    true_ii[:, 1] = truth("scan_3x4_norm")[:, 1]
    read_ii = np.full((5000, 12), np.nan, dtype=np.float32)
    read_ii[:, 1] = digitized("scan_3x4_norm").signal[:, 1]
    true_hr = measure(ECGRecord(signal=true_ii, fs=500.0)).heart_rate_bpm
    read_hr = measure(ECGRecord(signal=read_ii, fs=500.0)).heart_rate_bpm
    assert true_hr is not None and read_hr is not None
    assert abs(read_hr - true_hr) <= 2.0


@pytest.mark.parametrize(
    "reason",
    [
        feedback.TOO_DARK,
        feedback.TOO_BLURRY,
        feedback.PAPER_CUT_OFF,
        feedback.NO_GRID,
        feedback.NOT_AN_ECG,
        feedback.GLARE,
    ],
)
def test_bad_photos_are_refused_with_their_reason(reason: str) -> None:
    with pytest.raises(UnreadablePhoto) as refused:
        digitize_image((PHOTOS / f"bad_{reason}.jpg").read_bytes())
    assert refused.value.code == reason


def test_blank_paper_is_not_an_ecg() -> None:
    with pytest.raises(UnreadablePhoto) as refused:
        digitize_image((PHOTOS / "bad_blank_paper.jpg").read_bytes())
    assert refused.value.code == feedback.NOT_AN_ECG


def test_a_blank_sheet_of_dark_grid_paper_is_not_an_ecg() -> None:
    # Its lines pass for ink and are taken out of the ink view; nothing else is left (the search
    # for the lines' darkness once found no other ink to compare with and crashed).
    page = np.full((1700, 2200, 3), 255, np.uint8)
    for step, colour in ((200 / 25.4, (100, 107, 150)), (1000 / 25.4, (47, 50, 109))):  # BGR brown
        for at in np.arange(0, 2200, step):
            cv2.line(page, (round(at), 0), (round(at), 1699), colour, 1)
        for at in np.arange(0, 1700, step):
            cv2.line(page, (0, round(at)), (2199, round(at)), colour, 1)
    with pytest.raises(UnreadablePhoto) as refused:
        digitize_image(cv2.imencode(".png", page)[1].tobytes())
    assert refused.value.code == feedback.NOT_AN_ECG


@pytest.mark.parametrize(
    ("minor", "major", "in_ink"),
    [
        ((179, 0, 0), (102, 0, 0), True),  # BGR: ecg-image-kit's dark blue paper
        ((77, 204, 0), (0, 77, 0), True),  # its dark green
        ((219, 223, 254), (0, 0, 255), False),  # its red
        ((248, 237, 254), (221, 203, 255), False),  # its pink
    ],
)
def test_the_grid_is_measured_where_its_major_lines_stand_out(
    minor: tuple[int, int, int], major: tuple[int, int, int], in_ink: bool
) -> None:
    """Dark blue and dark green papers' 1 mm and 5 mm lines are all black in the darkest channel
    (the line view) and differ only in the brightest (the ink view): the grid is measured in the
    ink view there (line slips read rows 1-2 mm out of step). Light papers keep the line view:
    their lines leave the ink view blank."""
    page = np.full((1700, 2200, 3), 255, np.uint8)
    for step, colour in ((200 / 25.4, minor), (1000 / 25.4, major)):
        for at in np.arange(0, 2200, step):
            cv2.line(page, (round(at), 0), (round(at), 1699), colour, 2)
        for at in np.arange(0, 1700, step):
            cv2.line(page, (0, round(at)), (2199, round(at)), colour, 2)
    views = normalise(cv2.GaussianBlur(page, (0, 0), 2.0))  # a photo's blur: lines under the ink threshold
    assert (views.lines is views.ink) == in_ink


@pytest.mark.parametrize("data", [b"", b"not an image at all", (REPO_ROOT / "pyproject.toml").read_bytes()])
def test_bytes_that_are_no_image(data: bytes) -> None:
    with pytest.raises(UnreadablePhoto) as refused:
        digitize_image(data)
    assert refused.value.code == feedback.NOT_AN_IMAGE


@pytest.mark.parametrize("width", [30, 600], ids=["a thumbnail", "a page at 2 px per mm"])
def test_a_page_too_small_in_the_photo_is_refused_not_read(width: int) -> None:
    """The committed scan shrunk to `width` px: at 600 px (2 px per mm of paper) it read at 2 dB,
    at 400 px at -3 dB (worse than an all-zero answer), returned as a signal. Now too_small, with
    a hint to come closer."""
    page = cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg"))
    height = round(width * page.shape[0] / page.shape[1])
    small = cv2.resize(page, (width, height), interpolation=cv2.INTER_AREA)
    with pytest.raises(UnreadablePhoto) as refused:
        digitize_image(cv2.imencode(".png", small)[1].tobytes())
    assert refused.value.code == feedback.TOO_SMALL


def test_a_page_at_2_7_px_per_mm_is_still_read() -> None:
    page = cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg"))
    small = cv2.resize(page, (800, round(800 * page.shape[0] / page.shape[1])), interpolation=cv2.INTER_AREA)
    result = digitize_image(cv2.imencode(".png", small)[1].tobytes())
    assert challenge_snr(result.signal, truth("scan_3x4_norm")) > 7


def test_every_reason_code_has_a_retake_hint() -> None:
    codes = {value for name, value in vars(feedback).items() if name.isupper() and isinstance(value, str)}
    assert codes == set(RETAKE_HINTS)
    assert all(hint.strip() for hint in RETAKE_HINTS.values())


def test_cli_writes_the_signal(tmp_path: Path) -> None:
    out = tmp_path / "signal.npz"
    run = subprocess.run(
        [sys.executable, "-m", "ecg_ml", "digitize", str(PHOTOS / "scan_3x4_norm.jpg"), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    with np.load(out) as z:
        assert z["signal"].shape == (5000, 12)
        assert float(z["fs"]) == 500.0
        assert tuple(z["leads"]) == STANDARD_LEADS


def test_cli_fails_with_the_reason_code(tmp_path: Path) -> None:
    out = tmp_path / "signal.npz"
    run = subprocess.run(
        [sys.executable, "-m", "ecg_ml", "digitize", str(PHOTOS / "bad_too_dark.jpg"), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert run.returncode != 0
    assert run.stderr.strip() == feedback.TOO_DARK
    assert not out.exists()


def test_digitized_signal_feeds_analyze() -> None:
    reading = analyze(ECGRecord(signal=digitized("scan_3x4_norm").signal, fs=500.0))
    assert reading.interpretable, reading.reason
    assert reading.measurements is not None


def test_a_small_photo_is_enlarged_to_the_working_scale() -> None:
    """A scan at half its size (about 4 px/mm, as many phone photos are) reads nearly as well."""
    page = cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg"))
    size = (1200, round(page.shape[0] * 1200 / page.shape[1]))
    small = cv2.resize(page, size, interpolation=cv2.INTER_AREA)
    result = digitize_image(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes())
    assert result.layout == "3x4+1"
    assert min(result.quality["px_per_mm"]) > 7.5
    assert challenge_snr(result.signal, truth("scan_3x4_norm")) >= 12.0


@pytest.mark.parametrize("rows", [slice(250, 500), slice(640, 800)], ids=["first row", "second row"])
def test_a_row_whose_pulse_is_missing_is_read_with_its_neighbours(rows: slice) -> None:
    """One row's pulse covered (cut off by the photo's edge, or not found): the row is read with
    the nearest row's pulse moved to it, every lead in its place (reading the rows as if there
    were three would score far lower), and the page says so."""
    page = cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg"))
    page[rows, 60:200] = 255  # the pulse and its stubs; the trace starts at x = 208
    result = digitize_image(cv2.imencode(".png", page)[1].tobytes())
    assert result.layout == "3x4+1"
    assert "calibration_pulse_missing" in result.quality["problems"]
    assert challenge_snr(result.signal, truth("scan_3x4_norm")) > 12.5


def test_two_rows_without_their_pulses_are_read_on_the_rows_of_traces() -> None:
    """Two pulses covered: the rows are found from the traces themselves, the two rows with their
    pulses keep them and the other two take the nearest one's, every lead in its place."""
    page = cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg"))
    page[250:500, 60:215] = 255
    page[1380:1620, 60:215] = 255
    result = digitize_image(cv2.imencode(".png", page)[1].tobytes())
    assert result.layout == "3x4+1"
    assert "calibration_pulse_missing" in result.quality["problems"]
    assert challenge_snr(result.signal, truth("scan_3x4_norm")) > 11.5


def test_a_page_without_pulses_is_read_at_the_common_settings_from_the_traces_first_ink() -> None:
    """Every pulse covered: read at 10 mm/mV and 25 mm/s (what this page prints), each row's time
    0 at its trace's first ink, and the page says its pulses are missing."""
    page = cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg"))
    page[:, 60:205] = 255  # the pulses and their stubs; the traces start at x = 208
    result = digitize_image(cv2.imencode(".png", page)[1].tobytes())
    assert (result.layout, result.paper_speed, result.gain) == ("3x4+1", 25.0, 10.0)
    assert "calibration_pulse_missing" in result.quality["problems"]
    assert challenge_snr(result.signal, truth("scan_3x4_norm")) > 8.0


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (np.s_[:, 400:], feedback.PAPER_CUT_OFF),  # the photo's left edge through the rows' first column
        (np.s_[:, :2000], feedback.PAPER_CUT_OFF),  # its right edge through the last column
    ],
    ids=["left", "right"],
)
def test_a_page_cut_through_its_rows_is_refused_not_read_at_a_wrong_time(cut: tuple, reason: str) -> None:
    """Without its pulses (or its rows' ends) a row's first ink is not time 0: reading it would
    put every beat at the wrong moment. A fake pulse (a QRS complex at the cut) must not pass."""
    page = cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg"))[cut].copy()
    with pytest.raises(UnreadablePhoto) as refused:
        digitize_image(cv2.imencode(".png", page)[1].tobytes())
    assert refused.value.code == reason


def test_rows_shorter_than_10_s_without_pulses_are_refused() -> None:
    """The pulses and the rows' first 24 mm blanked (a page folded under): the rows run 226 mm,
    not the 250 mm of 10 s at 25 mm/s, so where time 0 lies is unknown."""
    page = cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg"))
    page[:, 60:400] = 255
    with pytest.raises(UnreadablePhoto) as refused:
        digitize_image(cv2.imencode(".png", page)[1].tobytes())
    assert refused.value.code == feedback.LAYOUT_NOT_RECOGNIZED


def test_paper_speed_from_the_pulse_width() -> None:
    assert pulse_speed(5.0) == 25.0
    assert pulse_speed(3.6) == 25.0  # a cart that trims its pulse to about 0.14 s
    assert pulse_speed(2.5) == 12.5
    assert pulse_speed(10.0) == 50.0
    assert pulse_speed(20.0) is None


@pytest.mark.parametrize(
    "seen",
    [
        [[60, 170], [2330, 40], [2330, 1670], [60, 1590]],
        [[60, 40], [2330, 170], [2330, 1590], [60, 1670]],
        [[20, 120], [2360, 120], [2260, 1620], [120, 1620]],
    ],
    ids=["right side far", "left side far", "top far"],
)
def test_a_slanted_photo_filling_the_frame_is_untilted_by_its_grid(seen: list[list[int]]) -> None:
    """The scan as a phone sees it at a slant, the paper filling the frame: no page edge to
    flatten it by. The grid's pitch, about 15 % finer on the far side, gives the slant away, and
    undone the page reads nearly as the scan does (flattened by nothing: -2.4 to 7.1 dB, the rows'
    time axes running long on the far side)."""
    page = cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg"))
    frame = np.float32([[0, 0], [2000, 0], [2000, 1400], [0, 1400]])
    photo = cv2.warpPerspective(page, cv2.getPerspectiveTransform(np.float32(seen), frame), (2000, 1400))
    result = digitize_image(cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    assert result.layout == "3x4+1"
    assert challenge_snr(result.signal, truth("scan_3x4_norm")) >= 11.5


def test_a_detour_onto_the_next_row_is_dropped() -> None:
    """Where the own trace fades for a column or two, the row follower has to take some run, the
    row above's 300 px away: those columns are forgotten, not read as a 4 mV spike. A tall R wave's
    tip reached across its faded middle, on its own row's side, is kept; so is a steep stroke
    whose columns overlap."""
    tops = np.array([1105.0, 1105, 807, 809, 1101, 1099, 990, 1097, 1000, 900, 1000, 1095])
    bottoms = tops + 2
    bottoms[8:10] = [1097.0, 1000.0]
    _drop_detours(tops, bottoms, baseline=1100.0, other_baselines=[800.0], far=70.0, longest=3)
    assert np.isnan(tops[2:4]).all() and np.isnan(bottoms[2:4]).all()
    assert np.isfinite(np.delete(tops, [2, 3])).all()


def test_a_row_whose_trace_fades_for_a_column_twice_stays_on_its_own_trace() -> None:
    """The own trace gone for one column at x=100 and at x=160, where the row above's trace runs
    within reach: the follower had to take that run in each, and between the two holes staying on
    the row above cost less than jumping back and up again (ecg00049: 0.8 s of the rhythm strip
    read from the row above). It steps over the holes and stays on its own trace."""
    ink = np.zeros((400, 300), np.float32)
    ink[299:302] = 1.0  # the own trace, baseline 300
    ink[299:302, [100, 160]] = 0.0
    ink[165:168] = 1.0  # the row above's trace, dipping towards this row
    trace = follow_row(vertical_runs(ink > 0.42), ink, 300.0, [150.0], 0, 300, 142.0, 3.0, 0.42)
    assert trace.followed.sum() >= 298
    assert np.abs(trace.point_y - 300).max() < 2


def test_a_leads_printed_name_taken_at_its_start_is_forgotten() -> None:
    """The row changes leads at x 100; the next lead's trace is cut for its first 18 columns (a
    dark grid's lines cleared with it), and its printed name lies 25 px under the baseline there:
    the only ink in those columns, the path has to take it. Read, it made -0.4 to -0.7 mV dips at
    kit-style leads' starts; forgotten, the lead is read from its trace."""
    ink = np.zeros((400, 300), np.float32)
    ink[149:152] = 1.0  # the trace, baseline 150
    ink[149:152, 100:118] = 0.0
    ink[173:181, 100:117:3] = 1.0  # the name's strokes
    ink[173:175, 100:117] = 1.0
    trace = follow_row(
        vertical_runs(ink > 0.42), ink, 150.0, [400.0], 0, 300, 125.0, 3.0, 0.42, lead_changes=(100.0,)
    )
    assert np.abs(trace.point_y - 150).max() < 3


def test_a_narrow_spike_is_read_to_its_tip_past_a_grid_line_between_its_legs() -> None:
    """An R wave 2 px wide between its legs, a dark grid's line crossing it 20 px above the
    baseline: in the tip's columns the line's short run sits between the legs, nearer the baseline
    than the tip's. Taken for the trace there, R waves were cut to a third (a kit-style dark green
    page). A stroke goes on from one of its run's ends, and the tip is read."""
    ink = np.zeros((200, 120), np.float32)
    ink[99:102] = 1.0  # the baseline, 100
    ink[99:102, 51:54] = 0.0  # the trace is the spike there
    ink[40:101, 50] = 1.0  # the upstroke
    ink[38:60, 51:54] = 1.0  # the tip, between the legs
    ink[45:101, 54] = 1.0  # the downstroke
    ink[80, 51:54] = 1.0  # the grid line's piece between the legs
    trace = follow_row(vertical_runs(ink > 0.42), ink, 100.0, [], 0, 120, 90.0, 1.0, 0.42)
    assert trace.point_y.min() < 42
    in_tip = np.isin(trace.point_column, [51, 52, 53])
    assert in_tip.any() and trace.point_y[in_tip].max() < 62


def test_a_level_line_far_from_the_baseline_is_bridged_not_read() -> None:
    """Where a faint trace was cleared with the dark grid line it lay on, the row follower hopped
    over specks to a grid line 12 mm below and ran along it (a dark blue page's V4 read at -1.6 mV
    between beats). That level stretch is forgotten and bridged; a QRS whose strokes reach as far
    is kept, and so is the trace where its baseline wanders as far, reached by its own stroke."""
    tops = np.full(60, 100.0)
    tops[10:30] = 196.0  # the grid line, 96 px below the baseline, hopped to and from
    tops[12] = 235.0  # its line's neighbour taken for a column
    tops[40:44] = [40.0, 20.0, 20.0, 40.0]  # a tall R wave, its strokes from the baseline up
    bottoms = tops + 2
    bottoms[40:44] = [100.0, 40.0, 40.0, 100.0]
    _drop_far_lines(tops, bottoms, baseline=100.0, far=65.0, shortest=13)
    assert np.isnan(tops[10:30]).all()
    assert np.isfinite(np.delete(tops, range(10, 30))).all()
    wander = np.concatenate([np.full(10, 100.0), np.linspace(100, 180, 20), np.full(30, 180.0)])
    tops, bottoms = wander.copy(), wander + 2
    tops[49], bottoms[49] = 100.0, 102.0
    _drop_far_lines(tops, bottoms, baseline=100.0, far=65.0, shortest=13)
    assert np.isfinite(tops).all()


def test_pulses_leaving_a_gap_where_rows_must_lie_are_looked_for_further() -> None:
    """Six rows, the pulses and traces of the second and third in fainter ink (the traces of a 6x2
    page at 20 mm/mV crossing them): the first looks find four pulses, a number of rows 3x4+1 has,
    with a gap of three rows between the first two. Taken so, every lead was read in the wrong
    place (0.6 dB); the fainter ink's look finds all six."""
    ink = np.zeros((1500, 700), np.float32)
    for row in range(6):
        base, level = 200 + 220 * row, 0.36 if row in (1, 2) else 1.0
        ink[base - 81 : base + 2, 99:102] = level  # rising edge, 10 mm
        ink[base - 81 : base - 78, 99:142] = level  # top stroke, 5 mm
        ink[base - 81 : base + 2, 139:142] = level  # falling edge, the trace running on
        ink[base - 1 : base + 2, 139:650] = level
    mask = ink > 0.42
    pulses, inferred = calibration_pulses(mask, ink, vertical_runs(mask), Grid(8.0, 8.0, 50.0), 3.0)
    assert [round(p.y_base) for p in pulses] == [200 + 220 * row for row in range(6)]
    assert not inferred


def test_an_inferred_pulse_stands_on_its_own_top_stroke() -> None:
    """Four rows; the third row's pulse edges lie on a dark grid's lines and were cleared with
    them, its top stroke left. The row's pulse is inferred from its trace, whose flat stretches a
    record's offset lifts 8 px (1 mm) above the pulse's foot: placed by them, the row read 0.1 mV
    low (a kit-style dark blue page, 0.5 dB for III and aVF). The top stroke places it."""
    ink = np.zeros((1200, 700), np.float32)
    for row in range(4):
        base = 200 + 250 * row
        if row != 2:
            ink[base - 81 : base + 2, 99:102] = 1.0
            ink[base - 81 : base + 2, 139:142] = 1.0
        ink[base - 81 : base - 78, 99:142] = 1.0
        for x in range(150, 650):  # the trace, flat 1 mm above the foot, a wave every 60 px
            phase = (x - 150) % 60
            lift = 0 if phase < 25 else round(12 - abs(phase - 42.5) * 12 / 17.5)
            ink[base - 9 - lift : base - 6 - lift, x] = 1.0
    mask = ink > 0.42
    pulses, inferred = calibration_pulses(mask, ink, vertical_runs(mask), Grid(8.0, 8.0, 50.0), 3.0)
    assert inferred and len(pulses) == 4
    assert pulses[2].inferred
    drawn = pulses[1]  # the row above's, 250 px higher
    assert abs(pulses[2].y_top - (drawn.y_top + 250)) <= 1
    assert abs(pulses[2].y_base - (drawn.y_base + 250)) <= 1


def test_a_lead_starting_at_its_r_wave_is_read_from_its_tip_not_its_name() -> None:
    """Where the row changes leads the next lead's trace starts afresh at its own first value, here
    the top of an R wave 80 px above the baseline, its printed name 25 px below. Held to the last
    lead's end, the follower went down into the name (ecg-image-kit pages, whose columns are drawn
    apart); a jump at the lead change is free, and the R wave is read."""
    ink = np.zeros((200, 200), np.float32)
    ink[99:102, :100] = 1.0  # the first lead, flat on the baseline
    ink[19:22, 100:105] = 1.0  # the second lead's first samples, at its R wave's tip
    ink[19:101, 105] = 1.0  # its downstroke
    ink[99:102, 106:200] = 1.0
    ink[125:141, 100:116] = 1.0  # its printed name
    trace = follow_row(vertical_runs(ink > 0.42), ink, 100.0, [], 0, 200, 90.0, 1.0, 0.42, (100.0,))
    at_change = np.isin(trace.point_column, range(100, 105))
    assert at_change.any() and trace.point_y[at_change].max() < 30
    assert trace.point_y.max() < 110


def test_a_flat_trace_lying_along_a_dark_grid_line_is_not_cleared_with_it() -> None:
    """A dark grid passing for ink, its major lines 0.75 dark and its 1 mm lines 0.45: ink on the
    lines no darker than the darkest lines is cleared. A flat stretch of trace (0.8) lying along a
    1 mm line went with it (a kit-style dark green scan, the trace after each QRS on its
    baseline's line: 4.7 dB). Darker than its own line by far, it is kept between the lines
    crossing it; the line is not."""
    ink = np.zeros((800, 1600), np.float32)
    for k in range(0, 800, 8):
        ink[k] = 0.75 if k % 40 == 0 else 0.45
    for k in range(0, 1600, 8):
        ink[:, k] = 0.75 if k % 40 == 0 else 0.45
    ink[208, 400:480] = 0.78  # the flat trace, along a 1 mm line
    for x in range(600, 700):  # a stroke off the lines
        ink[300 + (x - 600) // 2 + 3, x] = 0.95
    level, on_lines = dark_grid(ink)
    assert on_lines is not None and level >= 0.78  # the darkest lines' level: as dark as the trace
    cleared = on_lines[208, 400:480] & (ink[208, 400:480] <= level)
    # Kept between the vertical 1 mm lines; their widened 5 px of every 8 stay cleared, and the row
    # follower bridges such gaps. Before, all of it was cleared.
    assert cleared.mean() < 0.7
    assert on_lines[208, 1000:1100].all() and on_lines[40, 400:480].all()


def pulse_drawn(fall: int) -> np.ndarray:
    """Ink of a 1 mV pulse 80 px tall, its 3 px strokes at x = 100 and x = `fall`, the trace
    running on from its falling edge."""
    ink = np.zeros((500, 1000), np.float32)
    ink[200:281, 99:102] = 1.0
    ink[199:202, 99 : fall + 2] = 1.0
    ink[200:281, fall - 1 : fall + 2] = 1.0
    ink[279:282, fall - 1 : 400] = 1.0
    return ink


def pulse_edges(ink: np.ndarray, width: float) -> tuple[float, float]:
    mask = ink > 0.42
    pulses = find_pulses(mask, ink, vertical_runs(mask), Grid(8.0, 8.0, 50.0), width, fall_runs_on=True)
    assert len(pulses) == 1
    return pulses[0].x_rise, pulses[0].x_fall


def test_a_qrs_leaving_the_pulse_does_not_move_its_falling_edge() -> None:
    """The trace runs on from the pulse's falling edge straight into a QRS whose upstroke stands
    5 px on, inside the window the edge's centre is weighed in: it pulled the edge (time 0) 2.5 px
    late (a kit-style red photo: every lead 6 samples early, 2.6 dB). Each edge is the stroke met
    first from the pulse's blank inside."""
    ink = pulse_drawn(140)
    ink[180:281, 144:147] = 1.0  # the QRS: its upstroke at x = 145, its downstroke at 149
    ink[180:300, 148:151] = 1.0
    rise, fall = pulse_edges(ink, 3.0)
    assert abs(rise - 100) < 0.5 and abs(fall - 140) < 0.5


def test_a_narrow_pulse_in_a_blurred_photo_keeps_its_two_edges_apart() -> None:
    """Strokes 25 px apart and a line width measured at 12 px (ecg00049, blurred): each edge's
    window reaches the other stroke; the stroke met first from the pulse's inside there was the
    other edge (the pulse read 2 px wide, the page at 5 mm/mV). Each edge is looked for on its own
    side of the pulse's middle."""
    ink = pulse_drawn(125)
    ink[279:282, 20:100] = 1.0  # the stub before the pulse
    rise, fall = pulse_edges(ink, 12.0)
    assert abs(rise - 100) < 0.5 and abs(fall - 125) < 0.5


def test_a_row_is_inferred_on_a_trace_not_on_a_grid_line() -> None:
    """Rows at 400 and 700 with their pulses. A dark green grid's line passing for ink over most
    of the page one spacing above them was taken for a row without a pulse (every lead then read
    a row off, -3.7 dB); a trace one spacing below them still is one."""
    mask = np.zeros((1200, 1500), bool)
    pulses = [Pulse(20.0, 60.0, y, y - 80.0, 70.0) for y in (400.0, 700.0)]
    for y in (400, 700):
        mask[y - 1 : y + 2, 80:] = True
    mask[100, 80:1350] = True  # the grid line: one pixel row over most of the page
    mask[101, 80:1500:2] = True  # and its dotted fringe
    assert unpulsed_row(mask, pulses, Grid(8.0, 8.0, 50.0)) is None
    for x in range(80, 1500):  # a trace wandering a few px about 1000, a QRS every 100 px
        y = 1000 + round(4 * np.sin(x / 80))
        mask[y - 1 : y + 2, x] = True
        if x % 100 < 3:
            mask[930:y, x] = True
    assert abs(unpulsed_row(mask, pulses, Grid(8.0, 8.0, 50.0)) - 1000) <= 5


def test_no_row_is_inferred_on_blank_paper_whose_lines_pass_for_ink_in_dashes() -> None:
    """Rows at 400 and 700 with their pulses. One spacing above them, blank paper whose 5 mm
    lines pass for ink in dashes (each pixel row of a line inked over a third of the width) and
    whose 1 mm lines leave specks everywhere: together they cover the band's columns as a trace
    would. Read as a row without a pulse, a kit-style dark green photo's blank top third made a
    3x4+2 page of it, every lead a row off (-0.3 dB)."""
    rng = np.random.default_rng(3)
    mask = np.zeros((1200, 1500), bool)
    pulses = [Pulse(20.0, 60.0, y, y - 80.0, 70.0) for y in (400.0, 700.0)]
    for y in (400, 700):
        mask[y - 1 : y + 2, 80:] = True
    for y in range(20, 200, 40):  # the 5 mm lines, dashed
        mask[y, 80:] = rng.random(1420) < 0.4
    mask[20:200, 80:] |= rng.random((180, 1420)) < 0.01  # the 1 mm lines' specks
    assert unpulsed_row(mask, pulses, Grid(8.0, 8.0, 50.0)) is None


@pytest.mark.parametrize(
    ("name", "hand_bpm"),
    [
        ("ecg00029.jpg", 72),
        ("ecg00031.jpg", 83),
        ("ecg00032.jpg", 106),
        ("ecg00037.jpg", 50),
        ("ecg00040.jpg", 145),
        ("ecg00043.jpg", 92),
        ("ecg00044.jpg", 96),
    ],
)
def test_real_phone_photos_are_read(name: str, hand_bpm: float) -> None:
    """Real phone photos of paper ECGs (ecg-image-kit samples, no true signal): every lead read,
    25 mm/s and 10 mm/mV as printed, and the rhythm strip's rate within 3 bpm of the rate
    counted by hand on the photo (R-R intervals over the strip). ecg00031 prints no pulses: read
    at those settings from its traces alone."""
    result = digitize_image((REAL_PHOTOS / name).read_bytes())
    assert result.layout == "3x4+1"
    assert (result.paper_speed, result.gain) == (25.0, 10.0)
    assert not result.quality["leads_not_read"]
    only_ii = np.full_like(result.signal, np.nan)
    only_ii[:, 1] = result.signal[:, 1]
    rate = measure(ECGRecord(signal=only_ii, fs=500.0)).heart_rate_bpm
    assert rate is not None and abs(rate - hand_bpm) <= 3


def test_a_slanted_real_photo_puts_its_ectopic_beats_where_the_photo_shows_them() -> None:
    """ecg00043, photographed at a slant with the paper filling the frame (flattened by its grid):
    an ectopic beat every third beat, one ectopic to the next 216-218 px on the photo where its
    own 5 mm lines lie 21.9-22.1 px apart, 1.96-1.99 s. The large ectopic beats are unmistakable;
    the small beats between them (0.1-0.2 mV) are not asserted."""
    result = digitize_image((REAL_PHOTOS / "ecg00043.jpg").read_bytes())
    assert result.layout == "3x4+1"
    assert not result.quality["leads_not_read"]
    ectopic, _ = find_peaks(np.nan_to_num(result.signal[:, 1]), height=0.6, distance=result.fs)
    assert len(ectopic) >= 4
    assert abs(float(np.median(np.diff(ectopic))) / result.fs - 1.965) <= 0.035


def test_a_ge_page_prints_its_strips_v1_ii_v5_and_is_read_so() -> None:
    """ecg00006 (a GE cart's page: 3x4 and three strips labelled V1, II, V5, not the II, V1, V5
    most carts print): the strips are named from the lead names printed on the page, found by
    matching each strip's name against row 2's (II). Lead II then comes from the middle strip:
    its rate within 3 bpm of the 93-95 counted by hand (R-R 0.64-0.65 s)."""
    result = digitize_image((REAL_PHOTOS / "ecg00006.png").read_bytes())
    assert result.layout == "3x4+3"
    assert result.quality["rhythm_strips"] == ["V1", "II", "V5"]
    only_ii = np.full_like(result.signal, np.nan)
    only_ii[:, 1] = result.signal[:, 1]
    rate = measure(ECGRecord(signal=only_ii, fs=500.0)).heart_rate_bpm
    assert rate is not None and abs(rate - 94) <= 3


def test_a_page_printing_its_strips_ii_v1_v5_keeps_that_order() -> None:
    """The rendered 3x4+3 page prints II, V1, V5: read so, the strip named II matching row 2's."""
    assert digitized("easy_3x4r3_sbrad").quality["rhythm_strips"] == ["II", "V1", "V5"]


@pytest.mark.parametrize(
    ("lead", "label"),
    [("V1", np.s_[320:352, 1220:1260]), ("V5", np.s_[683:715, 1718:1764])],
)
def test_a_single_strip_printed_as_another_lead_is_named_from_its_label(lead: str, label: tuple) -> None:
    """The committed scan with its strip's printed name "II" replaced by the page's own "V1" (row 1,
    third column) or "V5" (row 2, fourth): the strip is that lead over 10 s, and lead II is left
    to its 2.5 s column (the strip's trace is lead II's, so only the names tell them apart)."""
    page = cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg"))
    name = page[label].copy()
    page[1392:1428, 214:240] = 255  # the strip's "II"
    page[1394 : 1394 + name.shape[0], 218 : 218 + name.shape[1]] = name
    result = digitize_image(cv2.imencode(".png", page)[1].tobytes())
    assert result.quality["rhythm_strips"] == [lead]
    assert np.isfinite(result.signal[:, STANDARD_LEADS.index(lead)]).all()
    assert np.isnan(result.signal[1300:, 1]).all()


def two_strip_photo(monkeypatch: pytest.MonkeyPatch, strips: tuple[str, str]) -> tuple[bytes, np.ndarray]:
    """Record 00001 printed by bench/ecg_photo_render.py as 3x4 with two rhythm strips (`strips`),
    photographed (easy level, seed 1), JPEG bytes with its truth."""
    sys.path.insert(0, str(REPO_ROOT / "bench"))  # the renderers are bench scripts, not a package
    import ecg_photo_render as render  # noqa: PLC0415

    monkeypatch.setitem(render.STRIPS, "3x4+2", strips)
    signal = render._wfdb_signal(1)
    settings = render.PrintSettings(layout="3x4+2", grid="pink")
    page, page_truth = render.render_page(signal, settings), render.truth_of(signal, settings)
    photo = render.photograph(page, "easy", np.random.default_rng(1))
    return cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes(), page_truth


def test_a_page_with_two_rhythm_strips_is_read_with_both(monkeypatch: pytest.MonkeyPatch) -> None:
    """3x4 and two 10 s strips (V1 and II, as ecg00004 prints them): five rows, read as 3x4+2, each
    strip its lead over the 10 s (refused as "5 calibration pulses" before)."""
    data, page_truth = two_strip_photo(monkeypatch, ("V1", "II"))
    result = digitize_image(data)
    assert result.layout == "3x4+2"
    assert result.quality["rhythm_strips"] == ["V1", "II"]
    assert np.isfinite(result.signal[:, [STANDARD_LEADS.index("V1"), 1]]).all()
    assert challenge_snr(result.signal, page_truth) >= 11.0
    assert min(result.quality["printed_twice_agreement_db"]) >= 8.0


def test_two_strips_are_named_from_their_printed_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page whose strips print II and V5 (not the usual V1, II): named from the labels printed at
    their starts, matched against row 2's (II) and the fourth column's (V5)."""
    data, page_truth = two_strip_photo(monkeypatch, ("II", "V5"))
    result = digitize_image(data)
    assert result.quality["rhythm_strips"] == ["II", "V5"]
    assert challenge_snr(result.signal, page_truth) >= 11.0


@pytest.mark.parametrize(
    ("turn", "back"),
    [(cv2.ROTATE_90_CLOCKWISE, 270), (cv2.ROTATE_180, 180), (cv2.ROTATE_90_COUNTERCLOCKWISE, 90)],
    ids=["on its right side", "upside down", "on its left side"],
)
def test_a_page_photographed_turned_is_read_the_right_way_up(turn: int, back: int) -> None:
    """A page photographed on its side or upside down (no EXIF orientation to say so) is refused
    as it lies; it is read again turned, as well as upright, and says by how much it turned."""
    page = cv2.rotate(cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg")), turn)
    result = digitize_image(cv2.imencode(".png", page)[1].tobytes())
    assert result.quality["turned_deg"] == back
    assert result.layout == "3x4+1"
    assert challenge_snr(result.signal, truth("scan_3x4_norm")) >= 12.5


@pytest.mark.parametrize(
    "name", ["ecg00031.jpg", "ecg00035.jpg"], ids=["pulses not printed", "pulses at the rows' right ends"]
)
def test_an_upside_down_photo_of_a_page_read_without_its_pulses_is_not_read_backwards(name: str) -> None:
    """Pages read without pulses at the rows' starts, upside down: nothing in the layout refuses
    them, and each lead would be read backwards and inverted. Their pulses hanging from the
    baselines (ecg00035's at the rows' starts; ecg00031's cut strip pulse at its end, with the
    QRS complexes pointing the wrong way in most leads) turn them the right way up."""
    photo = cv2.rotate(cv2.imread(str(REAL_PHOTOS / name)), cv2.ROTATE_180)
    result = digitize_image(cv2.imencode(".png", photo)[1].tobytes())
    assert result.quality["turned_deg"] == 180
    upright = digitize_image((REAL_PHOTOS / name).read_bytes())
    assert upright.quality["turned_deg"] == 0
    lead_i = np.isfinite(result.signal[:, 0]) & np.isfinite(upright.signal[:, 0])
    assert np.corrcoef(result.signal[lead_i, 0], upright.signal[lead_i, 0])[0, 1] > 0.9


def test_an_upside_down_page_without_any_pulse_is_turned_by_its_qrs_complexes() -> None:
    """The committed scan with every pulse covered, upside down: no pulse hangs anywhere to show
    it, and the page reads either way up at the common settings. Read upright its QRS complexes
    point the usual way (up in I, II, V5, V6, down in aVR); upside down they do not."""
    page = cv2.imread(str(PHOTOS / "scan_3x4_norm.jpg"))
    page[:, 60:205] = 255  # the pulses and their stubs, as in the test of a page without pulses
    result = digitize_image(cv2.imencode(".png", cv2.rotate(page, cv2.ROTATE_180))[1].tobytes())
    assert result.quality["turned_deg"] == 180
    assert challenge_snr(result.signal, truth("scan_3x4_norm")) > 8.0


def test_pulses_drifting_sideways_on_a_real_photo_are_all_found() -> None:
    """ecg00040 (a page photographed at an angle): each row's pulse sits right of the one above.
    All four are one column of pulses, none inferred (only the middle two were taken before, and
    the page refused)."""
    result = digitize_image((REAL_PHOTOS / "ecg00040.jpg").read_bytes())
    assert result.layout == "3x4+1"
    assert (result.paper_speed, result.gain) == (25.0, 10.0)
    assert not result.quality["leads_not_read"]
    assert "calibration_pulse_missing" not in result.quality["problems"]


def test_cli_writes_an_overlay_of_the_trace_read(tmp_path: Path) -> None:
    out, overlay = tmp_path / "signal.npz", tmp_path / "overlay.png"
    command = ["digitize", str(REAL_PHOTOS / "ecg00029.jpg"), "-o", str(out), "--overlay", str(overlay)]
    run = subprocess.run(
        [sys.executable, "-m", "ecg_ml", *command],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    drawn = cv2.imread(str(overlay))
    green = (drawn[..., 1] > 150) & (drawn[..., 0] < 60) & (drawn[..., 2] < 60)
    assert green.sum() > 10_000  # the trace points of twelve leads


def test_rows_read_out_of_step_are_timed_again_on_their_beats() -> None:
    # ecg00044: the rhythm strip starts further from its pulse than the cart's other rows, and its
    # first ink was taken for time 0: its beats fell 40 ms before the same beats of lead II's
    # column. The two readings of lead II agreed at -1.3 dB; put back in step, at 5 dB.
    result = digitize_image((REAL_PHOTOS / "ecg00044.jpg").read_bytes())
    assert "rows_out_of_step" in result.quality["problems"]
    assert result.quality["printed_twice_agreement_db"][0] >= 4.0


def test_the_lag_between_two_rows_is_read_from_their_beats() -> None:
    beats = np.zeros(N_SAMPLES)
    beats[np.arange(300, N_SAMPLES - 100, 420)] = 1.0  # R waves, 71 bpm
    qrs = np.convolve(beats, np.hanning(40), mode="same")
    early = beat_envelope([("II", 0, N_SAMPLES, qrs.astype(np.float32))])
    late = beat_envelope([("V1", 0, N_SAMPLES, np.roll(qrs, 30).astype(np.float32))])
    lag, alike = beat_lag(late, early) or (None, 0.0)
    assert lag == 30 and alike > 0.99
    assert beat_lag(late, np.full(N_SAMPLES, np.nan)) is None  # nothing read together

    # Lags measured between pairs of rows, each pair once each way: rows 1 and 2 lie 20 and 50
    # samples behind row 0, measured with some error; row 3 is linked to no other row.
    measured = {(0, 1): (-21.0, 0.9), (0, 2): (-50.0, 0.8), (1, 2): (-29.0, 0.7)}
    lags = {**measured, **{(b, a): (-lag, r) for (a, b), (lag, r) in measured.items()}}
    solved = row_lags(lags, count=4)
    assert sorted(solved) == [0, 1, 2]
    assert solved[1] - solved[0] == pytest.approx(20.5, abs=1.0)
    assert solved[2] - solved[0] == pytest.approx(50.0, abs=1.0)


def test_a_real_photo_with_its_pulses_at_the_rows_right_ends_is_read() -> None:
    """ecg00035's cart prints each row's pulse after its trace: the rows are found from the traces,
    the gain from those pulses (10 mm/mV), time 0 at each row's first ink. Lead I's R-R intervals
    as on the photo: 0.72 s (73 px between R peaks where its 5 mm lines lie 20.4 px apart). Its
    faint rhythm strip (QRS 0.1-0.2 mV) vanishes for 0.1 s under the row above's trace: that
    stretch is not read from the row above (a 3 mV block there, before)."""
    result = digitize_image((REAL_PHOTOS / "ecg00035.jpg").read_bytes())
    assert (result.layout, result.paper_speed, result.gain) == ("3x4+1", 25.0, 10.0)
    assert not result.quality["leads_not_read"]
    assert abs(result.quality["pulse_height_mm"] - 10.0) < 0.5
    lead_i = result.signal[:1250, 0]
    peaks, _ = find_peaks(lead_i, height=0.5 * float(np.nanmax(lead_i)), distance=150)
    assert len(peaks) == 3
    assert np.all(np.abs(np.diff(peaks) / result.fs - 0.72) <= 0.025)
    assert float(np.nanmax(np.abs(result.signal[:, 1]))) < 0.5


@cache
def kit_style_page(grid: str) -> tuple[bytes, np.ndarray]:
    """Record 00001 printed in ecg-image-kit's style (bench/ecg_kit_style.py, the 2024 Challenge's
    generator's page: the trace runs on from the pulse's falling edge, no separator ticks, names
    under the baseline) on one of its papers, as PNG bytes, with its truth."""
    sys.path.insert(0, str(REPO_ROOT / "bench"))  # the renderers are bench scripts, not a package
    from ecg_kit_style import render_kit_page  # noqa: PLC0415
    from ecg_photo_render import PrintSettings, _wfdb_signal, truth_of  # noqa: PLC0415

    signal = _wfdb_signal(1)
    page = render_kit_page(signal, grid, grey=0.1)
    return cv2.imencode(".png", page)[1].tobytes(), truth_of(signal, PrintSettings(layout="3x4+1"))


def test_a_page_whose_trace_runs_on_from_the_pulse_is_timed_from_the_falling_edge() -> None:
    # Timed from 3 mm after the edge (our carts' stub and gap), as before, it read below 0 dB.
    data, page_truth = kit_style_page("pink")
    result = digitize_image(data)
    assert "trace_start_not_at_convention" not in result.quality["problems"]
    assert challenge_snr(result.signal, page_truth) >= 13.0


@pytest.mark.parametrize("grid", ["brown", "darkgreen"])
def test_a_grid_as_dark_as_the_trace_is_not_taken_for_it(grid: str) -> None:
    # These papers' 5 mm lines pass the ink threshold in every channel: read as trace before, the
    # pages were refused or returned as signals below 0 dB.
    data, page_truth = kit_style_page(grid)
    assert challenge_snr(digitize_image(data).signal, page_truth) >= 12.0


def test_a_grey_grid_scanned_with_every_line_dark_as_ink_is_read() -> None:
    # Black-and-white paper, scanned: its horizontal lines all pass for ink, its vertical ones only
    # in part. Left in, the lines through the pulses' feet made their strokes unmeasurable and the
    # page was refused (layout_not_recognized); on other such scans the lines along a row's
    # baseline were followed through its QRS complexes (4 dB).
    kit_style_page("bw")  # puts bench/ on the path
    from ecg_photo_render import _wfdb_signal  # noqa: PLC0415

    data, page_truth = kit_style_photo("bw", seed=2, signal=_wfdb_signal(2), level="scan", quality=95)
    assert challenge_snr(digitize_image(data).signal, page_truth) >= 13.0


def test_a_trace_running_on_from_its_pulse_broken_by_a_hair_is_timed_from_the_edge() -> None:
    # A hard photo: blur breaks the thin trace a pixel or two after the pulses' falling edges on
    # some rows. Counted as a cart's stub and gap, the rows were read 3 mm late (-3 dB).
    data, page_truth = kit_style_photo("red", seed=1, level="hard", quality=95)
    assert challenge_snr(digitize_image(data).signal, page_truth) >= 5.0


def test_a_rows_trace_ends_where_its_ink_ends_not_at_lines_specks_or_the_pages_border() -> None:
    # 8 px per mm; the row's baseline at y 100. The trace runs to x 799, then fades in pieces a few
    # pixels long, 10 px apart, at its height (a blurred thin trace ends so); right of it: a grid
    # line passing for ink (a tall run), a speck 40 px off the trace's height, and a dark band
    # along the page's right edge.
    mask = np.zeros((200, 1000), dtype=bool)
    mask[99:102, 100:800] = True
    for x in (810, 820):
        mask[100:102, x : x + 3] = True
    mask[40:160, 860:862] = True  # a grid line
    mask[60:62, 900:903] = True  # a speck
    mask[:, 985:] = True  # the page's border
    assert trace_end(vertical_runs(mask), 100.0, 90.0, 8.0) == 822
    mask[99:102, 800:985] = True  # the trace runs on into the border: it may run off the page
    assert trace_end(vertical_runs(mask), 100.0, 90.0, 8.0) is None


def test_a_rows_trace_ends_where_its_ink_ends_not_at_a_cleared_grids_crossing_specks() -> None:
    # 8 px per mm; the trace runs to x 799. A dark grid cleared from the ink leaves one-pixel specks
    # where its lines cross, every 1-3 mm at the trace's height on to the page's edge: a kit-style
    # dark blue scan's rows were measured to end 260 mm after time 0, not 250, and its time 0 was
    # not found (-3.5 dB).
    mask = np.zeros((200, 1000), dtype=bool)
    mask[99:102, 100:800] = True
    for x in range(815, 990, 13):
        mask[100 + x % 3, x] = True
    assert trace_end(vertical_runs(mask), 100.0, 90.0, 8.0) == 799


def test_a_steep_stroke_stepping_by_a_line_width_does_not_break_the_trace_leaving_a_pulse() -> None:
    # 8 px per mm, line 2 px wide. The trace runs on from the pulse and goes down a T wave's slope
    # 3 px a column, its antialiased edge under the ink threshold: each column's 1 px run lies two
    # blank pixel rows below the last. Counted as breaks, a kit-style dark blue scan's rows read as
    # a cart's stub and gap: 1.4 mm late, below 0 dB.
    mask = np.zeros((200, 400), dtype=bool)
    mask[20:101, 19:21] = True  # rising stroke
    mask[20:22, 19:61] = True  # top stroke
    mask[20:101, 59:61] = True  # falling stroke
    mask[99:101, 61:64] = True  # the trace, running on from the foot
    for step, x in enumerate(range(64, 84)):
        mask[101 + 3 * step, x] = True  # down the slope
    mask[161:163, 84:300] = True
    runs, grid = vertical_runs(mask), Grid(8.0, 8.0, 100.0)
    pulse = Pulse(x_rise=20.0, x_fall=60.0, y_base=100.0, y_top=21.0, x_end=61.0)
    assert stroke_break_mm(runs, pulse, grid, 2.0, 60.0, nearest=False) == 0.0


def test_rows_ending_where_traces_running_on_end_settle_a_tie_of_their_breaks() -> None:
    # Breaks (mm) of the faint strokes leaving four rows' pulses on kit-style hard photos: two run
    # on and two show a cart's gap; or one runs on and three break for 0.5 mm, neither way. No
    # majority either way: the rows were read from their first ink, 1.2 mm late (-1.8, -2.9 dB).
    # Where every row ends 250 mm after the falling edge, they run on; more gaps stay a cart's.
    for breaks in ([0.0, 0.1, 0.8, 1.5], [0.53, 0.53, 0.53, 0.0]):
        assert not runs_on(breaks)
        assert runs_on(breaks, ends_agree=True)
    assert not runs_on([0.0, 0.7, 0.8, 1.5], ends_agree=True)
    assert not runs_on([0.5, 0.5, 0.4, 0.4], ends_agree=True)


def test_a_speck_on_the_falling_strokes_edge_does_not_break_a_faint_trace_running_on() -> None:
    # 8 px per mm, line 3 px wide; the pulse's falling stroke at x 59-61 from y 20 to its foot at
    # 100. The trace runs on from it 2 px under the foot, its first pixels faded out; a speck of
    # JPEG ringing sits on the stroke's right side halfway up. Followed from the run nearest the
    # baseline from x 63, the track took the speck, lost the trace and measured a break of 3 mm (a
    # hard kit-style photo read as a cart's stub and gap: 3 mm late, -2 dB).
    mask = np.zeros((200, 400), dtype=bool)
    mask[20:101, 19:22] = True  # rising stroke
    mask[20:23, 19:62] = True  # top stroke
    mask[20:101, 59:62] = True  # falling stroke
    mask[101:104, 64:300] = True  # the trace, running on, its first pixels faded
    mask[60:62, 63] = True  # the speck
    runs, grid = vertical_runs(mask), Grid(8.0, 8.0, 100.0)
    pulse = Pulse(x_rise=20.0, x_fall=60.0, y_base=100.0, y_top=21.0, x_end=61.0)
    assert stroke_break_mm(runs, pulse, grid, 3.0, 24.0, nearest=True) == 0.0


@pytest.mark.parametrize("grid", ["red", "bw"])
def test_a_trace_running_on_from_its_pulse_whose_start_blur_fades_is_timed_from_the_edge(grid: str) -> None:
    # Record 2 photographed hard: its thin trace starts 2.5-3 mm under the pulses' feet and fades
    # for 0.7-2.8 mm, which reads like a cart's stub and gap; timed from the trace's first ink, the
    # rows were read 1-1.5 mm late (-1 dB). The rows' ends, 250 mm after the falling edges, tell
    # the page's way; on the black-and-white photo they lie left of a dark band along the page's
    # right edge.
    kit_style_page(grid)  # puts bench/ on the path
    from ecg_photo_render import _wfdb_signal  # noqa: PLC0415

    data, page_truth = kit_style_photo(grid, seed=1, signal=_wfdb_signal(2), level="hard", quality=95)
    result = digitize_image(data)
    assert "trace_start_not_at_convention" not in result.quality["problems"]
    assert challenge_snr(result.signal, page_truth) >= 8.0


def test_a_grid_whose_major_lines_look_like_its_minor_ones_is_measured_by_its_1_mm_lines() -> None:
    # Lines 1 mm apart, all alike (a dark blue grid in the darkest channel): the comb's best period
    # is 2 mm, whose own frequency holds nothing; the 5 mm pitch is five of the lines' spacing.
    px_per_mm = 7.874
    profile = (np.cos(2 * np.pi * np.arange(2000) / px_per_mm) > 0.9).astype(np.float64)
    period, _ = _comb_period(profile)
    assert period == pytest.approx(5 * px_per_mm, rel=0.01)


def test_a_photo_of_paper_whose_1_mm_lines_are_nearly_white_is_read() -> None:
    # Pink paper: on a photo under 5 % of the page shows on grid lines, which alone was no_grid;
    # the 5 mm lines' comb is clear (strength 43), so it is a grid.
    page_png, page_truth = kit_style_page("pink")  # puts bench/ on the path
    from ecg_photo_render import photograph  # noqa: PLC0415

    page = cv2.imdecode(np.frombuffer(page_png, np.uint8), cv2.IMREAD_COLOR)
    photo = photograph(page, "easy", np.random.default_rng(1))
    result = digitize_image(cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    assert challenge_snr(result.signal, page_truth) >= 12.0


def test_a_trace_broken_for_a_few_pixels_next_to_its_pulse_still_runs_on_from_it() -> None:
    # Two of the four rows' thin strokes break for 3 px 1.3 mm after the falling edge (a blurred
    # photo); the other two run on unbroken and no row shows a cart's gap. Timed from 3 mm after
    # the edge, as a tie of rows was before, the page read at -2 dB.
    data, page_truth = kit_style_page("pink")
    page = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    fall_x = round((0.4 + 0.203) * 25 * 7.874)  # bench/ecg_kit_style.py's pulse, at 200 dpi
    for baseline_y in (992, 1535):  # the second row and the rhythm strip
        patch = page[baseline_y - 40 : baseline_y + 40, fall_x + 10 : fall_x + 13]
        patch[patch.max(axis=2) < 160] = 255
    result = digitize_image(cv2.imencode(".png", page)[1].tobytes())
    assert challenge_snr(result.signal, page_truth) >= 13.0


def test_ink_the_path_jumps_to_below_the_last_row_is_not_read_as_its_trace() -> None:
    # The rhythm strip's trace gone for 2 s (6-8 s) and a dark bar 19 mm below it there (the page's
    # edge, a shadow): the path has to take the bar, and it counted as the strip's own, 1.9 mV low
    # (lead II at -20 dB). Nearer a row's reach beyond the outer row than its own baseline, it is no
    # row's: those seconds are left out and bridged.
    data, page_truth = kit_style_page("pink")
    page = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    x0, x1 = round((0.603 + 6) * 25 * 7.874), round((0.603 + 8) * 25 * 7.874)
    strip = page[1535 - 120 : 1535 + 120, x0:x1]
    strip[strip.max(axis=2) < 235] = 255
    page[1535 + 150 : 1535 + 156, x0 - 40 : x1 + 40] = 40
    signal = digitize_image(cv2.imencode(".png", page)[1].tobytes()).signal
    lead_ii = np.full_like(page_truth, np.nan)
    lead_ii[:, 1] = page_truth[:, 1]
    assert challenge_snr(signal, lead_ii) >= 3.0
    assert np.abs(signal[3000:4000, 1]).max() < 0.5  # the truth there: at most 0.38 mV


def test_pulses_whose_falling_stroke_runs_on_down_into_the_trace_are_found() -> None:
    # Each row's first lead starts with a 0.6 mV downstroke (a QRS at time 0): the falling stroke
    # runs on 6 mm below the rising one's foot. Taken as no pulse, the rows were read without
    # their pulses (and a hard photo of such a page upside down, below 0 dB).
    kit_style_page("pink")  # puts bench/ on the path
    from ecg_photo_render import _wfdb_signal  # noqa: PLC0415

    signal = _wfdb_signal(1).copy()
    # I, II, III: the first lead of each row and the strip.
    signal[:20, :3] = np.interp(np.arange(20), [0, 4, 20], [0, -0.6, 0])[:, None]
    data, page_truth = kit_style_photo("pink", seed=1, signal=signal)
    result = digitize_image(data)
    assert "calibration_pulse_missing" not in result.quality["problems"]
    assert result.quality["pulse_height_mm"] == pytest.approx(10.0, abs=0.3)
    assert challenge_snr(result.signal, page_truth) >= 13.0


def kit_style_photo(
    grid: str, seed: int, signal: np.ndarray | None = None, level: str = "easy", quality: int = 90
) -> tuple[bytes, np.ndarray]:
    """A photo (bench/ecg_photo_render.py's distortions at `level`, JPEG at `quality`) of record
    00001, or `signal`, printed in ecg-image-kit's style on one of its papers, with its truth."""
    kit_style_page(grid)  # puts bench/ on the path
    from ecg_kit_style import render_kit_page  # noqa: PLC0415
    from ecg_photo_render import PrintSettings, _wfdb_signal, photograph, truth_of  # noqa: PLC0415

    signal = _wfdb_signal(1) if signal is None else signal
    photo = photograph(render_kit_page(signal, grid, grey=0.1), level, np.random.default_rng(seed))
    data = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
    return data, truth_of(signal, PrintSettings(layout="3x4+1"))


def test_a_faint_pink_grid_with_a_fairly_clear_comb_is_read() -> None:
    # ecg-image-kit's pink paper under a colour cast: 4 % of the page on lines and a comb of 16-19,
    # short of both no_grid gates (5 %, 20): a readable photo was refused as no_grid.
    data, page_truth = kit_style_photo("pink", seed=8)
    result = digitize_image(data)
    assert challenge_snr(result.signal, page_truth) >= 13.0


def test_a_dark_blue_grid_misread_at_a_multiple_of_its_pitch_is_read_at_its_1_mm_lines() -> None:
    # Major lines hardly darker than the minor ones: the 5 mm comb locked onto 1.6x the pitch, the
    # pulses' height then fit no gain, and the photo was refused (layout_not_recognized).
    data, page_truth = kit_style_photo("darkblue", seed=4)
    result = digitize_image(data)
    assert (result.layout, result.paper_speed, result.gain) == ("3x4+1", 25.0, 10.0)
    assert result.quality["px_per_mm"] == pytest.approx([7.6, 7.6], rel=0.05)
    assert challenge_snr(result.signal, page_truth) >= 4.0


def test_a_grid_read_far_from_square_is_read_again_at_its_1_mm_lines() -> None:
    # Across the page the comb read 0.8x the pitch (down it, right): the pulse's width then said
    # 50 mm/s and the page was returned as a signal at -2 dB.
    data, page_truth = kit_style_photo("darkblue", seed=7)
    result = digitize_image(data)
    assert result.paper_speed == 25.0
    x, y = result.quality["px_per_mm"]
    assert x / y == pytest.approx(1.0, abs=0.05)
    assert challenge_snr(result.signal, page_truth) >= 2.0


def test_a_grid_read_20_percent_off_square_is_read_again_though_its_1_mm_lines_differ_less() -> None:
    # Record 102 on dark blue paper: across the page the grid read 9.2 px/mm, down it 7.65 (the 1 mm
    # lines: 7.7 on both), 16 % apart; read so, -1.5 dB.
    kit_style_page("darkblue")  # puts bench/ on the path
    from ecg_photo_render import _wfdb_signal  # noqa: PLC0415

    data, page_truth = kit_style_photo("darkblue", seed=3, signal=_wfdb_signal(102))
    result = digitize_image(data)
    x, y = result.quality["px_per_mm"]
    assert x / y == pytest.approx(1.0, abs=0.05)
    assert challenge_snr(result.signal, page_truth) >= 5.0


def test_a_row_whose_major_lines_slip_is_timed_by_its_1_mm_lines() -> None:
    # The line view's column profile across the rhythm strip of an easy photo of a dark blue
    # kit-style page (PTB-XL record 17; photos/README.md): its major lines barely stand
    # out, and the fit to them slipped lines (the row read 9 % long, its beats 30 samples early by
    # its end); the fit to every 1 mm line agrees with the page's pitch and is taken.
    profile = np.load(PHOTOS / "grid_profile_darkblue_row.npy")
    px_per_mm = 7.622  # the page's pitch, measured on the whole page
    fit = profile_to_mm(profile, px_per_mm)
    assert fit is not None
    length_mm = np.polyval(fit, len(profile) - 1) - np.polyval(fit, 0)
    assert length_mm == pytest.approx((len(profile) - 1) / px_per_mm, rel=0.01)


def test_a_row_band_off_the_page_has_no_time_scale_of_its_own() -> None:
    # A pulse inferred beyond the page's edge on a turned reading put its row's band of pixel rows
    # off the page: the mean of no rows (NaN, with a RuntimeWarning) was fitted.
    lines = np.zeros((200, 400), np.float32)
    lines[:, ::8] = 1.0  # a 1 mm grid at 8 px/mm
    grid = Grid(8.0, 8.0, 50.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x_to_mm(lines, grid, (230, 200)) is None
        assert x_to_mm(lines, grid, (-40, -5)) is None
        assert x_to_mm(lines, grid, (20, 180)) is not None


def test_a_refused_photo_read_turned_with_leads_missing_stays_refused() -> None:
    # Upright, the dark blue grid's lines pass for nine pulses (refused); turned a quarter, it read
    # as a 3x4 page at 5 mm/mV with four leads missing, returned at -25 dB.
    data, _ = kit_style_photo("darkblue", seed=8)
    with pytest.raises(UnreadablePhoto) as refused:
        digitize_image(data)
    assert refused.value.code == feedback.LAYOUT_NOT_RECOGNIZED


def dark_blue_refusal(ecg_id: int, seed: int) -> str:
    """The reason code an easy photo of test record `ecg_id` on dark blue kit-style paper is
    refused with (the test fails where it is read)."""
    kit_style_page("darkblue")  # puts bench/ on the path
    from ecg_photo_render import _wfdb_signal  # noqa: PLC0415

    data, _ = kit_style_photo("darkblue", seed=seed, signal=_wfdb_signal(ecg_id))
    with pytest.raises(UnreadablePhoto) as refused:
        digitize_image(data)
    return refused.value.code


def test_pulses_found_in_different_columns_are_no_cart_s_and_tell_no_gain() -> None:
    # Record 102 on dark blue paper: upside down, the grid's lines paired into "pulses" 2.9 mm tall
    # whose rises scattered 10 mm across the rows; the page was read at 2.5 mm/mV upside down and
    # returned at -21 dB. Carts print every row's pulse in the same columns.
    assert dark_blue_refusal(ecg_id=102, seed=2) == feedback.LAYOUT_NOT_RECOGNIZED

    # 3 mm apart on a flattened photo is one column (real photos: up to 3.4 mm); 6 mm is not.
    straight = [
        Pulse(x_rise=100.0 + dx, x_fall=140.0, y_base=y, y_top=y - 80, x_end=150.0)
        for dx, y in ((0, 300), (24, 600), (-8, 900))
    ]
    grid = Grid(px_per_mm_x=8.0, px_per_mm_y=8.0, strength=1.0)
    assert in_one_column(straight, grid)
    assert not in_one_column([*straight, replace(straight[0], x_rise=140.0, y_base=1200.0)], grid)


def test_pulses_at_2_5_mm_per_mv_with_a_row_inferred_tell_no_gain() -> None:
    # Record 17 on dark blue paper: the grid's lines paired into "pulses" 3 mm tall and 10 mm wide
    # on three rows, one inferred for the fourth: read at 2.5 mm/mV and 50 mm/s, returned at -12 dB.
    assert dark_blue_refusal(ecg_id=17, seed=0) == feedback.LAYOUT_NOT_RECOGNIZED

    grid = Grid(px_per_mm_x=8.0, px_per_mm_y=8.0, strength=1.0)
    low = [Pulse(x_rise=100.0, x_fall=180.0, y_base=y, y_top=y - 20, x_end=190.0) for y in (300, 600, 900)]
    assert pulse_gain_and_speed(low, grid) == (2.5, 50.0)
    assert pulse_gain_and_speed(low, grid, inferred=True) == (None, 50.0)


@pytest.mark.parametrize(
    "turn", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180], ids=["on its side", "upside down"]
)
def test_a_page_that_reads_both_ways_up_reads_the_same_however_it_was_photographed(turn: int) -> None:
    # ecg00003 is read without its pulses and reads upside down too. Its QRS complexes point the
    # usual way in 3 of 5 leads upright (lead II's points down: a left axis), 4 upside down; its
    # lead II printed twice agrees at 2.1 dB upright, 0.0 upside down, and decides. The reading
    # that came first had to be beaten by 2 leads: photographed turned, its upside-down reading
    # came first and stayed.
    page = cv2.imread(str(REAL_PHOTOS / "ecg00003.png"))
    upright = digitize_image(cv2.imencode(".png", page)[1].tobytes())
    turned = digitize_image(cv2.imencode(".png", cv2.rotate(page, turn))[1].tobytes())
    assert upright.quality["turned_deg"] == 0
    assert turned.quality["turned_deg"] == {cv2.ROTATE_90_CLOCKWISE: 270, cv2.ROTATE_180: 180}[turn]
    assert np.allclose(np.nan_to_num(turned.signal), np.nan_to_num(upright.signal), atol=0.05)
