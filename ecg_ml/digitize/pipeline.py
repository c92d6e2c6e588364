"""digitize_image: a photo (or scan) of a paper 12-lead ECG -> the signal at 500 Hz, or the reason
it cannot be read. Stages: decode -> light check -> paper -> flat page -> light-independent views
-> sharpness, grid, glare checks -> calibration pulses -> layout -> each row's trace -> samples."""

import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import cv2
import numpy as np
from scipy.signal import find_peaks

from ecg_ml.digitize import feedback, page
from ecg_ml.digitize.grid import (
    INK_THRESHOLD,
    Grid,
    Views,
    find_grid,
    fine_line_pitch,
    line_profiles,
    normalise,
    straighten,
    straighten_maps,
    tilt,
    unsheared,
    x_to_mm,
)
from ecg_ml.digitize.trace import (
    Pulse,
    RowTrace,
    Runs,
    find_pulses,
    follow_row,
    line_width,
    pulse_gain_and_speed,
    trace_extent,
    vertical_runs,
)
from ecg_ml.errors import UnreadablePhoto
from ecg_ml.record import STANDARD_LEADS, ECGRecord

FS = 500
N_SAMPLES = 5000  # 10 s
TRACE_MM = 250.0
# Time 0 of a row lies 3 mm after the calibration pulse's falling edge (a 1 mm stub, a 2 mm gap):
# bench/ecg_photo_render.py prints this way; other conventions fall back to the trace's first ink,
# or to the falling edge where the trace runs on from it (time_zero).
PULSE_TO_TRACE_MM = 3.0  # a row of every layout we read spans 250 mm of paper (10 s at 25 mm/s)
# Where a row's trace runs on from the pulse (ecg-image-kit's pages), its first sample lies this far
# before the falling edge: the pulse is drawn from 500 Hz samples with two trailing zeros.
RUN_ON_LEAD_S = 0.003
# The stroke leaving a pulse breaks for 0.6-3.5 mm where most carts' stubs end (real images); for
# 0.1-0.5 mm on some (ecg00001, ecg00053) and where blur breaks a thin trace running on from the pulse
# (ecg_kit_style hard photos): a break that short says neither. One under HAIR_GAP_MM (a grid line's
# width taken out with a dark grid's lines, or blur) counts as running on: counting only unbroken
# strokes, kit-style hard photos of record 1 were read 3 mm late (-3 dB; 3 to 7 dB now).
CART_GAP_MM = 0.6
HAIR_GAP_MM = 0.3
# Blur can break a thin trace's start for a whole cart's gap (ecg-image-kit hard photos, -1 to -4 dB
# read 1-3 mm late): then the trace is followed in fainter ink from where it starts, up to this far
# below the pulse's foot (a record's first sample, -0.3 mV), and the rows' ends must lie where a
# trace running on ends, 250 mm after time 0, at most RUN_ON_END_MM early or late (kit hard photos
# 244-250: the trace's end fades too; ours 253; real scans 250.1-250.9, ecg00001 among them, which
# runs on unbroken in faint ink; real photos whose faint ink bridges the gap, ecg00035 and
# ecg00047, 256 and later).
TRACE_START_REACH_MM = 3.0
PULSE_TOP_MM = 3.0  # an inferred pulse's top stroke is looked for this far above or below where it was placed
RUN_ON_END_MM = (4.0, 0.5)
# trace_end: ink this near the page's right edge is at the edge; a band of it up to EDGE_BAND_MM
# wide is the page's border; a narrow stretch of ink may be a grid line or a speck.
EDGE_BLANK_MM = 2.0
EDGE_BAND_MM = 3.0
LINE_MM = 0.6
LINE_TALL_MM = 2.0
FADE_GAP_MM = 0.4
SQUARE_PITCH = 1.2  # most a grid's px per mm may differ across and down the flattened page (square)
MIN_GRID_STRENGTH = 5.0  # harmonic-sum contrast of the grid's spectrum (good photos: 50 to 400)
# Paper under this many photo pixels per mm does not resolve the 1 mm grid and the thin trace: the
# committed test pages shrunk read at -6 to 3 dB (near or worse than an all-zero answer) at 1.6-2.0
# px/mm, 6-6.5 dB at 2.1, 6.3-8.6 dB at 2.4, 9-12 dB at 2.7-3.4.
MIN_PHOTO_PX_PER_MM = 2.2
GRID_LINE_LEVEL = 0.08  # relative darkness from which a pixel counts as on a grid line
MIN_GRID_LINE_SHARE = 0.05  # share of the paper on grid lines (1 mm grids: 15 to 30 %) ...
CLEAR_GRID_STRENGTH = 20.0  # ... unless the lines' comb is this clear (faint pink paper: 30) ...
# ... or fairly clear on a faint grid that still covers some of the page (ecg-image-kit's pink
# paper photographed with a colour cast: comb 16-19, 4 % of the page; no grid: 4, 2 %).
FAINT_GRID_STRENGTH = 15.0
FAINT_GRID_SHARE = 0.03
MIN_SHARPNESS = 0.25  # sharp photos 0.4 to 0.55, unreadably blurred ones below 0.2
GLARE_SHARE = 0.03
# Rows out of step (align_rows): beats sought up to ROW_LAG_S apart (real photos: up to 0.12 s),
# linked from this alike (r; good readings 0.5-0.9), moved where more than ROW_STEP_S off (leads
# differ: rows of different leads read right lag up to 0.02 s, ecg00002).
ROW_LAG_S = 0.15
ROW_LAG_MIN_R = 0.4
ROW_STEP_S = 0.025
# Three rows timed from their traces' first ink outvote one timed from its pulse (kit-style hard
# photos: a trace running on from its pulse, broken by blur, reads as a cart's gap), two do not.
GUESSED_TIME_VOTE = 0.6
MIN_FOLLOWED = 0.75  # share of a lead's columns the trace must be followed on to be returned
# A row whose leads were not all followed is read again in fainter ink (a thin grey trace on a small
# photo); the reading with more leads wins.
FAINT_TRACE_INK = 0.3
PULSE_BRIDGE_MM = 0.6  # second look for pulses: gaps bridged (ecg00032: rows 3-4 found with 0.6, not 0.3)
PULSE_WIDEN_MM = 1.0  # third look for pulses: strokes widened (0.5 too little, 1.5 too much: ecg00043)
# Further looks: fainter ink counts (thin strokes of small photos; ecg00043's pulses are whole at
# 0.3 and merge with the lead names at 0.25, ecg00037's need 0.2).
PULSE_FAINT_INK = (0.32, 0.26, 0.2)

LEAD = {name: i for i, name in enumerate(STANDARD_LEADS)}
LAYOUT_ROWS = (3, 4, 5, 6)  # rows of the layouts read (detect_layout)
ROW_MISSING_GAP = 1.7  # rows this many times further apart than the nearest two have one missing between
# Rows of traces found from the traces alone (trace_rows): ink within 0.75 mm of the baseline on this
# share of the page's width, at least TRACE_ROW_QUARTER in each quarter of it (a line of printed
# text covers only part of the width), away from the page's top and bottom edges.
TRACE_ROW_COVER = 0.35
TRACE_ROW_QUARTER = 0.05
TRACE_ROW_EDGE_MM = 8.0
# A page without any pulse is read at 10 mm/mV and 25 mm/s only where its rows of traces run the
# 250 mm of 10 s from their first ink (to the last, or to a pulse printed at the right end).
ROW_MM_RANGE = (0.96 * TRACE_MM, 1.04 * TRACE_MM)
ASSUMED_PULSE_MM = (10.0, 5.0)  # height, width: 1 mV at 10 mm/mV for 0.2 s at 25 mm/s
# Refusals a page on its side or upside down meets (its rows run down the photo, its pulses are at
# the wrong end): the photo is read again turned (digitize_image).
REFUSALS_TURNED_PAGE = (feedback.LAYOUT_NOT_RECOGNIZED, feedback.TRACE_NOT_READABLE, feedback.PAPER_CUT_OFF)
TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
TURN_CHECK_SIDE = 800  # px: the small copy turns_to_try looks at
USUAL_POLARITY = {"I": 1, "II": 1, "aVR": -1, "V5": 1, "V6": 1}  # the QRS's main swing on most ECGs
# Leads more that must point the usual way to take a page the other way up where the lead printed
# twice does not decide (reads_better): one, so that a page reads the same however the photo was
# turned (with two, a photo of ecg00003 turned 180 degrees once kept its upside-down reading). The
# upright real pages that read both ways up: only ecg00003.
POLARITY_MARGIN = 1
# Where the polarity differs by POLARITY_MARGIN or less, the way up whose lead printed twice agrees
# better by this much is taken (ecg00003: lead II agrees at 2.1 dB upright, 0.0 upside down; its
# polarity tied 4 to 4 while the rhythm strip read two of V3's deep S waves as tall spikes, and is
# 3 to 4 without them: its lead II's QRS points down, as its left axis has it).
ORIENTATION_AGREEMENT_DB = 1.0
COLUMNS_3X4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
# The rhythm strips of a page as most carts print them; GE's carts print a 3x4+3 page's as V1, II,
# V5, and some carts a 3x4+1 page's as V1 or V5: strip_leads reads which from the page. Two strips:
# V1 and II as ecg00004 prints them (GE's order without V5).
STRIPS = {"3x4+1": ("II",), "3x4+2": ("V1", "II"), "3x4+3": ("II", "V1", "V5")}
STRIPS_GE = ("V1", "II", "V5")
# A row's printed lead name is looked for from 1 mm before its pulse to 14 mm after it (at a column
# change: from 0.5 mm before it to 12 mm after), 12 mm above and below its baseline: ink marks
# there between LABEL_MIN_MM2 and LABEL_MAX_MM in size that keep off the baseline.
LABEL_MAX_MM = (6.0, 8.0)  # width, height
LABEL_MIN_MM2 = 0.25  # a grid dot or a speck of noise is smaller
LABEL_MATCH = 0.6  # a strip's name matching a known one this well (normalised correlation) ...
LABEL_MARGIN = 0.2  # ... and by this much better than any other known name names it


@dataclass
class DigitizedECG:
    """signal: float32 [5000, 12] mV at fs = 500 Hz over the printed 10 s, STANDARD_LEADS order, NaN
    where a lead is not printed. quality: score 0..1 (share of the printed trace followed), the
    named problems met on the way, leads_not_read, rhythm_strips (the strips' leads, as read from
    the names printed on the page), printed_twice_agreement_db (per lead printed twice, lead II in
    its column and as the rhythm strip: how well its two readings agree, dB), turned_deg (the
    clockwise turn the photo was read at)."""

    signal: np.ndarray
    fs: float
    leads: tuple[str, ...]
    layout: str
    paper_speed: float  # mm/s
    gain: float  # mm/mV
    quality: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    # On request (digitize_image(..., overlay=True)): the flattened, straightened page with the
    # trace as read drawn over it, for a person to check the reading against the paper.
    overlay: np.ndarray | None = None

    def record(self) -> ECGRecord:
        """The digitized signal as a record for ecg_ml.analyze; the photo's reading problems travel
        in its metadata (photo_problems) for the result to warn of."""
        metadata = {"format": "photo", "photo_problems": list(self.quality.get("problems", []))}
        return ECGRecord(signal=self.signal, fs=self.fs, leads=self.leads, metadata=metadata)


def layout_rows(
    layout: str, duration: float, strips: tuple[str, ...] | None = None
) -> list[list[tuple[str, float, float]]]:
    """Rows of (lead, start s, stop s) as the layout prints them (its rhythm strips: `strips`,
    STRIPS' where None)."""
    quarter = duration / 4
    grid_rows = [
        [(lead, c * quarter, (c + 1) * quarter) for c, lead in enumerate(row)] for row in COLUMNS_3X4
    ]
    if layout == "3x4":
        return grid_rows
    if layout in STRIPS:
        return [*grid_rows, *([(lead, 0.0, duration)] for lead in strips or STRIPS[layout])]
    if layout == "6x2":
        half = duration / 2
        return [[(STANDARD_LEADS[k], 0.0, half), (STANDARD_LEADS[6 + k], half, duration)] for k in range(6)]
    raise ValueError(layout)


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round((now - self._last) * 1000, 1)
        self._last = now


def sharpness(views: Views) -> float:
    """How steep the darkest edges are, per px of the ~8 px/mm page: the 99.9th percentile of the
    line view's gradient over its 99.9th percentile value. Blur spreads edges and lowers it."""
    small = views.lines[::2, ::2]
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3) / 8
    contrast = float(np.percentile(small, 99.9))
    return float(np.percentile(np.hypot(gx, gy), 99.9)) / max(contrast, 1e-3)


def digitize_image(data: bytes, *, overlay: bool = False) -> DigitizedECG:
    """The photo's 12 leads, or UnreadablePhoto with the reason. A photo whose page lies on its
    side or upside down (held in portrait, or turned, without an EXIF orientation to say so) is
    refused where its layout should be read, or read with leads missing; it is read again turned,
    and the reason stands only when no turn reads it (quality's turned_deg says which turn did,
    clockwise). An upside-down page: right_way_up."""
    clock = _Clock()
    image = page.decode(data)
    clock.lap("decode")
    try:
        first = read_photo(image, clock, overlay)
    except UnreadablePhoto as error:
        if error.code not in REFUSALS_TURNED_PAGE:
            raise
        refusal = error
    else:
        # A page on its side can pass for one with leads missing (read at 50 mm/s, 5 mm/mV): where
        # the ink says it lies on its side, a reading with leads missing meets the turned ones.
        if not (first.quality["leads_not_read"] and turns_to_try(image)[0] == 90):
            return right_way_up(image, 0, first, overlay)
        readings = [(0, first)]
        for degrees in (90, 270):
            with contextlib.suppress(UnreadablePhoto):
                readings.append((degrees, read_photo(turned(image, degrees), clock, overlay)))
        degrees, best = min(readings, key=lambda reading: reading_rank(reading[1]))
        return right_way_up(image, degrees, best, overlay)
    for degrees in turns_to_try(image):
        try:
            result = read_photo(turned(image, degrees), clock, overlay)
        except UnreadablePhoto:
            continue
        # A refused photo read turned with leads missing is a page misread, not one on its side
        # (a dark blue grid's lines taken for pulses upright; on its side: 4 leads missing, -25 dB).
        if not result.quality["leads_not_read"]:
            return right_way_up(image, degrees, result, overlay)
    raise refusal


def reading_rank(result: DigitizedECG) -> tuple[int, float]:
    """Fewest leads not read, then the largest share of the trace followed, first."""
    return len(result.quality["leads_not_read"]), -result.quality["score"]


def turned(image: np.ndarray, degrees: int) -> np.ndarray:
    return image if degrees % 360 == 0 else cv2.rotate(image, TURNS[degrees % 360])


def right_way_up(image: np.ndarray, degrees: int, result: DigitizedECG, overlay: bool) -> DigitizedECG:
    """`result`, read from `image` turned by `degrees`, or the reading of the page the other way
    up. Only a page read without its own pulses (at the common settings, or on a neighbour's) can
    be upside down unnoticed (pulses_hang_on looks for its pulses hanging at the rows' ends; a
    page whose pulses the photo cut off has none to show): it is read the other way up as well,
    and where that reads too, reads_better chooses: the reading whose QRS complexes point the way
    most ECGs' do in I, II, aVR, V5 and V6, or whose lead printed twice agrees with itself."""
    result.quality["turned_deg"] = degrees
    if "calibration_pulse_missing" not in result.quality["problems"]:
        return result
    try:
        other = read_photo(turned(image, degrees + 180), _Clock(), overlay)
    except UnreadablePhoto:
        return result
    if not reads_better(other, result):
        return result
    other.quality["turned_deg"] = (degrees + 180) % 360
    return other


def reads_better(first: DigitizedECG, second: DigitizedECG) -> bool:
    """Whether `first`, a page read one way up, is the right way up rather than `second`, read the
    other: by the lead printed twice where the polarity differs by no more than POLARITY_MARGIN and
    one reading agrees with itself better, else by the polarity."""
    more_usual = usual_polarity(first.signal) - usual_polarity(second.signal)
    if abs(more_usual) <= POLARITY_MARGIN:
        if agrees_better(first, second):
            return True
        if agrees_better(second, first):
            return False
    return more_usual >= POLARITY_MARGIN


def agrees_better(first: DigitizedECG, second: DigitizedECG) -> bool:
    """Whether the lead printed twice agrees with itself better, by ORIENTATION_AGREEMENT_DB, read
    as `first` than as `second`: a page read the wrong way up takes two different leads for the
    two printings of lead II."""
    a, b = first.quality["printed_twice_agreement_db"], second.quality["printed_twice_agreement_db"]
    return bool(a) and bool(b) and float(np.mean(a)) >= float(np.mean(b)) + ORIENTATION_AGREEMENT_DB


def usual_polarity(signal: np.ndarray) -> int:
    """In how many of I, II, aVR, V5 and V6 the trace's larger swing from its median points the way
    it does on most ECGs (up; down in aVR). A page read upside down inverts every lead."""
    agree = 0
    for lead, sign in USUAL_POLARITY.items():
        x = signal[:, LEAD[lead]]
        x = x[np.isfinite(x)]
        if x.size < FS // 2:
            continue
        low, median, high = np.percentile(x, [0.5, 50, 99.5])
        agree += int(np.sign((high - median) - (median - low)) == sign)
    return agree


def turns_to_try(image: np.ndarray) -> list[int]:
    """Clockwise turns to read a refused photo at, likeliest first: on its side first where its
    ink lies in columns rather than rows (an upright page's rows of traces make the ink's profile
    down the page far more uneven than across it: 1.3-6 times on the real phone photos)."""
    scale = TURN_CHECK_SIDE / max(image.shape[:2])
    ink = normalise(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)).ink
    h, w = ink.shape
    inner = (ink[h // 10 : h - h // 10, w // 10 : w - w // 10] > INK_THRESHOLD).astype(np.float64)

    def unevenness(profile: np.ndarray) -> float:
        smooth = np.convolve(profile, np.ones(5) / 5, mode="same")
        return float(smooth.std() / (smooth.mean() + 1e-9))

    on_its_side = unevenness(inner.mean(axis=1)) < unevenness(inner.mean(axis=0))
    return [90, 270, 180] if on_its_side else [180, 90, 270]


def read_photo(
    image: np.ndarray, clock: "_Clock", overlay: bool, pitch: tuple[float, float] | None = None
) -> DigitizedECG:
    """The photo read upright; with `pitch`, the grid's px per mm taken as given, not measured."""
    page.check_light(image)
    corners = page.find_paper(image)
    page.check_size(corners)
    flat = page.flatten(image, corners)
    clock.lap("paper")
    views = normalise(flat)
    mask = views.ink > INK_THRESHOLD
    clock.lap("normalise")
    check_page(views, mask)
    profiles = line_profiles(views, mask)  # kept for a second look at the 1 mm lines (below)
    grid = with_pitch(find_grid(*profiles), pitch)
    if page.fills_frame(corners, image.shape):
        flat, views, mask, grid = untilted_page(image, corners, flat, views, mask, grid)
    check_grid(grid, corners, views, mask)
    glare = glare_share(views, mask, grid)
    clock.lap("grid")
    maps = straighten_maps(views, mask, grid)
    if maps is not None:
        views = straighten(views, maps)
        mask = views.ink > INK_THRESHOLD
        # A pitch given is the 1 mm lines' (read_photo's second look): kept unless nearly confirmed.
        grid = settled(grid, find_grid(*line_profiles(views, mask)), 0.2 if pitch is None else 0.05)
    clock.lap("straighten")

    runs = vertical_runs(mask)
    width = line_width(runs)
    pulses, pulse_inferred = calibration_pulses(mask, views.ink, runs, grid, width)
    clock.lap("pulses")
    if len(pulses) == 0:
        raise without_pulses(glare, page.touches_border(corners, image.shape))
    gain, speed = pulse_gain_and_speed(pulses, grid, pulse_inferred)
    second_look = None if pitch is not None else second_look_pitch(grid, gain, profiles)
    if second_look is not None:
        return read_photo(image, clock, overlay, second_look)
    if gain is None:
        raise UnreadablePhoto(feedback.LAYOUT_NOT_RECOGNIZED, "the calibration pulses tell no gain")
    if speed == 12.5 and printed_row_mm(runs, pulses, grid, mask.shape[1]) > 180:
        speed = 25.0  # a narrow pulse, but rows 250 mm long: 10 s at 25 mm/s, not 20 s at 12.5
    mm_of_x, row_mm_of_x = time_scales(views, mask, grid, pulses)
    layout = detect_layout(runs, pulses, grid, mm_of_x, width, speed)
    clock.lap("layout")

    cut = page.touches_border(corners, image.shape)  # a row short of 10 s ran off the photo
    signal, quality, points = read_rows(
        runs, views.ink, pulses, layout, grid, row_mm_of_x, width, gain, speed, cut
    )
    if glare > GLARE_SHARE and (quality["score"] < 0.97 or quality["leads_not_read"]):
        raise UnreadablePhoto(feedback.GLARE)
    clock.lap("traces")
    quality["problems"] += ["glare"] if glare > GLARE_SHARE else []
    quality["problems"] += ["calibration_pulse_missing"] if pulse_inferred else []
    if overlay and maps is not None:  # the page as the traces were read: straightened too
        flat = cv2.remap(flat, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    drawn = draw_overlay(flat, points, pulses) if overlay else None
    return DigitizedECG(signal, float(FS), STANDARD_LEADS, layout, speed, gain, quality, clock.timings, drawn)


def untilted_page(
    image: np.ndarray, corners: np.ndarray, flat: np.ndarray, views: Views, mask: np.ndarray, grid: Grid
) -> tuple[np.ndarray, Views, np.ndarray, Grid]:
    """The page flattened again with the slant its grid shows undone (grid.tilt) and the lean that
    leaves (grid.unsheared, measured on the line view carried there at half size), when the photo
    shows no page edges to flatten it by; as it was when the grid shows no slant."""
    matrix = tilt(views, mask, grid)
    if matrix is None:
        return flat, views, mask, grid
    to_flat = page.flattening(corners)
    outline = page.untilted(image.shape, matrix @ to_flat)
    if outline is None:
        return flat, views, mask, grid
    width, height = page.flat_size(outline)
    to_untilted = page.flattening(outline)
    half = np.diag([0.5, 0.5, 1.0]) @ to_untilted @ np.linalg.inv(to_flat)
    lines = np.where(mask, 0.0, views.lines).astype(np.float32)
    carried = cv2.warpPerspective(lines, half, (width // 2, height // 2), flags=cv2.INTER_AREA)
    scale = 0.5 * width / flat.shape[1]  # about: the pitch only bounds the search for the lean
    shear = unsheared(carried, Grid(grid.px_per_mm_x * scale, grid.px_per_mm_y * scale, grid.strength))
    outline = page.untilted(image.shape, shear @ to_untilted)
    if outline is None:
        return flat, views, mask, grid
    flat = page.flatten(image, outline)
    views = normalise(flat)
    mask = views.ink > INK_THRESHOLD
    return flat, views, mask, find_grid(*line_profiles(views, mask))


def draw_overlay(page_image: np.ndarray, points: list[np.ndarray], pulses: list[Pulse]) -> np.ndarray:
    """The trace points each lead was read from, in green, and each row's baseline from its
    calibration pulse, in blue, over the page as the digitizer saw it."""
    out = page_image.copy()
    for pulse in pulses:
        y = round(pulse.y_base)
        cv2.line(out, (round(pulse.x_rise), y), (out.shape[1] - 1, y), (255, 120, 0), 1)
    for xy in points:
        for x, y in np.round(xy).astype(int):
            cv2.circle(out, (int(x), int(y)), 1, (0, 200, 0), -1)
    return out


def row_spacing(pulses: list[Pulse], grid: Grid) -> float:
    """px between neighbouring rows' baselines (median); 40 mm for a single row."""
    if len(pulses) < 2:
        return 40 * grid.px_per_mm_y
    return float(np.median(np.diff([p.y_base for p in pulses])))


def unpulsed_row(mask: np.ndarray, pulses: list[Pulse], grid: Grid) -> float | None:
    """The baseline (px) of a row of traces without a pulse: one spacing above the first pulse's
    row or below the last one's (its pulse cut off by the photo's edge, or not printed), or midway
    between two pulses twice the least gap apart (a pulse not found); None when there is none. Its
    baseline is the band's most inked pixel row (a trace's flat stretches lie on it)."""
    baselines = [p.y_base for p in pulses]
    spacing = row_spacing(pulses, grid)
    left = round(max(p.x_end for p in pulses) + grid.px_per_mm_x)
    h = mask.shape[0]
    for centre in (baselines[0] - spacing, baselines[-1] + spacing, *missing_row_centres(pulses)):
        a, b = round(centre - 0.25 * spacing), round(centre + 0.25 * spacing)
        if a < 0 or b > h:
            continue
        band = mask[a:b, left:]
        # Pixel rows inked over half the band's width are grid lines (a dark green paper's pass for
        # ink in part, and a row inferred on them read every lead a row off: -3.7 dB): no trace
        # runs along one pixel row that far, and the rows beside it hold its ink still.
        off_lines = band & (band.mean(axis=1) <= 0.5)[:, None]
        inked = off_lines.any(axis=0)
        # A trace's stroke is two pixel rows thick or more: a paper's lines passing for ink in
        # dashes one pixel row thin, and in specks, can cover the band's columns as well (a
        # kit-style dark green photo's blank top third was read as a row of a 3x4+2 page, every
        # lead a row off).
        thick = (off_lines[1:] & off_lines[:-1]).any(axis=0)
        if inked.size and inked.mean() > 0.7 and thick.mean() > 0.5:
            return float(a + np.argmax(band.sum(axis=1)))
    return None


def calibration_pulses(
    mask: np.ndarray, ink: np.ndarray, runs: Runs, grid: Grid, width: float
) -> tuple[list[Pulse], bool]:
    """The rows' pulses, completed (completed_pulses), and whether one was inferred. Looked for up
    to six times, each look taken where it finds more pulses, until they can be completed to the
    rows of a layout: as printed; with short gaps in the strokes bridged (a thin pulse on a phone
    photo falls apart under the ink threshold); bridged in strokes widened sideways
    (widened_pulses); bridged in ever fainter ink (faint_pulses: a 1 px stroke of a small photo,
    enlarged, stays faint and dotted). Later looks only where the earlier cannot complete the
    rows, or complete them to a number of rows no layout has (two pulses of four found, no gap
    between them to infer one in): bridging and widening move the ends of strokes that were
    whole, and with them a pulse's measured height and time 0. Where no look completes the rows,
    the rows are found from the traces themselves (pulses_on_trace_rows). No pulse and no such
    rows: an empty list."""
    looks = (
        lambda: find_pulses(mask, ink, runs, grid, width, fall_runs_on=True),
        lambda: find_pulses(mask, ink, runs, grid, width, bridge_mm=PULSE_BRIDGE_MM, fall_runs_on=True),
        lambda: widened_pulses(mask, ink, grid, width),
        *(lambda level=level: faint_pulses(ink, grid, level) for level in PULSE_FAINT_INK),
    )
    best: list[Pulse] = []
    # The best look's outcome: its pulses completed, or why they could not be.
    outcome: tuple[list[Pulse], bool] | UnreadablePhoto = ([], False)
    for look in looks:
        found = look()
        if len(found) <= len(best):
            continue
        best = found
        try:
            outcome = completed_pulses(mask, best, grid)
        except UnreadablePhoto as error:
            outcome = error
            continue
        if len(outcome[0]) == 3:
            with_strip = strip_on_trace_rows(mask, ink, runs, outcome[0], grid)
            if with_strip is not None:
                return with_strip, True
        if len(outcome[0]) in LAYOUT_ROWS and not rows_missing(outcome[0]):
            return outcome
    on_rows = pulses_on_trace_rows(*page_trace_rows(mask, ink, runs, grid), ink, best, grid)
    if on_rows is not None:
        return on_rows, True
    if isinstance(outcome, UnreadablePhoto):
        raise outcome
    if rows_missing(outcome[0]):
        raise UnreadablePhoto(feedback.LAYOUT_NOT_RECOGNIZED, "rows without their calibration pulse")
    return outcome


def missing_row_centres(pulses: list[Pulse]) -> list[float]:
    """Midway between each two neighbouring pulses over ROW_MISSING_GAP times the least gap apart
    (px): where a row or more must lie. With one pulse missing in the middle the median gap may be
    the double one: the least is not."""
    baselines = [p.y_base for p in pulses]
    gaps = np.diff(baselines)
    if gaps.size == 0:
        return []
    least = float(gaps.min())
    pairs = zip(baselines, baselines[1:], gaps, strict=False)
    return [(a + b) / 2 for a, b, gap in pairs if gap > ROW_MISSING_GAP * least]


def rows_missing(pulses: list[Pulse]) -> bool:
    """Whether the pulses leave a gap where a row or more must lie (missing_row_centres): found so, a
    6x2 page's two rows whose pulses the traces crossed were passed over and the page read as
    3x4+1, every lead in the wrong place (0.6 dB)."""
    return bool(missing_row_centres(pulses))


def trace_rows(mask: np.ndarray, grid: Grid) -> list[float]:
    """Baselines (px) of the rows of traces, found from the traces alone: pixel rows near which ink
    runs across the page (TRACE_ROW_COVER), at least 12 mm apart; each baseline is its band's most
    inked pixel row (a trace's flat stretches lie on it)."""
    h, w = mask.shape
    reach = max(3, round(1.5 * grid.px_per_mm_y)) | 1
    near = cv2.dilate(mask.astype(np.uint8), np.ones((reach, 1), np.uint8))
    quarters = np.stack([q.mean(axis=1) for q in np.array_split(near[:, w // 10 : w - w // 20], 4, axis=1)])
    cover = quarters.mean(axis=0)
    peaks, _ = find_peaks(cover, height=TRACE_ROW_COVER, distance=12 * grid.px_per_mm_y)
    edge = TRACE_ROW_EDGE_MM * grid.px_per_mm_y
    peaks = [int(y) for y in peaks if quarters[:, y].min() >= TRACE_ROW_QUARTER and edge <= y <= h - edge]
    half_band = round(3 * grid.px_per_mm_y)
    baselines = []
    for y in peaks:
        a, b = max(0, y - half_band), min(h, y + half_band + 1)
        baselines.append(float(a + np.argmax(mask[a:b, w // 10 :].sum(axis=1))))
    return baselines


def strip_on_trace_rows(
    mask: np.ndarray, ink: np.ndarray, runs: Runs, pulses: list[Pulse], grid: Grid
) -> list[Pulse] | None:
    """Three rows' pulses, and a fourth row in the traces: a rhythm strip whose pulse the photo cut
    off. The pulses on the traces' rows (pulses_on_trace_rows), worked out only where the traces
    show more than three rows (the right-end pulse looks alone cost 0.2 s a page); else None."""
    inked, inked_runs, rows = page_trace_rows(mask, ink, runs, grid)
    return pulses_on_trace_rows(inked, inked_runs, rows, ink, pulses, grid) if len(rows) > 3 else None


def page_trace_rows(
    mask: np.ndarray, ink: np.ndarray, runs: Runs, grid: Grid
) -> tuple[np.ndarray, Runs, list[float]]:
    """The rows of traces (trace_rows) and the ink mask and runs they were found in: the trace's
    ink, or on a page printed faintly all over (no rows of a layout there) the fainter ink
    (FAINT_TRACE_INK) read_rows falls back to for such rows."""
    rows = trace_rows(mask, grid)
    if len(rows) in LAYOUT_ROWS:
        return mask, runs, rows
    faint = ink > FAINT_TRACE_INK
    return faint, vertical_runs(faint), trace_rows(faint, grid)


def pulses_on_trace_rows(
    mask: np.ndarray, runs: Runs, rows: list[float], ink: np.ndarray, found: list[Pulse], grid: Grid
) -> list[Pulse] | None:
    """Where the pulses found do not make a layout's rows: the rows of traces (trace_rows). With
    pulses found on two rows or more, each row keeps its own, the others take the nearest one's
    moved to them (carts print every row's pulse in one column, at one gain; read_row starts a
    row at its first ink where that is more than 1 mm off). With fewer (not printed, cut off, or
    printed at the rows' right ends), the page is read at 10 mm/mV and 25 mm/s, or at the
    right-end pulses' size, each row's time 0 at its first ink. Either way only where the rows run
    the 250 mm of 10 s from time 0: a row cut short by the photo's edge, or a QRS complex taken
    for a pulse, would put every beat at the wrong moment. A trace running off the page's edge is
    paper_cut_off. None: no rows of a layout, or not 10 s long. `rows`, `mask` and `runs`: from
    page_trace_rows."""
    if len(rows) not in LAYOUT_ROWS:
        return None
    spacing = float(np.median(np.diff(rows)))
    right = right_end_pulses(ink, grid)
    ends = []  # per row: first ink, and where its trace ends (a right-end pulse's rise, or the last ink)
    right_on_rows: list[Pulse] = []
    for y in rows:
        first, last = trace_span(runs, y, 0.25 * spacing, grid)
        at_right = [p for p in right if abs(p.y_base - y) < 0.25 * spacing][:1]
        right_on_rows += at_right
        ends.append((first, at_right[0].x_rise if at_right else last))
    edge = grid.px_per_mm_x
    if min(a for a, _ in ends) < edge or max(b for _, b in ends) > len(runs.offsets) - 2 - edge:
        raise UnreadablePhoto(feedback.PAPER_CUT_OFF, "rows of traces run off the page's edge")
    before = PULSE_TO_TRACE_MM * grid.px_per_mm_x
    own = {i: p for i, y in enumerate(rows) for p in found if abs(p.y_base - y) < 0.25 * spacing}
    # One pulse alone may be a QRS complex taken for one (a page whose pulses are all covered).
    if len(own) >= 2:
        # Something else than a pulse (a QRS complex where the photo cut the rows' starts off) does
        # not stand 250 mm before the row's end.
        row_px = float(np.median([ends[i][1] - (p.x_fall + before) for i, p in own.items()]))
        if not ROW_MM_RANGE[0] <= row_px / grid.px_per_mm_x <= ROW_MM_RANGE[1]:
            return None
        pulses: list[Pulse] = []
        for i, y in enumerate(rows):
            if i in own:
                pulses.append(own[i])
                continue
            nearest = own[min(own, key=lambda j: abs(rows[j] - y))]
            pulses.append(
                replace(nearest, y_base=y, y_top=y - (nearest.y_base - nearest.y_top), inferred=True)
            )
    else:
        row_px = float(np.median([b - a for a, b in ends]))
        if not ROW_MM_RANGE[0] <= row_px / grid.px_per_mm_x <= ROW_MM_RANGE[1]:
            return None
        # A row longer than the others starts with something else than its trace: a lead name,
        # what the photo left of a pulse. The rows of a page are printed equally long.
        starts = [b - row_px if b - a > row_px + 1.5 * edge else a for a, b in ends]
        if len(right_on_rows) >= len(rows) / 2:
            height = float(np.median([p.y_base - p.y_top for p in right_on_rows]))
            span = float(np.median([p.x_fall - p.x_rise for p in right_on_rows]))
        elif pulses_hang_on(rows, ink, grid):
            # Read this way round at the common settings, an upside-down page's leads would run
            # backwards and upside down: refused, and digitize_image turns it.
            raise UnreadablePhoto(feedback.LAYOUT_NOT_RECOGNIZED, "the page is upside down")
        else:
            height, span = ASSUMED_PULSE_MM[0] * grid.px_per_mm_y, ASSUMED_PULSE_MM[1] * edge
        pulses = [
            Pulse(
                x_rise=a - before - span,
                x_fall=a - before,
                y_base=y,
                y_top=y - height,
                x_end=a - edge,
                inferred=True,
            )
            for y, a in zip(rows, starts, strict=True)
        ]
    # A row of traces that trace_rows missed (a lead's large waves keep it off its baseline) would
    # put the leads of every row in the wrong places.
    return pulses if unpulsed_row(mask, pulses, grid) is None else None


def ink_in_row(runs: Runs, baseline: float, reach: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of the page, whether it has ink within `reach` of a row's baseline; and per run,
    its column and whether it lies there."""
    page_w = len(runs.offsets) - 1
    column = np.repeat(np.arange(page_w), np.diff(runs.offsets))
    near = (runs.stops > baseline - reach) & (runs.starts < baseline + reach)
    return np.bincount(column[near], minlength=page_w) > 0, column, near


def trace_span(runs: Runs, baseline: float, reach: float, grid: Grid) -> tuple[int, int]:
    """The first and last column of a row's trace: where ink within `reach` of the baseline runs on
    through 80 % of the next (previous) 5 mm; a speck, the page's dark edge or a pulse's top stroke
    above the reach does not."""
    page_w = len(runs.offsets) - 1
    inked, _, _ = ink_in_row(runs, baseline, reach)
    window = max(1, round(5 * grid.px_per_mm_x))
    share = np.convolve(inked, np.ones(window) / window, mode="full")  # share[i]: columns i-window+1..i
    onward = np.flatnonzero(share[window - 1 :] >= 0.8)  # windows starting at each column
    backward = np.flatnonzero(share[:page_w] >= 0.8)  # windows ending at each column
    if onward.size == 0:
        return 0, 0
    # The window's own first (last) inked column: up to a fifth of it may be blank.
    first = int(onward[0]) + int(np.argmax(inked[onward[0] :]))
    last = int(backward[-1]) - int(np.argmax(inked[: backward[-1] + 1][::-1]))
    return first, last


def right_end_pulses(ink: np.ndarray, grid: Grid) -> list[Pulse]:
    """Pulses printed at the right ends of the rows (some carts), found as left ones in the
    mirrored page, in the ink as the trace is read and then fainter (PULSE_FAINT_INK; gaps
    bridged); x_rise is the pulse's left stroke, where the row's trace ends."""
    mirrored = np.ascontiguousarray(ink[:, ::-1])
    best: list[Pulse] = []
    for level in (INK_THRESHOLD, *PULSE_FAINT_INK):
        found = faint_pulses(mirrored, grid, level)
        best = found if len(found) > len(best) else best
    last = ink.shape[1] - 1
    return [replace(p, x_rise=last - p.x_fall, x_fall=last - p.x_rise, x_end=last - p.x_rise) for p in best]


def pulses_hang_on(rows: list[float], ink: np.ndarray, grid: Grid) -> bool:
    """Whether pulses hang down from two of the rows' baselines or more, at their starts or ends:
    an upside-down page's (found as upright left ones in the page turned upside down, or flipped
    top to bottom, in the ink as the trace is read or fainter). A pulse standing up, seen upside
    down, passes for a hanging one a pulse's height (10 mm) off its row: within half of that is
    on it."""
    last = ink.shape[0] - 1
    near = 0.5 * ASSUMED_PULSE_MM[0] * grid.px_per_mm_y
    for view in (ink[::-1, ::-1], ink[::-1, :]):
        for level in (INK_THRESHOLD, *PULSE_FAINT_INK):
            found = faint_pulses(np.ascontiguousarray(view), grid, level)
            if sum(any(abs(last - p.y_base - y) < near for y in rows) for p in found) >= 2:
                return True
    return False


def widened_pulses(mask: np.ndarray, ink: np.ndarray, grid: Grid, width: float) -> list[Pulse]:
    """Pulses in the ink widened sideways by PULSE_WIDEN_MM, short gaps bridged: a thin stroke
    that leans (a page photographed at an angle) or breaks into pieces offset sideways (ecg00043)
    leaves only short runs in each pixel column, too short to be a pulse's stroke."""
    widen = 2 * round(PULSE_WIDEN_MM * grid.px_per_mm_x / 2) + 1
    wide = cv2.dilate(mask.astype(np.uint8), np.ones((1, widen), np.uint8)).astype(bool)
    return find_pulses(wide, ink, vertical_runs(wide), grid, width + widen - 1, bridge_mm=PULSE_BRIDGE_MM)


def faint_pulses(ink: np.ndarray, grid: Grid, level: float) -> list[Pulse]:
    """Pulses in the ink from `level` on, short gaps bridged."""
    faint = ink > level
    runs = vertical_runs(faint)
    return find_pulses(faint, ink, runs, grid, line_width(runs), bridge_mm=PULSE_BRIDGE_MM)


def completed_pulses(mask: np.ndarray, pulses: list[Pulse], grid: Grid) -> tuple[list[Pulse], bool]:
    """The pulses, with one inferred for a row whose own the photo cut off (or the cart left out),
    and whether one was. A second such row refuses the page: the rows cannot be told apart, and
    reading them as the first ones would put leads in the wrong places."""
    unpulsed = unpulsed_row(mask, pulses, grid)
    if unpulsed is None:
        return pulses, False
    pulses = with_inferred_pulse(pulses, unpulsed, mask, grid)
    if unpulsed_row(mask, pulses, grid) is not None:
        raise UnreadablePhoto(feedback.LAYOUT_NOT_RECOGNIZED, "rows without their calibration pulse")
    return pulses, True


def with_inferred_pulse(pulses: list[Pulse], baseline: float, mask: np.ndarray, grid: Grid) -> list[Pulse]:
    """The pulses with one for the row at `baseline` whose own is missing: where and how tall the
    nearest row's is (carts print every row's pulse in the same columns, at the same gain), at the
    height of its top stroke where that alone is printed (pulse_top)."""
    nearest = min(pulses, key=lambda p: abs(p.y_base - baseline))
    height = nearest.y_base - nearest.y_top
    inferred = Pulse(
        x_rise=nearest.x_rise,
        x_fall=nearest.x_fall,
        y_base=baseline,
        y_top=baseline - height,
        x_end=nearest.x_end,
        inferred=True,
    )
    top = pulse_top(mask, inferred, grid)
    if top is not None:
        inferred = replace(inferred, y_top=top, y_base=top + height)
    return sorted([*pulses, inferred], key=lambda p: p.y_base)


def pulse_top(mask: np.ndarray, pulse: Pulse, grid: Grid) -> float | None:
    """Where an inferred pulse's own top stroke lies (px), if it is printed within PULSE_TOP_MM of
    where the pulse was placed: a pixel row inked across most of the pulse's width and not before
    it (a grid line runs on). The baseline it was placed by is the trace's flat stretches', which
    a record's offset lifts or lowers: a kit-style dark blue page whose pulse edges lay on grid
    lines cleared with them read its row 1.1 mm low (0.5 dB); its top stroke stood clear."""
    x0, x1 = round(pulse.x_rise) + 2, round(pulse.x_fall) - 1
    span = x1 - x0
    reach = round(PULSE_TOP_MM * grid.px_per_mm_y)
    y0, y1 = max(0, round(pulse.y_top) - reach), min(mask.shape[0], round(pulse.y_top) + reach + 1)
    if span < 4 or x0 - span < 0 or y1 <= y0:
        return None
    inside = mask[y0:y1, x0:x1].mean(axis=1)
    before = mask[y0:y1, x0 - span : x0 - 2].mean(axis=1)
    stroke = (inside > 0.7) & (before < 0.3)
    if not stroke.any():
        return None
    rows = np.flatnonzero(stroke)
    runs = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    nearest = min(runs, key=lambda run: abs(y0 + run.mean() - pulse.y_top))
    return float(y0 + nearest.mean())


def printed_row_mm(runs: Runs, pulses: list[Pulse], grid: Grid, page_w: int) -> float:
    """How long the rows run on paper (mm, median over rows), from the pulse's end to the last ink."""
    spacing = row_spacing(pulses, grid)
    lengths = [
        trace_extent(runs, p.y_base, 0.5 * spacing, page_w - 1, round(p.x_end), -1) - p.x_end for p in pulses
    ]
    return float(np.median(lengths)) / grid.px_per_mm_x


def with_pitch(grid: Grid, pitch: tuple[float, float] | None) -> Grid:
    """The grid, at px per mm `pitch` where one is given."""
    return grid if pitch is None else replace(grid, px_per_mm_x=pitch[0], px_per_mm_y=pitch[1])


def square(px_per_mm_x: float, px_per_mm_y: float) -> bool:
    """Whether a grid's pitch across and down the flattened page are about alike: the paper is
    square, and the page's outline is flattened to within SQUARE_PITCH (real photos 0.96-1.11,
    rendered hard photos 0.87-1.10)."""
    return 1 / SQUARE_PITCH < px_per_mm_x / px_per_mm_y < SQUARE_PITCH


def second_look_pitch(
    grid: Grid, gain: float | None, profiles: tuple[np.ndarray, np.ndarray]
) -> tuple[float, float] | None:
    """The px per mm to read the photo again at, or None. The pulses are the page's own scale:
    their height fitting no gain says the grid was misread, as does a grid far from square; then
    the pitch of the grid's 1 mm lines (fine_line_pitch, from the first look's line profiles), where
    it differs from the grid's by 10 % or more on an axis and is square (dark blue and dark green
    papers' combs locked onto 1.6-2x the pitch, or 0.8x across the page only)."""
    if gain is not None and square(grid.px_per_mm_x, grid.px_per_mm_y):
        return None
    pitch = fine_line_pitch(*profiles)
    differs = max(abs(pitch[0] / grid.px_per_mm_x - 1), abs(pitch[1] / grid.px_per_mm_y - 1)) >= 0.1
    return pitch if differs and square(*pitch) else None


def without_pulses(glare: float, cut_off: bool) -> UnreadablePhoto:
    """Why a page shows no calibration pulse, nor rows of traces to read without them."""
    if glare > GLARE_SHARE:
        return UnreadablePhoto(feedback.GLARE)
    if cut_off:
        return UnreadablePhoto(feedback.PAPER_CUT_OFF)
    return UnreadablePhoto(feedback.LAYOUT_NOT_RECOGNIZED)


def settled(before: Grid, after: Grid, within: float) -> Grid:
    """The grid measured again on the straightened page, where it agrees with the first reading
    (within `within`, per axis: 20 % after a measured grid): straightening changes the scale a
    little, never twofold; a twofold answer is the comb locking onto every other major line."""

    def pick(old: float, new: float) -> float:
        return new if abs(new / old - 1) < within else old

    return Grid(
        pick(before.px_per_mm_x, after.px_per_mm_x),
        pick(before.px_per_mm_y, after.px_per_mm_y),
        after.strength,
    )


def _centre(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    return a[h // 5 : h - h // 5, w // 5 : w - w // 5]


def check_grid(grid: Grid, corners: np.ndarray, views: Views, mask: np.ndarray) -> None:
    """No grid found (no_grid), or paper too small in the photo to read (too_small). Few pixels on
    grid lines and no clear comb: no grid; few, but a clear comb: a grid of faint lines (pink paper
    whose 1 mm lines are nearly white, 3-5 % of the page on a photo); a fairly clear comb over 3 %
    of the page or more (FAINT_GRID_STRENGTH, FAINT_GRID_SHARE) as well."""
    if grid.strength < MIN_GRID_STRENGTH:
        raise UnreadablePhoto(feedback.NO_GRID)
    share = grid_line_share(views, mask)
    faint_but_clear = grid.strength >= FAINT_GRID_STRENGTH and share >= FAINT_GRID_SHARE
    if share < MIN_GRID_LINE_SHARE and grid.strength < CLEAR_GRID_STRENGTH and not faint_but_clear:
        raise UnreadablePhoto(feedback.NO_GRID)
    if page.photo_px_per_mm(corners, grid.px_per_mm_x) < MIN_PHOTO_PX_PER_MM:
        raise UnreadablePhoto(feedback.TOO_SMALL)


def grid_line_share(views: Views, mask: np.ndarray) -> float:
    """Share of the page's centre on grid lines (not ink)."""
    return float((_centre(views.lines > GRID_LINE_LEVEL) & ~_centre(mask)).mean())


def check_page(views: Views, mask: np.ndarray) -> None:
    """Refuse what cannot be an ECG printout before looking for one: blur, a page with nothing
    drawn on it, a scene. Measured on the page's central part (the paper's edges and what lies
    around them say nothing); grid lines are checked with the grid (check_grid)."""
    ink_share = float(_centre(mask).mean())
    if sharpness(views) < MIN_SHARPNESS and (ink_share > 0.001 or grid_line_share(views, mask) > 0.02):
        raise UnreadablePhoto(feedback.TOO_BLURRY)
    if ink_share < 0.002:
        raise UnreadablePhoto(feedback.NOT_AN_ECG)  # blank paper, or no dark lines at all
    if ink_share > 0.25:
        raise UnreadablePhoto(feedback.NOT_AN_ECG)  # large dark areas: a scene, not a printout


def glare_share(views: Views, mask: np.ndarray, grid: Grid) -> float:
    """Share of the page's central 10 mm tiles where the grid has vanished (washed out by a
    reflection) while the rest of the page shows it."""
    tile = max(4, round(10 * grid.px_per_mm_x))
    lined = _centre((views.lines > GRID_LINE_LEVEL) & ~mask).astype(np.float32)
    h, w = lined.shape
    rows, cols = h // tile, w // tile
    if rows < 2 or cols < 2:
        return 0.0
    per_tile = lined[: rows * tile, : cols * tile].reshape(rows, tile, cols, tile).mean(axis=(1, 3))
    return float((per_tile < 0.2 * np.median(per_tile)).mean())


def detect_layout(
    runs: Runs,
    pulses: list[Pulse],
    grid: Grid,
    mm_of_x: np.ndarray | None,
    width: float,
    speed: float,
) -> str:
    """The layout from the number of rows: 3x4 with no, one or two rhythm strips; six rows are 3x4 +
    three rhythm strips or 6x2, told apart by the column-change ticks: at 1/4 and 3/4 of the top
    rows (3x4) against 1/2 of the bottom rows (6x2), each share of the ticks that could be there."""
    rows = len(pulses)
    if rows == 3:
        return "3x4"
    if rows == 4:
        return "3x4+1"
    if rows == 5:
        return "3x4+2"
    if rows == 6:
        duration = TRACE_MM / speed
        columns = np.arange(len(runs.offsets) - 1, dtype=np.float64)

        def tick_at(pulse: Pulse, fraction: float) -> bool:
            seconds = TimeAxis(mm_of_x, grid.px_per_mm_x, speed, pulse.x_fall).seconds(columns)
            x = float(np.interp(fraction * duration, seconds, columns))
            return _has_tick(runs, pulse, x, grid, width)

        quarters = np.mean([tick_at(p, f) for p in pulses[:3] for f in (0.25, 0.75)])
        halves = np.mean([tick_at(p, 0.5) for p in pulses[3:]])
        return "3x4+3" if quarters >= halves else "6x2"
    raise UnreadablePhoto(feedback.LAYOUT_NOT_RECOGNIZED, f"{rows} calibration pulses")


def _has_tick(runs: Runs, pulse: Pulse, x: float, grid: Grid, width: float) -> bool:
    """A column separator: a vertical stroke across the baseline, 3 mm or more long."""
    lo, hi = pulse.y_base - 1.5 * grid.px_per_mm_y, pulse.y_base + 1.5 * grid.px_per_mm_y
    for column in range(round(x - width / 2 - 1), round(x + width / 2 + 2)):
        if 0 <= column < len(runs.offsets) - 1:
            starts, stops = runs.column(column)
            if ((starts <= lo) & (stops >= hi)).any():
                return True
    return False


@dataclass
class TimeAxis:
    """One row's columns to seconds after time 0: through the grid's own mm scale where it was
    fitted (a residual perspective makes the pitch drift), from the pulse's falling edge."""

    mm_of_x: np.ndarray | None  # cubic coefficients, px -> mm
    px_per_mm: float
    speed: float
    x_fall: float
    shift: float = 0.0  # seconds, where the trace does not start where the convention says
    zero_mm: float = PULSE_TO_TRACE_MM  # time 0's distance from the falling edge (<= 0: trace runs on)

    def seconds(self, x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.mm_of_x is None:
            mm = (x - self.x_fall) / self.px_per_mm
        else:
            mm = np.polyval(self.mm_of_x, x) - np.polyval(self.mm_of_x, self.x_fall)
        return (mm - self.zero_mm) / self.speed - self.shift


@dataclass
class RowReading:
    segments: list[tuple[str, int, int, np.ndarray]]  # lead, first and stop sample, mV
    shares: dict[str, float]  # per lead, the share of its columns the trace was followed on
    problems: list[str]
    points: list[np.ndarray]  # per segment read, its trace points (px, [n, 2])
    trace: RowTrace  # the path followed, to time again (align_rows)


@dataclass
class RowRead:
    """A row of the page, as read: its leads, pulse, time axis and scale."""

    row: list[tuple[str, float, float]]
    pulse: Pulse
    axis: TimeAxis
    px_per_mv: float
    reading: RowReading


def line_cap(width: float) -> float:
    """How far (px) a printed line's round cap reaches past its end point: the first or last ink of
    a trace lies this much before or after its first or last sample."""
    return max(0.0, (width - 1) / 2)


def read_row(
    runs: Runs,
    ink: np.ndarray,
    row: list[tuple[str, float, float]],
    pulse: Pulse,
    other_baselines: list[float],
    axis: TimeAxis,
    spacing: float,
    width: float,
    px_per_mv: float,
    cut_off_possible: bool,
) -> RowReading:
    page_w = ink.shape[1]
    duration = row[-1][2]
    problems: list[str] = []
    runs_on = axis.zero_mm <= 0  # the trace starts at the falling edge, not after a stub and a gap
    first_x = round(pulse.x_fall + width if runs_on else pulse.x_end + 0.5 * axis.px_per_mm)
    first = trace_extent(runs, pulse.y_base, 0.5 * spacing, first_x, page_w - 1, 1)
    last = trace_extent(runs, pulse.y_base, 0.5 * spacing, page_w - 1, first, -1)
    cap = line_cap(width)
    start_s = float(axis.seconds(first + cap))
    if abs(start_s) * axis.speed > 1.0:  # another cart's convention: trust the trace's first ink
        axis.shift += start_s
        problems.append("trace_start_not_at_convention")
    if float(axis.seconds(last - cap)) < 0.97 * duration:  # the row stops short of its 250 mm
        if last >= page_w - 2 * axis.px_per_mm or cut_off_possible:
            raise UnreadablePhoto(feedback.PAPER_CUT_OFF)
        problems.append("row_shorter_than_printed")
    reach = 0.95 * spacing
    # Each lead's trace starts afresh where the row changes leads (ecg-image-kit draws the columns
    # apart; carts with a separator tick too): the follower may jump there. Held to the last
    # lead's end, the path went down into the next lead's printed name beside its first QRS.
    columns = np.arange(first, last + 1)
    changes = tuple(float(np.interp(start, axis.seconds(columns), columns)) for _, start, _ in row[1:])
    trace = follow_row(
        runs,
        ink,
        pulse.y_base,
        other_baselines,
        first,
        min(page_w, last + 1),
        reach,
        width,
        INK_THRESHOLD,
        changes,
    )
    segments, shares, points = row_segments(trace, row, axis, pulse.y_base, px_per_mv, width)
    return RowReading(segments, shares, problems, points, trace)


def row_segments(
    trace: RowTrace,
    row: list[tuple[str, float, float]],
    axis: TimeAxis,
    baseline: float,
    px_per_mv: float,
    width: float,
) -> tuple[list[tuple[str, int, int, np.ndarray]], dict[str, float], list[np.ndarray]]:
    """A row's trace cut into its leads' stretches on the time axis, as samples."""
    t = axis.seconds(trace.x)
    point_t = axis.seconds(trace.point_x)
    point_v = (baseline - trace.point_y) / px_per_mv
    # The separator tick at a column change is not the trace: leave its columns out.
    near_tick = np.zeros(len(t), dtype=bool)
    for _, boundary, _ in row[1:]:
        near_tick |= np.abs(t - boundary) * axis.speed * axis.px_per_mm < width / 2 + 1.5
    segments, shares, points = [], {}, []
    for lead, start, stop in row:
        in_segment = (t >= start - 0.004) & (t < stop + 0.004) & ~near_tick
        # Columns the path only wandered through (onto a neighbour's trace, the page's edge) are
        # bridged, not read: taken as read, they put 0.4 s of the next row's trace into a lead.
        usable = in_segment[trace.point_column] & np.isfinite(point_v) & trace.followed[trace.point_column]
        shares[lead] = float(trace.followed[in_segment].mean()) if in_segment.any() else 0.0
        if shares[lead] < MIN_FOLLOWED or usable.sum() < 10:
            continue
        a, b = round(start * FS), min(N_SAMPLES, round(stop * FS))
        segments.append((lead, a, b, samples(point_t[usable], point_v[usable], a, b)))
        points.append(np.stack([trace.point_x[usable], trace.point_y[usable]], axis=1))
    return segments, shares, points


def samples(t: np.ndarray, v: np.ndarray, first: int, stop: int) -> np.ndarray:
    """Samples first..stop-1 at FS from centre-line points (t s, v mV): the points falling within
    half a sample of one another are averaged (a steep stroke gives several per sample), then
    linear interpolation at the sample times."""
    index = np.round(t * FS).astype(np.int64)
    index -= index.min()
    counts = np.bincount(index)
    hit = counts > 0
    mean_t = np.bincount(index, weights=t)[hit] / counts[hit]
    mean_v = np.bincount(index, weights=v)[hit] / counts[hit]
    return np.interp(np.arange(first, stop) / FS, mean_t, mean_v)


def stroke_break_mm(
    runs: Runs, pulse: Pulse, grid: Grid, width: float, below: float, *, nearest: bool
) -> float:
    """The longest break (mm) in the stroke that leaves the pulse's falling edge, up to just past
    where our convention puts time 0: 0 where one stroke runs on unbroken, each column's ink
    touching the previous column's (a cart that starts the trace at the pulse's edge: ecg-image-kit,
    the 2024 Challenge's generator; a lead name printed next to the pulse, ecg00047, stands apart).
    After a break the stroke may resume a pixel higher or lower for each column missed. The stroke
    starts with the ink from the pulse's top to `below` px under its foot; it goes on with all the
    ink touching it, or (`nearest`) with the one run nearest the last: a trace that runs on starts
    at its first sample's height, not the foot, and a lead name printed beside it does not join it."""
    low, high = pulse.y_top - width, pulse.y_base + below
    last = min(len(runs.offsets) - 2, round(pulse.x_fall + (PULSE_TO_TRACE_MM + 0.5) * grid.px_per_mm_x))
    followed = pulse.y_base
    longest = missed = 0
    # In faint ink, from a line width past the stroke's edge: the stroke's fringe (JPEG ringing) is
    # neither trace nor break (kit-style hard photos broke on it: -2 dB). The union track starts
    # half a width sooner: started later, ecg00004's real 0.3-0.5 mm gaps read as hairs.
    first = round(pulse.x_fall + (1.5 if nearest else 1.0) * width)
    # A steep thin stroke's pixels step down or up by up to a line width where its antialiased edge
    # falls under the ink threshold (kit-style dark blue scans broke for 0.6-0.8 mm on a T wave's
    # slope and were read 1.4 mm late, below 0 dB).
    step = max(1.0, width)
    for x in range(first, last + 1):
        starts, stops = runs.column(x)
        touching = (stops >= low + 1 - step - missed) & (starts <= high + step + missed)
        if not touching.any():
            missed += 1
            longest = max(longest, missed)
            continue
        missed = 0
        starts, stops = starts[touching], stops[touching]
        if nearest:
            pick = int(np.argmin(np.abs((starts + stops) / 2 - followed)))
            starts, stops = starts[pick : pick + 1], stops[pick : pick + 1]
            followed = float(starts[0] + stops[0]) / 2
        low, high = float(starts.min()) - 1, float(stops.max())
    return longest / grid.px_per_mm_x


def time_zero(
    runs: Runs,
    faint_runs: Callable[[], Runs],
    pulses: list[Pulse],
    rows: list[list[tuple[str, float, float]]],
    axes: list[TimeAxis],
    grid: Grid,
    spacing: float,
    width: float,
    gain: float,
) -> list[Pulse]:
    """Where each row's time 0 lies, set on its axis: the convention's 3 mm after the falling edge,
    moved to where the column-change ticks put it; or, on a page whose traces run on from their
    pulses, the falling edge itself, and then the pulses are returned with their baselines 1 mV
    below the top stroke (the ink right of the edge is the trace, not a stub at 0 mV: measured
    there, the trace's first value pulled the baseline by half, 0.2-0.3 mm on ecg_kit_style pages)."""
    speed = axes[0].speed
    ticks = [
        o for row, p, a in zip(rows, pulses, axes, strict=True) for o in tick_offset(runs, p, row, a, grid)
    ]
    # The ticks agree on where time 0 is better than the pulse's edge does near the page's edge.
    if len(ticks) >= 3 and abs(float(np.median(ticks))) * speed < 0.5:
        for axis in axes:
            axis.shift = float(np.median(ticks))
    breaks = [stroke_break_mm(runs, p, grid, width, 0.5 * spacing, nearest=False) for p in pulses]
    # Half the rows or more run on (unbroken), and more than show a cart's gap: the others' strokes
    # break for a few pixels only (a thin trace on a blurred photo; a tie of 2 rows in 4 was
    # read 3 mm late, below 0 dB, on such kit-style photos). One row alone does not decide: a
    # real cart's stub can touch its trace. Where blur broke the start for longer, the rows' ends
    # and the fainter ink tell (faded_run_on).
    if not runs_on(breaks) and not faded_run_on(runs, faint_runs, pulses, axes, grid, spacing, width):
        return pulses
    for axis in axes:
        axis.zero_mm, axis.shift = -RUN_ON_LEAD_S * speed, 0.0
    return [replace(p, y_base=p.y_top + gain * grid.px_per_mm_y) for p in pulses]


def runs_on(breaks: list[float], *, ends_agree: bool = False) -> bool:
    """Half the rows or more run on (unbroken), and more than show a cart's gap. Where every row's
    end says the traces run on (`ends_agree`, three rows at least), a row that runs on and no more
    rows with a cart's gap than that will do: kit-style hard photos whose rows all ended 247-250 mm
    on, their faint strokes unbroken in two rows of four (two gapped), or in one (the others broken
    for 0.5 mm, neither way), were read from their first ink, 1.2 mm late (-1.8 and -2.9 dB)."""
    unbroken, gapped = sum(b < HAIR_GAP_MM for b in breaks), sum(b >= CART_GAP_MM for b in breaks)
    if ends_agree:
        return unbroken >= max(1, gapped)
    return 2 * unbroken >= len(breaks) and unbroken > gapped


def faded_run_on(
    runs: Runs,
    faint_runs: Callable[[], Runs],
    pulses: list[Pulse],
    axes: list[TimeAxis],
    grid: Grid,
    spacing: float,
    width: float,
) -> bool:
    """Whether the traces run on from their pulses where blur breaks their thin start (ecg-image-kit's
    hard photos): the rows end 10 s after the falling edge, not 10 s after a cart's stub and gap
    (most rows whose end can be seen, two at least: run_on_ends), and followed in fainter ink,
    most run on unbroken (`faint_runs`: the runs of ink over FAINT_TRACE_INK)."""
    measured = [end for end in run_on_ends(runs, pulses, axes, spacing, width) if end is not None]
    near = sum(-RUN_ON_END_MM[0] <= end - TRACE_MM <= RUN_ON_END_MM[1] for end in measured)
    if near < 2 or 2 * near <= len(measured):
        return False
    reach = TRACE_START_REACH_MM * grid.px_per_mm_y
    breaks = [stroke_break_mm(faint_runs(), p, grid, width, reach, nearest=True) for p in pulses]
    return runs_on(breaks, ends_agree=near >= 3 and near == len(measured))


def run_on_ends(
    runs: Runs, pulses: list[Pulse], axes: list[TimeAxis], spacing: float, width: float
) -> list[float | None]:
    """Per row, where its trace ends (mm after time 0 if the trace ran on from the pulse: 250 where
    it does), or None where that cannot be seen (trace_end)."""
    cap = line_cap(width)
    ends: list[float | None] = []
    for pulse, axis in zip(pulses, axes, strict=True):
        last = trace_end(runs, pulse.y_base, 0.5 * spacing, axis.px_per_mm)
        on = replace(axis, zero_mm=-RUN_ON_LEAD_S * axis.speed, shift=0.0)
        ends.append(None if last is None else float(on.seconds(last - cap)) * axis.speed)
    return ends


def trace_end(runs: Runs, baseline: float, reach: float, px_per_mm: float) -> int | None:
    """The last column of a row's trace: the right end of the rightmost stretch of columns with ink
    in the row (pieces up to FADE_GAP_MM apart are one), passing over a band along the page's right
    edge (a border or shadow the flattening kept: EDGE_BAND_MM wide at most) and over narrow
    stretches (LINE_MM at most) that do not carry on the trace: a grid line passing for ink (a run
    taller than LINE_TALL_MM) or a speck off the height of the ink left of it (by LINE_TALL_MM); and
    over single columns of ink, which no stroke a line wide ends in: the specks a cleared dark grid
    leaves at its lines' crossings, which went on at one height to the page's edge (a kit-style dark
    blue scan's rows ended 260 mm on, not 250). A blurred thin trace ends in pieces a few pixels
    long, 1-1.5 mm apart, at one height. None where wider ink reaches the edge: the trace may run
    off the page."""
    page_w = len(runs.offsets) - 1
    inked, column, in_row = ink_in_row(runs, baseline, reach)
    column, starts, stops = column[in_row], runs.starts[in_row], runs.stops[in_row]
    edges = np.diff(np.concatenate([[0], inked.astype(np.int8), [0]]))
    stretches: list[list[int]] = []
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if stretches and start - stretches[-1][1] <= FADE_GAP_MM * px_per_mm:
            stretches[-1][1] = int(stop)
        else:
            stretches.append([int(start), int(stop)])

    def height_and_tallest(k: int) -> tuple[float, int]:
        inside = (column >= stretches[k][0]) & (column < stretches[k][1])
        return float(np.mean(starts[inside] + stops[inside])) / 2, int(np.max(stops[inside] - starts[inside]))

    tall = LINE_TALL_MM * px_per_mm
    for k in range(len(stretches) - 1, -1, -1):
        wide = stretches[k][1] - stretches[k][0]
        at_edge = stretches[k][1] >= page_w - EDGE_BLANK_MM * px_per_mm
        if (at_edge and wide <= EDGE_BAND_MM * px_per_mm) or (wide == 1 and k > 0):
            continue
        if wide <= LINE_MM * px_per_mm and k > 0:
            height, tallest = height_and_tallest(k)
            if tallest > tall or abs(height - height_and_tallest(k - 1)[0]) > tall:
                continue
        return None if at_edge else stretches[k][1] - 1
    return None


def tick_offset(
    runs: Runs, pulse: Pulse, row: list[tuple[str, float, float]], axis: TimeAxis, grid: Grid
) -> list[float]:
    """Seconds by which the printed column-change ticks of a row sit later than the time axis puts
    their moment: independent anchors for time 0 inside the page, where the grid fit is best."""
    lo, hi = pulse.y_base - 1.5 * grid.px_per_mm_y, pulse.y_base + 1.5 * grid.px_per_mm_y
    columns = np.arange(len(runs.offsets) - 1, dtype=np.float64)
    seconds = axis.seconds(columns)
    offsets = []
    for _, boundary, _ in row[1:]:
        expected = float(np.interp(boundary, seconds, columns))
        half = round(1.0 * grid.px_per_mm_x)
        hits = []
        for column in range(round(expected) - half, round(expected) + half + 1):
            if 0 <= column < len(columns):
                starts, stops = runs.column(column)
                if ((starts <= lo) & (stops >= hi)).any():
                    hits.append(column)
        # A tick is one stroke a line wide; anything wider is a QRS complex crossing there.
        if hits and hits[-1] - hits[0] <= 6:
            offsets.append(float(axis.seconds(np.mean(hits))) - boundary)
    return offsets


def time_scales(
    views: Views, mask: np.ndarray, grid: Grid, pulses: list[Pulse]
) -> tuple[np.ndarray | None, list[np.ndarray | None]]:
    """The px -> mm scale along the page, and along each pulse's row: fitted to the grid's
    vertical lines in that row's band (half the row spacing above and below its baseline), the
    page's where the band's lines do not fit. Perspective left in a photo makes the pitch differ
    from row to row as well as across the page (ecg00032: the rows' last ink 9.91-9.96 s with
    the page's scale, 10.01-10.02 with each row's; the development set's photos gain 0.2 dB)."""
    lines = np.where(mask, 0.0, views.lines)  # once for the page and every row
    page_fit = x_to_mm(lines, grid)
    half = 0.5 * row_spacing(pulses, grid)
    rows = []
    for pulse in pulses:
        band = (max(0, round(pulse.y_base - half)), min(mask.shape[0], round(pulse.y_base + half)))
        fit = x_to_mm(lines, grid, band)
        rows.append(page_fit if fit is None else fit)
    return page_fit, rows


def lead_name_marks(ink: np.ndarray, x0: float, x1: float, y_base: float, grid: Grid) -> np.ndarray | None:
    """The ink between columns x0 and x1 near a row's baseline that is neither its trace nor its
    pulse, cropped to its marks (0/1 image; None without any): the printed lead name. The trace
    and the pulse run wider, taller or along the baseline; grid dots are smaller."""
    ppm = grid.px_per_mm_x
    half = 12.0 * ppm
    left, right = max(0, round(x0)), min(ink.shape[1], round(x1))
    top, bottom = max(0, round(y_base - half)), min(ink.shape[0], round(y_base + half))
    if right - left < 2 or bottom - top < 2:
        return None
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (ink[top:bottom, left:right] > INK_THRESHOLD).astype(np.uint8), connectivity=8
    )
    base, near = y_base - top, 0.75 * ppm
    keep = np.zeros(count, dtype=bool)
    for k in range(1, count):
        _, y, w, h, area = stats[k]
        off_baseline = y > base + near or y + h < base - near
        small = w < LABEL_MAX_MM[0] * ppm and h < LABEL_MAX_MM[1] * ppm
        keep[k] = small and off_baseline and area >= LABEL_MIN_MM2 * ppm * ppm
    marks = keep[labels]
    ys, xs = np.nonzero(marks)
    if ys.size == 0:
        return None
    return marks[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)


def names_match(a: np.ndarray | None, b: np.ndarray | None, shift: int) -> float:
    """How alike two printed names are: 0 unless their marks' extents agree within 30 %, else
    the best normalised correlation with `b` moved by up to `shift` px."""
    if a is None or b is None:
        return 0.0
    if max(abs(a.shape[0] / b.shape[0] - 1), abs(a.shape[1] / b.shape[1] - 1)) > 0.3:
        return 0.0
    template = cv2.copyMakeBorder(a, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=0)
    h, w = max(a.shape[0], b.shape[0]) + 2 * shift + 4, max(a.shape[1], b.shape[1]) + 2 * shift + 4
    image = np.zeros((h, w), dtype=np.float32)
    image[shift + 2 : shift + 2 + b.shape[0], shift + 2 : shift + 2 + b.shape[1]] = b
    return float(cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED).max())


def strip_leads(
    ink: np.ndarray,
    pulses: list[Pulse],
    axes: list["TimeAxis"],
    rows: list[list[tuple[str, float, float]]],
    layout: str,
    grid: Grid,
) -> tuple[str, ...] | None:
    """Which leads a page's rhythm strips print, read from the page itself: the names printed at
    row 2's start (II), at row 1's third column (V1) and row 2's fourth (V5), in the cart's own
    font and place, are looked for at each strip's start. A 3x4+3 page whose middle strip's
    name is clearly II is GE's V1, II, V5 (ecg00002, 00006, 00053); a 3x4+1 strip whose name is
    clearly V1 or V5 is that lead (ecg00009); each of a 3x4+2 page's two strips is the lead its
    name clearly is, the others the usual names left over. An unclear match keeps the layout's
    usual order; None for a layout without strips."""
    if layout not in STRIPS:
        return None
    ppm = grid.px_per_mm_x

    def at_pulse(pulse: Pulse) -> np.ndarray | None:
        return lead_name_marks(ink, pulse.x_rise - ppm, pulse.x_end + 14 * ppm, pulse.y_base, grid)

    def at_column(row: int, seconds: float) -> np.ndarray | None:
        columns = np.arange(ink.shape[1], dtype=np.float64)
        x = float(np.interp(seconds, axes[row].seconds(columns), columns))
        return lead_name_marks(ink, x - 0.5 * ppm, x + 12 * ppm, pulses[row].y_base, grid)

    known = {"II": at_pulse(pulses[1])}
    shift = round(1.0 * ppm)
    strips = [at_pulse(p) for p in pulses[3:]]
    if layout == "3x4+3":
        scores = [names_match(known["II"], strip, shift) for strip in strips]
        if scores[1] >= LABEL_MATCH and scores[1] - max(scores[0], scores[2]) >= LABEL_MARGIN:
            return STRIPS_GE
        return STRIPS[layout]
    known |= {"V1": at_column(0, rows[0][2][1]), "V5": at_column(1, rows[1][3][1])}

    def clear_name(strip: np.ndarray | None) -> str | None:
        scores = {name: names_match(marks, strip, shift) for name, marks in known.items()}
        best = max(scores, key=lambda name: scores[name])
        runner_up = max(score for name, score in scores.items() if name != best)
        return best if scores[best] >= LABEL_MATCH and scores[best] - runner_up >= LABEL_MARGIN else None

    if layout == "3x4+2":
        # Each strip its clearly printed name; the others the usual names left, in their order.
        clear = [clear_name(strip) for strip in strips]
        left = iter(name for name in STRIPS[layout] if name not in clear)
        names = tuple(name or next(left) for name in clear)
        return names if len(set(names)) == len(names) else STRIPS[layout]
    name = clear_name(strips[0])
    return (name,) if name is not None and name != "II" else STRIPS[layout]


def read_rows(
    runs: Runs,
    ink: np.ndarray,
    pulses: list[Pulse],
    layout: str,
    grid: Grid,
    row_mm_of_x: list[np.ndarray | None],
    width: float,
    gain: float,
    speed: float,
    cut_off_possible: bool,
) -> tuple[np.ndarray, dict[str, Any], list[np.ndarray]]:
    rows = layout_rows(layout, TRACE_MM / speed)
    spacing = row_spacing(pulses, grid)
    signal = np.full((N_SAMPLES, 12), np.nan, dtype=np.float32)
    shares: dict[str, float] = {}
    problems: list[str] = []
    points: list[np.ndarray] = []
    axes = [
        TimeAxis(fit, grid.px_per_mm_x, speed, pulse.x_fall)
        for fit, pulse in zip(row_mm_of_x, pulses, strict=True)
    ]
    # Fainter ink's runs, made once where first needed: a trace's start broken by blur (time_zero),
    # a row's trace too faint to follow (below).
    faint_runs = cache(lambda: vertical_runs(ink > FAINT_TRACE_INK))
    twice: list[float] = []  # per lead printed twice: how well its two readings agree (dB)
    pulses = time_zero(runs, faint_runs, pulses, rows, axes, grid, spacing, width, gain)
    baselines = [p.y_base for p in pulses]
    strips = strip_leads(ink, pulses, axes, rows, layout, grid)
    rows = layout_rows(layout, TRACE_MM / speed, strips)
    read: list[RowRead] = []
    for row, pulse, axis in zip(rows, pulses, axes, strict=True):
        px_per_mv = pulse.y_base - pulse.y_top  # the 1 mV pulse, measured where this row lies
        if abs(px_per_mv / (gain * grid.px_per_mm_y) - 1) > 0.1:
            px_per_mv = gain * grid.px_per_mm_y
        others = [b for b in baselines if b != pulse.y_base]
        reading = read_row(runs, ink, row, pulse, others, axis, spacing, width, px_per_mv, cut_off_possible)
        if min(reading.shares.values()) < MIN_FOLLOWED:
            try:
                fainter = read_row(
                    faint_runs(),
                    ink,
                    row,
                    pulse,
                    others,
                    replace(axis),
                    spacing,
                    width,
                    px_per_mv,
                    cut_off_possible,
                )
            except UnreadablePhoto:  # fainter ink reaching the page's edge: the first reading stands
                fainter = reading
            if len(fainter.segments) > len(reading.segments):
                reading = fainter
        read.append(RowRead(row, pulse, axis, px_per_mv, reading))
    align_rows(read, width)
    for row_read in read:
        reading = row_read.reading
        problems += reading.problems
        points += reading.points
        for lead, a, b, values in reading.segments:
            column = signal[:, LEAD[lead]]
            if np.isfinite(column).any():  # printed twice: II in its column and as the rhythm strip
                twice.append(round(agreement_db(column[a:b], values), 1))
            # The longer stretch wins.
            if np.isfinite(column).sum() < b - a:
                signal[:, LEAD[lead]] = np.nan
                signal[a:b, LEAD[lead]] = values
        for lead, share in reading.shares.items():
            shares[lead] = max(share, shares.get(lead, 0.0))
    printed = {lead for row in rows for lead, _, _ in row}
    missing = sorted(printed - {STANDARD_LEADS[i] for i in range(12) if np.isfinite(signal[:, i]).any()})
    if missing:
        problems.append("leads_not_read")
    score = float(np.mean([shares.get(lead, 0.0) for lead in printed]))
    if score < 0.5 or len(missing) > len(printed) // 2:
        raise UnreadablePhoto(feedback.TRACE_NOT_READABLE)
    pulse_mm = float(np.median([p.y_base - p.y_top for p in pulses])) / grid.px_per_mm_y
    quality = {
        "score": round(score, 3),
        "problems": sorted(set(problems)),
        "leads_not_read": missing,
        "px_per_mm": [round(grid.px_per_mm_x, 3), round(grid.px_per_mm_y, 3)],
        "pulse_height_mm": round(pulse_mm, 2),
        "rhythm_strips": list(strips or ()),
        "printed_twice_agreement_db": twice,
    }
    return signal, quality, points


def align_rows(rows: list[RowRead], width: float) -> None:
    """Put the rows' beats back in step. A cart prints its rows at the same moments, so each QRS
    complex falls at one time in every row; a row whose time 0 was misplaced (its pulse inferred
    from another row's where the photo leaves rows out of line, its trace's first ink taken for
    time 0) reads its beats early or late. The lags between pairs of rows are measured on their
    beats (beat_lag) and solved for each row's (row_lags); a majority of the rows agreeing on a lag
    (majority_lag: a row timed from a guess, its pulse inferred or its trace's first ink, has
    GUESSED_TIME_VOTE, one timed from its own pulse 1) times the rows more than ROW_STEP_S off it
    again onto it."""
    envelopes = [beat_envelope(r.reading.segments) for r in rows]
    lags: dict[tuple[int, int], tuple[float, float]] = {}
    for i, j in itertools.combinations(range(len(rows)), 2):
        first, second = envelopes[i], envelopes[j]
        # Two rows that print the same lead (II in its column and as the rhythm strip) are timed on
        # it alone: different leads' QRS complexes peak up to 0.02 s apart, one lead's do not.
        spans = [
            (max(a, c), min(b, d))
            for lead, a, b, _ in rows[i].reading.segments
            for other, c, d, _ in rows[j].reading.segments
            if lead == other
        ]
        if spans:
            window = np.zeros(N_SAMPLES, dtype=bool)
            for a, b in spans:
                window[a:b] = True
            first, second = np.where(window, first, np.nan), np.where(window, second, np.nan)
        found = beat_lag(first, second)
        if found is not None:
            lags[i, j], lags[j, i] = found, (-found[0], found[1])
    if not lags:
        return
    late = row_lags(lags, len(rows))
    votes = {i: 1.0 if timed_by_own_pulse(rows[i]) else GUESSED_TIME_VOTE for i in late}
    consensus = majority_lag(late, votes)
    if consensus is None:
        return
    for i, lag in late.items():
        off = (lag - consensus) / FS
        row = rows[i]
        if abs(off) < ROW_STEP_S:
            continue
        row.axis.shift += off
        segments, shares, points = row_segments(
            row.reading.trace, row.row, row.axis, row.pulse.y_base, row.px_per_mv, width
        )
        row.reading.problems.append("rows_out_of_step")
        row.reading = replace(row.reading, segments=segments, shares=shares, points=points)


def row_lags(lags: dict[tuple[int, int], tuple[float, float]], count: int) -> dict[int, float]:
    """Each row's lag (samples, up to a common constant) from the lags measured between pairs of
    rows, by least squares weighted by how alike each pair is: every pair's measurement counts,
    not only those with one row. Only the rows linked to the best linked row (by a chain of pairs)
    take part."""
    reference = max(range(count), key=lambda i: sum(r for (a, _), (_, r) in lags.items() if a == i))
    linked, frontier = {reference}, [reference]
    while frontier:
        i = frontier.pop()
        for a, b in lags:
            if a == i and b not in linked:
                linked.add(b)
                frontier.append(b)
    order = sorted(linked)
    pairs = [(a, b, lag, r) for (a, b), (lag, r) in lags.items() if a < b and a in linked]
    system = np.zeros((len(pairs) + 1, len(order)))
    target = np.zeros(len(pairs) + 1)
    for k, (a, b, lag, r) in enumerate(pairs):
        system[k, order.index(a)], system[k, order.index(b)], target[k] = r, -r, r * lag
    system[-1] = 1.0  # the common constant: any, the consensus sets it
    solution = np.linalg.lstsq(system, target, rcond=None)[0]
    return {i: float(v) for i, v in zip(order, solution, strict=True)}


def majority_lag(late: dict[int, float], votes: dict[int, float]) -> float | None:
    """The lag (samples) the rows agree on: the rows within ROW_STEP_S of one row's lag that hold
    the most votes, where they hold more than half of the votes of all rows given (their
    vote-weighted mean lag); None where no rows do (two rows in four each way: which pair is
    right cannot be told)."""
    step = ROW_STEP_S * FS
    best: list[int] = []
    for centre in late.values():
        near = [i for i, lag in late.items() if abs(lag - centre) <= step]
        if sum(votes[i] for i in near) > sum(votes[i] for i in best):
            best = near
    if sum(votes[i] for i in best) <= sum(votes.values()) / 2:
        return None
    return float(sum(votes[i] * late[i] for i in best) / sum(votes[i] for i in best))


def timed_by_own_pulse(row: RowRead) -> bool:
    return not row.pulse.inferred and "trace_start_not_at_convention" not in row.reading.problems


def beat_envelope(segments: list[tuple[str, int, int, np.ndarray]]) -> np.ndarray:
    """A row's activity over the 10 s (NaN where it is not read): each lead's absolute slope,
    smoothed over 20 ms and scaled to its 95th percentile, so that every lead's QRS complexes
    stand out alike."""
    envelope = np.full(N_SAMPLES, np.nan)
    for _, a, b, values in segments:
        slope = np.abs(np.diff(values.astype(np.float64), prepend=values[0]))
        slope = np.convolve(slope, np.ones(10) / 10, mode="same")
        scale = float(np.percentile(slope, 95))
        envelope[a:b] = slope / scale if scale > 0 else 0.0
    return envelope


def beat_lag(first: np.ndarray, second: np.ndarray) -> tuple[float, float] | None:
    """By how many samples the first row's beats fall later than the second's, and how alike the
    two envelopes are there (Pearson r): the best lag within ROW_LAG_S, None where no lag makes
    them alike (ROW_LAG_MIN_R) or they overlap for less than a second."""
    n, most = len(first), round(ROW_LAG_S * FS)
    best: tuple[float, float] | None = None
    for lag in range(-most, most + 1):
        x = first[lag:] if lag >= 0 else first[: n + lag]
        y = second[: n - lag] if lag >= 0 else second[-lag:]
        both = np.isfinite(x) & np.isfinite(y)
        if both.sum() < FS:
            continue
        x, y = x[both] - x[both].mean(), y[both] - y[both].mean()
        norm = float(np.sqrt((x * x).sum() * (y * y).sum()))
        r = float((x * y).sum()) / norm if norm > 0 else 0.0
        if best is None or r > best[1]:
            best = (float(lag), r)
    return best if best is not None and best[1] >= ROW_LAG_MIN_R else None


def agreement_db(first: np.ndarray, second: np.ndarray) -> float:
    """How alike two readings of the same stretch of a lead are, the Challenge's way: the mean
    power of the two against that of their difference (dB), over the samples both hold."""
    both = np.isfinite(first) & np.isfinite(second)
    if both.sum() < FS // 2:
        return float("nan")
    x, y = first[both].astype(np.float64), second[both].astype(np.float64)
    power = float(np.mean((x**2 + y**2) / 2))
    error = float(np.mean((x - y) ** 2))
    return float(10 * np.log10(max(power, 1e-12) / max(error, 1e-12)))
