"""Light-independent views of the flat page and the ECG grid's pitch (px per mm on each axis)."""

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

PITCH_5MM_RANGE = (15.0, 160.0)  # px per 5 mm we accept (3 to 32 px/mm)
HARMONICS = 10  # the 1 mm lines are the 5th harmonic of the 5 mm period
UNIFORM_LINES = 0.25  # a period's fundamental this weak against a harmonic: alike lines repeat within it
SQUARE = 1.4  # most the two axes' pitches differ on a flattened page (the outline's aspect is approximate)
INK_THRESHOLD = 0.42  # relative darkness in every channel from which a pixel is trace ink
# A dark grid (dark brown, green, blue or grey major lines) passes for ink: found as columns that
# ink covers over most of a band of the page (the trace covers a column for a QRS at most) ...
DARK_GRID_BANDS = 8
DARK_GRID_COVER = 0.6
DARK_GRID_LINES = 12  # ... many of them in most bands (a 250 mm row crosses 50 major lines)
DARK_GRID_ALL_LINES = 36  # or nearly every horizontal line (a 200 mm tall page crosses 40) ...
DARK_GRID_PART_COVER = 0.4  # ... and the vertical ones covered this far (development set: 0.3-0.4 alike)
DARK_GRID_MARGIN = 0.05
LINE_TRACE_MARGIN = 0.2  # a pixel this much darker than its own horizontal line is the trace on it
# The ink view measures the grid instead of the line view where its 5 mm comb is this clear (the
# development set's dark blue and green photos: 27-65; a red or pink grid leaves it no comb) ...
CLEAR_COMB = 20.0
# ... and its major lines stand out from the minor ones this many times better (those photos: 2.5-4.3;
# real photos whose line view's major lines are weaker than its 1 mm lines: at most 1.37)
MAJOR_LINES_CLEARER = 2.0
MAX_PAGE_MM = 300.0  # the most paper a flattened page spans across (A4 and US letter landscape: 280)


@dataclass
class Views:
    ink: np.ndarray  # float32 0..1: how dark a pixel is in every colour channel (the trace)
    lines: np.ndarray  # float32 0..1: how dark in its darkest channel (grid lines and the trace)


def _paper_level(channel: np.ndarray, size: int) -> np.ndarray:
    """The paper's local brightness under a channel: a dilation (max filter) wider than any line,
    smoothed, on a quarter-size copy, enlarged back."""
    h, w = channel.shape
    small = cv2.resize(channel, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    level = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    level = cv2.GaussianBlur(level.astype(np.float32), (0, 0), size)
    return cv2.resize(np.maximum(level, 1.0), (w, h), interpolation=cv2.INTER_LINEAR)


def normalise(page: np.ndarray) -> Views:
    """Divide out the paper's local brightness: uneven light and shadows become a flat white. A
    colour cast is removed first with one gain per channel (the cast is the same over the page).
    ink: the brightest channel stays dark only on the (black) trace; lines: the darkest channel
    is dark on grid lines of any colour as well (the ink view itself where only it tells the major
    lines from the minor ones: major_lines_clearer_in_ink)."""
    w = page.shape[1]
    size = max(5, (w // 4) // 90) | 1  # ~3 mm: wider than the trace, the grid lines and the QRS spikes
    white = np.percentile(page[::8, ::8].reshape(-1, 3), 90, axis=0).astype(np.float32)
    lut = np.stack([np.clip(np.arange(256) * (white.max() / max(c, 1.0)), 0, 255) for c in white], axis=1)
    balanced = cv2.LUT(page, lut.astype(np.uint8).reshape(256, 1, 3))
    b, g, r = cv2.split(balanced)
    brightest = cv2.max(cv2.max(b, g), r)
    darkest = cv2.min(cv2.min(b, g), r)
    ink = 1.0 - np.minimum(brightest.astype(np.float32) / _paper_level(brightest, size), 1.0)
    lines = 1.0 - np.minimum(darkest.astype(np.float32) / _paper_level(darkest, size), 1.0)
    level, on_lines = dark_grid(ink)
    if on_lines is not None:  # on a dark grid's lines, only what is darker than the lines is trace
        ink[on_lines & (ink <= level)] = 0.0
        return Views(ink=ink, lines=lines)  # the ink view keeps only the lines' fringes: no grid view
    return Views(ink=ink, lines=ink if major_lines_clearer_in_ink(ink, lines) else lines)


def major_lines_clearer_in_ink(ink: np.ndarray, lines: np.ndarray) -> bool:
    """Whether the grid's 5 mm lines stand out from its 1 mm lines far better in the ink view (the
    brightest channel) than in the line view (the darkest), which then hides which line of five is
    a major one: ecg-image-kit's dark blue and dark green papers, all of whose lines are black in
    the darkest channel and 0.6 against 0.3 dark in the brightest. There the straightening matched
    blocks a 1 mm line off and the time scale fitted a comb of the wrong lines: rows read 1-2 mm
    out of step. Judged at the ink view's 5 mm period, where its comb is clear; a line view whose
    major lines are as strong as its minor ones (every real photo's red, pink or grey grid) is
    kept."""
    trace = ink > INK_THRESHOLD
    in_ink, _ = line_profiles(Views(ink=ink, lines=ink), trace)
    period, strength = _comb_period(in_ink)
    # A comb finer than a page's width of paper allows is no grid (colour noise's resampling).
    if strength < CLEAR_COMB or period < 5.0 * ink.shape[1] / MAX_PAGE_MM:
        return False
    in_lines, _ = line_profiles(Views(ink=ink, lines=lines), trace)
    ink_ratio, lines_ratio = (_major_to_minor(_detrended(p, period), period) for p in (in_ink, in_lines))
    return lines_ratio < 1.0 and ink_ratio > MAJOR_LINES_CLEARER * lines_ratio


def dark_grid(ink: np.ndarray) -> tuple[float, np.ndarray | None]:
    """How dark a dark grid's lines are and where they lie (each widened by a pixel on either side),
    less the pixels clearly darker than their own horizontal line (the trace along it); or (1, None)
    where the grid's lines do not pass for ink."""
    mask = (ink > INK_THRESHOLD).astype(np.uint8)
    # Each pixel with its neighbours across the line: a line drawn between two columns of pixels
    # covers each of them about half the time.
    widened = (cv2.dilate(mask, np.ones((1, 3), np.uint8)), cv2.dilate(mask, np.ones((3, 1), np.uint8)).T)
    covers = [_band_covers(axis_mask) for axis_mask in widened]  # vertical, horizontal
    vertical_lines, horizontal_lines = (
        float(np.median([_lines_on(cover > DARK_GRID_COVER) for _, cover in bands])) for bands in covers
    )
    # Too few vertical lines pass for ink: a dark grid only as a grey grid scanned, whose every
    # horizontal line passes for ink and the vertical ones (drawn between two columns of pixels,
    # lighter) only in part. Left in, the lines on a row's baseline were followed through its QRS
    # complexes (ecg_kit_style's black-and-white scans: 4 dB).
    grey_scan = vertical_lines < DARK_GRID_LINES
    if grey_scan and horizontal_lines < DARK_GRID_ALL_LINES:
        return 1.0, None
    vertical_cover = DARK_GRID_PART_COVER if grey_scan else DARK_GRID_COVER
    vertical, horizontal = np.zeros(mask.shape, bool), np.zeros(mask.shape, bool)
    axes = zip(covers, (vertical, horizontal.T), (vertical_cover, DARK_GRID_COVER), strict=True)
    for bands, found, cover in axes:
        for rows, share in bands:
            on = share > cover
            found[rows, on | np.roll(on, 1) | np.roll(on, -1)] = True
    on_lines = vertical | horizontal
    # The lines' own darkness: the trace where it crosses them is a few per cent of their pixels,
    # and darker; the margin is JPEG's noise. Measured on the vertical lines and on the horizontal
    # ones, the lighter of the two: a flat stretch of trace passes for a horizontal line
    # (ecg00046), and the tall QRS complexes of a regular rhythm, in the same columns on every row,
    # for vertical ones (a kit-style black-and-white scan: its lines' darkness read as the trace's,
    # the baseline's grid line followed instead of the QRS complexes, 5.2 dB). Only the horizontal
    # ones on a grey scan. Lines as dark as the trace elsewhere are the trace.
    families = (horizontal,) if grey_scan else (vertical, horizontal)
    level = min(
        float(np.percentile(ink[inked], 90)) + DARK_GRID_MARGIN
        for inked in (found & (ink > INK_THRESHOLD) for found in families)
        if inked.any()
    )
    elsewhere = ink[~on_lines & (ink > INK_THRESHOLD)]  # none on a blank sheet of dark grid
    if elsewhere.size and level + DARK_GRID_MARGIN > np.percentile(elsewhere, 95):
        return 1.0, None
    # Lines vary in darkness over the page (major and minor ones, light falling unevenly): a flat
    # stretch of trace lying along a horizontal line is darker than that line elsewhere, though
    # maybe no darker than the darkest lines, and is kept (a kit-style dark green scan whose trace
    # after each QRS lay on its baseline's line read 4.7 dB, 9.1 kept). Not where lines cross (both
    # dark), not on vertical lines (their pieces, darker in places, were left as dashes beside the
    # pulses and a page's layout went unread), not on a grey scan (its horizontal lines' pieces
    # cost a black-and-white scan 0.8 dB).
    if grey_scan:
        return level, on_lines
    along = _line_darkness(ink, horizontal)
    return level, on_lines & ~(horizontal & ~vertical & (ink > along + LINE_TRACE_MARGIN))


def _line_darkness(ink: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Per pixel on the horizontal lines `found`, how dark its line is: the median of its pixel row
    over a band of the page's columns (DARK_GRID_BANDS), the darkest of it and its two neighbours
    (a line's core, not its fringe); 0 off the lines."""
    band = ink.shape[1] // DARK_GRID_BANDS
    darkness = np.zeros(ink.shape, np.float32)
    for k in range(DARK_GRID_BANDS):
        columns = slice(k * band, (k + 1) * band if k < DARK_GRID_BANDS - 1 else None)
        rows = np.median(ink[:, columns][:, ::2], axis=1)
        core = np.maximum(rows, np.maximum(np.roll(rows, 1), np.roll(rows, -1)))
        darkness[:, columns] = np.where(found[:, columns], core[:, None], 0.0)
    return darkness


def _band_covers(axis_mask: np.ndarray) -> list[tuple[slice, np.ndarray]]:
    """Per band of the page's rows (DARK_GRID_BANDS): the share of each column the mask covers."""
    band = axis_mask.shape[0] // DARK_GRID_BANDS
    last = DARK_GRID_BANDS - 1
    bands = [slice(k * band, (k + 1) * band if k < last else None) for k in range(DARK_GRID_BANDS)]
    return [(rows, axis_mask[rows].mean(axis=0)) for rows in bands]


def _lines_on(on: np.ndarray) -> int:
    """How many stretches of True `on` holds (lines crossing a band)."""
    return int(np.count_nonzero(on[1:] & ~on[:-1]) + int(on[0]))


@dataclass
class Grid:
    px_per_mm_x: float
    px_per_mm_y: float
    strength: float  # how clearly periodic the lines are (0 = no grid)


def _comb_period(profile: np.ndarray, periods: tuple[float, float] = PITCH_5MM_RANGE) -> tuple[float, float]:
    """The 5 mm period of a grid profile (px, within `periods`) by the harmonic sum of its spectrum,
    and its strength: the share of the spectrum's energy the harmonics carry over a random comb's."""
    n = len(profile)
    freqs, spectrum = _spectrum(_without_trend(profile))
    candidates = np.arange(1 / periods[1], 1 / periods[0], 1 / (16 * n))
    harmonic = np.arange(1, HARMONICS + 1)
    at = candidates[:, None] * harmonic[None, :]
    valid = at < 0.5
    sums = np.where(valid, np.interp(at, freqs, spectrum), 0.0).sum(axis=1)
    best = int(np.argmax(sums))
    # Noise at the odd harmonics can make twice the period sum higher (a faint, dotted 1 mm grid
    # leaves little at the high harmonics): the true period's fundamental is its strongest line.
    while 2 * candidates[best] < 1 / periods[0]:
        fundamental, second = np.interp([candidates[best], 2 * candidates[best]], freqs, spectrum)
        if fundamental >= 0.5 * second:
            break
        near = np.abs(candidates - 2 * candidates[best]) < 0.05 * candidates[best]
        best = int(np.flatnonzero(near)[np.argmax(sums[near])])
    noise = np.median(spectrum[(freqs > 1 / PITCH_5MM_RANGE[1]) & (freqs < 0.5)]) * valid[best].sum()
    strength = float(sums[best] / max(noise, 1e-9))
    fundamental, second = np.interp([candidates[best], 2 * candidates[best]], freqs, spectrum)
    half = 0.5 / candidates[best]
    if periods == PITCH_5MM_RANGE and fundamental < UNIFORM_LINES * second and half < periods[0]:
        # Alike lines every half period, closer than any 5 mm pitch we read: the 1 mm lines of a grid
        # whose major lines look like its minor ones in this view (dark blue: both black in the
        # darkest channel).
        return 5 * half, strength
    return 1.0 / candidates[best], strength


def _major_lines(profile: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres (px) of the major grid lines and their numbers (consecutive along the axis): each
    line's ink-weighted centre around the comb's best phase; faint or missing lines left out."""
    n = len(profile)
    detrended = _detrended(profile, period)
    positions = np.arange(n, dtype=np.float64)
    phases = np.arange(0, period, 0.25)
    comb = [np.interp(np.arange(phase, n - 1, period), positions, detrended).sum() for phase in phases]
    phase = phases[int(np.argmax(comb))]
    expected = np.arange(phase, n - 1, period)
    return _line_centres(detrended, np.arange(len(expected)), expected, period / 5)


def _detrended(profile: np.ndarray, period: float) -> np.ndarray:
    blurred = cv2.blur(profile.reshape(1, -1).astype(np.float32), (max(3, int(period)), 1)).ravel()
    return profile - blurred


def _line_centres(
    detrended: np.ndarray, numbers: np.ndarray, expected: np.ndarray, px_per_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each numbered line's ink-weighted centre within half a 1 mm pitch of where it is expected."""
    n = len(detrended)
    positions = np.arange(n, dtype=np.float64)
    half = max(1, int(px_per_mm / 2))
    centres, kept, strengths = [], [], []
    for number, at in zip(numbers, expected, strict=True):
        a, b = round(at) - half, round(at) + half + 1
        if a < 0 or b > n:
            continue
        weights = np.clip(detrended[a:b], 0, None)
        if weights.sum() <= 0:
            continue
        centres.append(float((weights * positions[a:b]).sum() / weights.sum()))
        kept.append(number)
        strengths.append(float(weights.max()))
    strong = np.array(strengths) > 0.3 * np.median(strengths) if strengths else np.zeros(0, bool)
    return np.array(kept)[strong], np.array(centres)[strong]


def _refined_period(profile: np.ndarray, period: float) -> float:
    """The 5 mm period to a hundredth of a pixel from a straight-line fit of the major lines' centres
    against their numbers; the spectral estimate when too few lines stand out."""
    numbers, centres = _major_lines(profile, period)
    if len(centres) < 6:
        return period
    slope, _ = np.polyfit(numbers, centres, 1)
    return float(slope) if abs(slope / period - 1) < 0.02 else period


def x_to_mm(lines: np.ndarray, grid: "Grid", band: tuple[int, int] | None = None) -> np.ndarray | None:
    """Cubic coefficients mapping a column (px) to mm along the paper, fitted to the vertical grid
    lines (in the pixel rows of `band`, the page's middle 80 % without): a residual perspective
    makes the pitch drift across the page, and time must not. Fitted twice, to the major lines
    and to every 1 mm line; where the two agree (within LINE_FITS_AGREE over the band), the major
    lines' fit, or the 1 mm lines' on a grid whose major lines look like its minor ones (which line
    of five is a major one cannot be seen there); where they do not, the fit nearer the page's
    pitch: one of them slipped a line somewhere. Dark blue and dark green paper: a comb of every
    fourth or sixth line fits the major lines' windows as well (rows read 4-9 % fast); a faint
    1 mm grid on a hard photo: the 1 mm lines' fit slips (5 % slow). `lines`: the line view with
    the trace's pixels set to 0. None where too few lines fit, or the band lies off the page."""
    h = lines.shape[0]
    top, bottom = band if band is not None else (h // 10, h - h // 10)
    if min(bottom, h) <= max(top, 0):
        return None  # a band off the page: a row's pulse inferred beyond its edge (a turned reading)
    return profile_to_mm(lines[top:bottom].mean(axis=0), grid.px_per_mm_x)


def profile_to_mm(profile: np.ndarray, px_per_mm: float) -> np.ndarray | None:
    """x_to_mm's fit for a column profile of the line view, the grid's pitch `px_per_mm`."""
    major, minor = _lines_fit(profile, px_per_mm, 5.0), _lines_fit(profile, px_per_mm, 1.0)
    alike = _lines_alike(_detrended(profile, 5 * px_per_mm), 5 * px_per_mm)
    preferred, other = (minor, major) if alike else (major, minor)
    if preferred is None or other is None:
        return preferred

    def length_mm(fit: np.ndarray) -> float:
        return float(np.polyval(fit, len(profile) - 1) - np.polyval(fit, 0))

    if abs(length_mm(preferred) / length_mm(other) - 1) <= LINE_FITS_AGREE:
        return preferred
    pitch_mm = (len(profile) - 1) / px_per_mm
    return min(preferred, other, key=lambda fit: abs(length_mm(fit) / pitch_mm - 1))


LINE_FITS_AGREE = 0.015  # the major and the 1 mm lines' fits on real photos: within 0.5 %, ecg00034 1.8 %


def _lines_fit(profile: np.ndarray, px_per_mm: float, step: float) -> np.ndarray | None:
    """Cubic px -> mm coefficients fitted to a profile's lines `step` mm apart; None when fewer than
    12 lines lie on a cubic."""
    detrended = _detrended(profile, step * px_per_mm)
    numbers, centres = _drifting_lines(detrended, px_per_mm, step)
    for _ in range(2):
        keep = _on_cubic(step * numbers, centres)
        if keep is None:
            return None
        # Look for each line again where the fitted curve puts it: a window around the straight
        # comb cuts off lines that the page's bow has moved, and pulls their centres back.
        where = np.polyfit(step * numbers[keep], centres[keep], 3)
        every = np.arange(numbers.min(), numbers.max() + 1)
        numbers, centres = _line_centres(detrended, every, np.polyval(where, step * every), px_per_mm)
    keep = _on_cubic(step * numbers, centres)
    return None if keep is None else np.polyfit(centres[keep], step * numbers[keep], 3)


PITCH_STRIPS = 8  # strips across the page in which x_to_mm first measures the local pitch


def _drifting_lines(detrended: np.ndarray, px_per_mm: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres (px) of the lines `step` mm apart (5: the major lines) and their numbers, expected
    where a pitch that drifts across the page puts them: the period measured in strips (near the
    page's), a parabola through those that agree, integrated to mm along the profile, the comb's
    phase where it meets most ink. A fixed comb lets lines slip from its windows toward the ends
    of a page whose pitch drifts by a few percent (lens distortion, a curled page: ecg00032's
    39 px in the middle and 43 at its right end), and a cubic fitted to slipped numbers bends to
    fit them."""
    n = len(detrended)
    width = n // PITCH_STRIPS
    period = step * px_per_mm
    xs, periods = [], []
    for k in range(PITCH_STRIPS):
        local, _ = _comb_period(detrended[k * width : (k + 1) * width], (0.8 * period, 1.25 * period))
        xs.append((k + 0.5) * width)
        periods.append(local)
    x, p = np.array(xs), np.array(periods)
    keep = np.ones(len(p), bool)
    for _ in range(2):  # a strip whose comb locked onto something else is left out
        coef = np.polyfit(x[keep], p[keep], 2)
        keep = np.abs(np.polyval(coef, x) / p - 1) < 0.04
        if keep.sum() < 5:
            coef = np.array([0.0, 0.0, period])
            break
    positions = np.arange(n, dtype=np.float64)
    pitch = np.clip(np.polyval(coef, positions), 0.8 * period, 1.25 * period)
    mm = np.concatenate([[0.0], np.cumsum(step / pitch[:-1])])
    numbers = np.arange(int(mm[-1] // step) + 1)
    phases = np.linspace(0.0, step, 50, endpoint=False)
    at = [np.interp(step * numbers + phase, mm, positions).round().astype(int) for phase in phases]
    comb = [detrended[a].sum() for a in at]
    expected = np.interp(step * numbers + phases[int(np.argmax(comb))], mm, positions)
    return _line_centres(detrended, numbers, expected, px_per_mm)


def _lines_alike(detrended: np.ndarray, period: float) -> bool:
    """Whether the major lines hardly stand out from the minor ones."""
    return _major_to_minor(detrended, period) < UNIFORM_LINES


def _major_to_minor(detrended: np.ndarray, period: float) -> float:
    """How the major lines stand out from the minor ones: the profile's 5 mm frequency against its
    1 mm one."""
    fundamental, fifth = np.interp([1 / period, 5 / period], *_spectrum(detrended))
    return float(fundamental / max(fifth, 1e-9))


def _without_trend(profile: np.ndarray) -> np.ndarray:
    """A profile less its running mean over a twentieth of its length (shading, the page's edges)."""
    blur = cv2.blur(profile.reshape(1, -1).astype(np.float32), (max(3, len(profile) // 20), 1))
    return profile - blur.ravel()


def _spectrum(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (cycles per px) and amplitude spectrum of a profile, Hann-windowed and padded 16x
    (a fine frequency grid for the comb's candidates)."""
    n = len(profile)
    return np.fft.rfftfreq(16 * n), np.abs(np.fft.rfft(profile * np.hanning(n), 16 * n))


def _on_cubic(mm: np.ndarray, centres: np.ndarray) -> np.ndarray | None:
    """Which lines (at `mm` along the paper) a cubic px -> mm fit agrees with (within 0.3 mm: the
    others were caught on a trace); None when fewer than 12 lines are left to trust."""
    if len(centres) < 12:
        return None
    coef = np.polyfit(centres, mm, 3)
    keep = np.abs(mm - np.polyval(coef, centres)) < 0.3
    return keep if keep.sum() >= 12 else None


def find_grid(columns: np.ndarray, rows: np.ndarray) -> Grid:
    """Grid pitch from the column and row profiles of the line view (line_profiles). The grid is
    square: where one axis's period comes out near twice (or half) the other's, the weaker axis's
    comb locked onto a multiple and looks again near the stronger's period."""
    period_x, strength_x = _comb_period(columns)
    period_y, strength_y = _comb_period(rows)
    if not 1 / SQUARE < period_x / period_y < SQUARE:
        if strength_x < strength_y:
            period_x, strength_x = _comb_period(columns, (period_y / SQUARE, period_y * SQUARE))
        else:
            period_y, strength_y = _comb_period(rows, (period_x / SQUARE, period_x * SQUARE))
    period_x, period_y = _refined_period(columns, period_x), _refined_period(rows, period_y)
    return Grid(period_x / 5.0, period_y / 5.0, min(strength_x, strength_y))


def line_profiles(views: Views, trace_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The line view's column and row profiles, trace pixels and the page's edges left out."""
    lines = np.where(trace_mask, 0.0, views.lines)
    h, w = lines.shape
    core = lines[h // 10 : h - h // 10, w // 10 : w - w // 10]  # the page's edges carry no grid
    return core.mean(axis=0), core.mean(axis=1)


def fine_line_pitch(columns: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    """px per mm across and down the page from each line profile's strongest line at a 1 mm spacing we
    read (3 to 32 px): a second opinion where the 5 mm comb's first cannot be right. On a grid
    whose major lines look like its minor ones (dark blue and dark green papers) the comb can lock
    onto any multiple of the 1 mm spacing; on most grids this line is the 1 mm lines' too, but on
    some the 5 mm lines' second harmonic (2.5 mm) is stronger."""
    pitches = []
    for profile in (columns, rows):
        freqs, spectrum = _spectrum(_without_trend(profile))
        band = (freqs > 5 / PITCH_5MM_RANGE[1]) & (freqs < 5 / PITCH_5MM_RANGE[0])
        pitches.append(float(1 / freqs[band][np.argmax(spectrum[band])]))
    return pitches[0], pitches[1]


def _shift(reference: np.ndarray, profile: np.ndarray, limit: int) -> float:
    """Sub-pixel shift s that best aligns profile(y + s) with reference(y), |s| <= limit."""
    a = reference - reference.mean()
    b = profile - profile.mean()
    n = len(a)
    scores = np.array(
        [
            np.dot(a[max(0, -s) : n - max(0, s)], b[max(0, s) : n - max(0, -s)])
            for s in range(-limit, limit + 1)
        ]
    )
    k = int(np.argmax(scores))
    if 0 < k < len(scores) - 1:  # parabola through the peak
        left, mid, right = scores[k - 1], scores[k], scores[k + 1]
        denom = left - 2 * mid + right
        return k - limit + (0.5 * (left - right) / denom if denom != 0 else 0.0)
    return float(k - limit)


def _line_offsets(
    lines: np.ndarray, pitch5: float, strips: int, bands: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How far the horizontal grid lines sit below where they sit at the page's centre column, in a
    bands x strips lattice: block-wise row profiles, each aligned to its left neighbour and chained."""
    h, w = lines.shape
    xs = (np.arange(strips) + 0.5) * w / strips
    ys = (np.arange(bands) + 0.5) * h / bands
    offsets = np.zeros((bands, strips))
    limit = max(2, int(pitch5 / 2))
    for b in range(bands):
        band = lines[int(b * h / bands) : int((b + 1) * h / bands)]
        profiles = [
            band[:, int(s * w / strips) : int((s + 1) * w / strips)].mean(axis=1) for s in range(strips)
        ]
        for s in range(1, strips):
            offsets[b, s] = offsets[b, s - 1] + _shift(profiles[s - 1], profiles[s], limit)
        offsets[b] -= np.interp(w / 2, xs, offsets[b])
    return xs, ys, offsets


def _poly_terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y, x * x * y, x * y * y], axis=-1)


def straighten_maps(views: Views, trace_mask: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray] | None:
    """Remap tables that make the grid lines straight and axis-parallel: residual rotation and
    perspective, and a mild page curl, as smooth polynomials fitted to the measured line offsets.
    None when the page is already straight (within a third of a pixel)."""
    lines = np.where(trace_mask, 0.0, views.lines).astype(np.float32)
    h, w = lines.shape
    xs, ys, dy = _line_offsets(lines, 5 * grid.px_per_mm_y, 12, 4)
    ys_t, xs_t, dx = _line_offsets(np.ascontiguousarray(lines.T), 5 * grid.px_per_mm_x, 8, 4)
    scale = max(w, h)
    gx, gy = np.meshgrid(xs / scale, ys / scale)
    coef_y = np.linalg.lstsq(_poly_terms(gx.ravel(), gy.ravel()), dy.ravel(), rcond=None)[0]
    gy2, gx2 = np.meshgrid(ys_t / scale, xs_t / scale)
    coef_x = np.linalg.lstsq(_poly_terms(gx2.ravel(), gy2.ravel()), dx.ravel(), rcond=None)[0]
    if np.abs(dy).max() < 0.33 and np.abs(dx).max() < 0.33:
        return None
    # The tables are smooth: compute them on a coarse lattice and enlarge.
    step = 16
    cy, cx = np.mgrid[0:h:step, 0:w:step].astype(np.float32)
    terms = _poly_terms(cx / scale, cy / scale)
    shift_x = cv2.resize((terms @ coef_x).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    shift_y = cv2.resize((terms @ coef_y).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    full_y, full_x = np.mgrid[0:h, 0:w].astype(np.float32)
    return full_x + shift_x, full_y + shift_y


def straighten(views: Views, maps: tuple[np.ndarray, np.ndarray]) -> Views:
    def remap(a: np.ndarray) -> np.ndarray:
        return cv2.remap(a, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    return Views(ink=remap(views.ink), lines=remap(views.lines))


TILT_TILES = 4  # tiles per side in which the grid's local pitch is measured
MIN_TILT = 0.04  # relative pitch change across the page from which the tilt is undone


def tilt(views: Views, trace_mask: np.ndarray, grid: Grid) -> np.ndarray | None:
    """The perspective of a page photographed at a slant without its edges in the frame, read from
    the grid itself: the local 5 mm pitch, measured in tiles, grows toward the camera. The map
    (x, y) -> (x, y) / (1 + a·x + b·y) undoes it (it sends the image of the paper's horizon back to
    infinity); it magnifies along x by (1 + b·y) / w² and along y by (1 + a·x) / w², w = 1 + a·x + b·y,
    so to first order the x pitch grows as 1 + 2a·x + b·y and the y pitch as 1 + a·x + 2b·y (the
    slant foreshortens the lines running away from the camera twice). a and b are fitted to both
    pitches together. Returns the 3x3 matrix, or None when the pitch changes by less than MIN_TILT
    across the page or too few tiles show the grid. A tile's comb looks only within 0.7-1.4 of
    the page's reading: a small tile's spectrum easily locks onto a harmonic."""
    lines = np.where(trace_mask, 0.0, views.lines)
    h, w = lines.shape
    reference = (5 * grid.px_per_mm_x, 5 * grid.px_per_mm_y)
    rows, ratios, weights = [], [], []
    for ty in range(TILT_TILES):
        for tx in range(TILT_TILES):
            y0, y1 = ty * h // TILT_TILES, (ty + 1) * h // TILT_TILES
            x0, x1 = tx * w // TILT_TILES, (tx + 1) * w // TILT_TILES
            tile = lines[y0:y1, x0:x1]
            x, y = (x0 + x1) / 2 / w, (y0 + y1) / 2 / h
            for axis, profile in enumerate((tile.mean(axis=0), tile.mean(axis=1))):
                period, strength = _comb_period(profile, (0.7 * reference[axis], 1.4 * reference[axis]))
                ratio = period / reference[axis]
                if strength < 3 or not 0.72 < ratio < 1.38:  # not at the search's bounds
                    continue
                rows.append([1.0, 0.0, 2 * x, y] if axis == 0 else [0.0, 1.0, x, 2 * y])
                ratios.append(ratio)
                weights.append(strength)
    if len(ratios) < 8:
        return None
    terms, values, sqrt_w = np.array(rows), np.array(ratios), np.sqrt(np.array(weights))
    keep = np.ones(len(values), bool)
    for _ in range(3):  # refit without the tiles whose comb locked onto something else
        coef = np.linalg.lstsq(terms[keep] * sqrt_w[keep, None], values[keep] * sqrt_w[keep], rcond=None)[0]
        keep = np.abs(terms @ coef - values) < 0.06
        if keep.sum() < 8:
            return None
    scale = coef[:2].mean()
    a, b = coef[2] / scale / w, coef[3] / scale / h  # per px
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    spread = corners @ np.array([a, b])
    if spread.max() - spread.min() < MIN_TILT:
        return None
    return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [a, b, 1.0]])


LEAN_BANDS = 12  # bands across the page in which one family of grid lines is followed


def _lean(lines: np.ndarray, period: float) -> float:
    """How far (px per px down the page) the vertical grid lines run to the right: the median shift
    of the column profile from one horizontal band to the next, over the bands' height."""
    h = lines.shape[0]
    band = h // LEAN_BANDS
    profiles = [_detrended(lines[k * band : (k + 1) * band].mean(axis=0), period) for k in range(LEAN_BANDS)]
    limit = max(2, int(period / 2))
    shifts = [_shift(a, b, limit) for a, b in itertools.pairwise(profiles)]
    return float(np.median(shifts)) / band


def unsheared(lines: np.ndarray, grid: Grid) -> np.ndarray:
    """The shear (3x3) that makes both families of grid lines axis-parallel again, from the line
    view (trace left out): undoing a slant (tilt) about a point other than where the lines ran
    straight leaves them leaning, parallel."""
    along_x = _lean(lines, 5 * grid.px_per_mm_x)
    along_y = _lean(np.ascontiguousarray(lines.T), 5 * grid.px_per_mm_y)
    return np.linalg.inv(np.array([[1.0, along_x, 0.0], [along_y, 1.0, 0.0], [0.0, 0.0, 1.0]]))
