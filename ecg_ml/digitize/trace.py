"""The printed traces: calibration pulses (they give rows, baselines, gain and paper speed),
the layout, and each row's trace followed column by column."""

import bisect
import itertools
from dataclasses import dataclass

import numpy as np

from ecg_ml.digitize.grid import Grid

SPEEDS = (12.5, 25.0, 50.0)  # mm/s
GAINS = (2.5, 5.0, 10.0, 20.0)  # mm/mV
GAIN_TOLERANCE = 1.2  # most a pulse's height is off its gain's (real printouts: 0.92 to 1.06)
PULSE_S = 0.2  # the 1 mV calibration pulse lasts 0.2 s on every cart we know
PULSE_LEAN = 0.08  # mm sideways per mm down by which pulses of one column may drift on a photo
PULSE_HEIGHT_SPREAD = 0.4  # pulses of one page differ in height by less (perspective: 27 % on ecg00029)
# Carts print every row's pulse in the same columns: on a flattened page the pulses rise within this
# (mm) of each other (real photos: 0-3.4 mm). A dark blue grid's lines paired into "pulses" 2.9 mm
# tall rising 10 mm apart across the rows: the page was read at 2.5 mm/mV, upside down (-21 dB).
PULSE_COLUMN_MM = 5.0


@dataclass
class Pulse:
    x_rise: float
    x_fall: float
    y_base: float  # centre of the baseline stroke
    y_top: float  # centre of the top stroke
    x_end: float  # right end of the pulse's trailing stub
    inferred: bool = False  # not found on its row: placed where another row's is, or its trace begins


@dataclass
class Runs:
    """Vertical runs of ink, column by column: for column x, starts[offsets[x]:offsets[x + 1]]."""

    starts: np.ndarray
    stops: np.ndarray  # exclusive
    offsets: np.ndarray

    def column(self, x: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[x], self.offsets[x + 1]
        return self.starts[a:b], self.stops[a:b]


def vertical_runs(mask: np.ndarray) -> Runs:
    columns = np.ascontiguousarray(mask.T).astype(np.int8)
    edges = np.diff(np.pad(columns, ((0, 0), (1, 1))), axis=1)
    start_x, start_y = np.nonzero(edges == 1)
    _, stop_y = np.nonzero(edges == -1)
    offsets = np.searchsorted(start_x, np.arange(mask.shape[1] + 1))
    return Runs(start_y.astype(np.int32), stop_y.astype(np.int32), offsets)


def line_width(runs: Runs) -> float:
    """The printed line's width in px: the commonest short vertical run (flat trace and grid-free)."""
    lengths = (runs.stops - runs.starts)[(runs.stops - runs.starts) < 12]
    if lengths.size == 0:
        return 2.0
    return float(max(1.0, np.median(lengths)))


def find_pulses(
    mask: np.ndarray,
    ink: np.ndarray,
    runs: Runs,
    grid: Grid,
    width: float,
    bridge_mm: float = 0.0,
    fall_runs_on: bool = False,
) -> list[Pulse]:
    """Calibration pulses in the left fifth of the page: two vertical strokes of equal height, 0.2 s
    apart at 12.5/25/50 mm/s, joined by a top stroke. With `bridge_mm`, gaps that short in a
    stroke are bridged (a thin pulse on a phone photo falls apart under the ink threshold). With
    `fall_runs_on`, the falling stroke may run on down into the trace by up to the pulse's height
    (a trace starting at the edge below its baseline: ecg-image-kit's pages); in fainter ink that
    pairs grid lines and QRS strokes into pulses (a real photo's page turned upside down)."""
    w = mask.shape[1]
    min_height = 3.5 * grid.px_per_mm_y
    max_height = 1.25 * max(GAINS) * grid.px_per_mm_y  # grid lines in faint ink pair up too, page-high
    edges: list[tuple[float, float, float]] = []  # x, top, bottom of long vertical strokes
    gap = bridge_mm * grid.px_per_mm_y
    for x in range(w // 5):
        starts, stops = runs.column(x)
        for a, b in _bridged(starts, stops, gap):
            if b - a >= min_height:
                edges.append((float(x), float(a), float(b)))
    strokes = _merge_strokes(edges, width)
    pulses: list[Pulse] = []
    used: set[int] = set()
    for i, (x1, top1, bottom1) in enumerate(strokes):
        for j, (x2, top2, bottom2) in enumerate(strokes):
            if j <= i or i in used or j in used:
                continue
            gap_mm = (x2 - x1) / grid.px_per_mm_x
            height = bottom1 - top1
            if pulse_speed(gap_mm) is None:
                continue
            tolerance = 0.6 * grid.px_per_mm_y
            longest = max(tolerance, height) if fall_runs_on else tolerance
            if abs(top1 - top2) > tolerance or not -tolerance <= bottom2 - bottom1 <= longest:
                continue
            top_row = round(top1 + width / 2)
            between = mask[max(0, top_row - round(width)) : top_row + round(width) + 1, round(x1) : round(x2)]
            if between.size == 0 or between.any(axis=0).mean() < 0.8:
                continue
            if not min_height <= height <= max_height:
                continue
            pulses.append(_measure_pulse(ink, x1, x2, top1, bottom1, width, grid))
            used.update((i, j))
    pulses.sort(key=lambda p: p.y_base)
    return _aligned(pulses, grid)


def _bridged(starts: np.ndarray, stops: np.ndarray, gap: float) -> list[tuple[int, int]]:
    """A column's runs, those at most `gap` px apart joined."""
    out: list[tuple[int, int]] = []
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        if out and a - out[-1][1] <= gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _aligned(pulses: list[Pulse], grid: Grid) -> list[Pulse]:
    """The largest set of pulses printed alike: as wide (within 1 mm), as tall (within
    PULSE_HEIGHT_SPREAD) and in one column, at the same x within 3 mm, plus PULSE_LEAN mm per mm
    between their rows (on a photo taken at an angle the page's left edge leans after
    flattening: ecg00040's pulses drift 1.8 mm per row). A QRS complex or the page's edge can
    pass for a pulse; the cart prints every row's pulse in one column, at one gain."""

    def alike(p: Pulse, q: Pulse) -> bool:
        lean = PULSE_LEAN * abs(p.y_base - q.y_base) / grid.px_per_mm_y
        height_p, height_q = p.y_base - p.y_top, q.y_base - q.y_top
        return (
            abs(p.x_rise - q.x_rise) < (3 + lean) * grid.px_per_mm_x
            and abs((p.x_fall - p.x_rise) - (q.x_fall - q.x_rise)) < grid.px_per_mm_x
            and abs(height_p - height_q) <= PULSE_HEIGHT_SPREAD * max(height_p, height_q)
        )

    support = [sum(alike(p, q) for q in pulses) for p in pulses]
    return [p for p, n in zip(pulses, support, strict=True) if n == max(support, default=0)]


def _merge_strokes(edges: list[tuple[float, float, float]], width: float) -> list[tuple[float, float, float]]:
    """Adjacent columns holding the same long stroke become one stroke at their mean x. A stroke
    leaning a little (a page photographed at an angle) is cut into overlapping pieces, one per
    column: they join, and the stroke spans them all."""
    strokes: list[list[tuple[float, float, float]]] = []
    for x, top, bottom in sorted(edges):
        for stroke in strokes:
            last_x, last_top, last_bottom = stroke[-1]
            same_ends = abs(top - last_top) < 2 * width + 2 and abs(bottom - last_bottom) < 2 * width + 2
            overlap = min(bottom, last_bottom) - max(top, last_top)
            leaning = overlap > 0.5 * min(bottom - top, last_bottom - last_top)
            if x - last_x <= 1 and (same_ends or leaning):
                stroke.append((x, top, bottom))
                break
        else:
            strokes.append([(x, top, bottom)])
    merged = []
    for stroke in strokes:
        if len(stroke) > 3 * width + 3:
            continue  # a wide dark block, not a printed stroke
        xs = np.array([s[0] for s in stroke])
        tops, bottoms = [s[1] for s in stroke], [s[2] for s in stroke]
        upright = max(tops) - min(tops) < 2 * width + 2 and max(bottoms) - min(bottoms) < 2 * width + 2
        if upright:
            merged.append((float(xs.mean()), float(np.median(tops)), float(np.median(bottoms))))
        else:
            merged.append((float(xs.mean()), float(min(tops)), float(max(bottoms))))
    return merged


def _measure_pulse(
    ink: np.ndarray, x1: float, x2: float, top: float, bottom: float, width: float, grid: Grid
) -> Pulse:
    """Sub-pixel positions from the ink's weight: stroke x from the mid-height column profile,
    baseline and top from the stubs' and the top stroke's row profiles."""
    h, w = ink.shape
    mid = round((top + bottom) / 2)
    band = ink[max(0, mid - 3) : mid + 4]

    def centre_x(x: float, inside: float) -> float:
        """The x of the stroke near x; `inside`: a point within the pulse (its middle)."""
        a, b = max(0, round(x - 2 * width)), min(w, round(x + 2 * width) + 1)
        from_left = inside < x  # the falling edge: the pulse's blank inside lies to its left
        a, b = (max(a, round(inside)), b) if from_left else (a, min(b, round(inside) + 1))
        weights = band[:, a:b].sum(axis=0)
        # Only the stroke met first from the pulse's blank inside: a trace leaving the falling edge
        # with a steep stroke (a QRS at time 0) lies within the window and pulled the edge up to
        # 3 px late (a kit-style red photo: 2.6 dB, every lead 6 samples early).
        if weights.any():
            lo, hi = _first_stroke(weights if from_left else weights[::-1])
            if not from_left:
                lo, hi = len(weights) - 1 - hi, len(weights) - 1 - lo
            weights[:lo] = 0.0
            weights[hi + 1 :] = 0.0
        return float((weights * np.arange(a, b)).sum() / max(weights.sum(), 1e-6))

    def centre_y(y: float, xa: float, xb: float) -> float:
        a, b = max(0, round(y - 2 * width)), min(h, round(y + 2 * width) + 1)
        xa_i, xb_i = max(0, round(xa)), min(w, round(xb))
        weights = ink[a:b, xa_i:xb_i].sum(axis=1) if xb_i > xa_i else np.zeros(b - a)
        return float((weights * np.arange(a, b)).sum() / weights.sum()) if weights.sum() > 0 else y

    middle = (x1 + x2) / 2
    rise, fall = centre_x(x1, middle), centre_x(x2, middle)
    stub = 0.7 * grid.px_per_mm_x
    base_left = centre_y(bottom - width / 2, rise - stub - width, rise - width)
    base_right = centre_y(bottom - width / 2, fall + width, fall + stub)
    top_y = centre_y(top + width / 2, rise + width, fall - width)
    # The trailing stub's right end: where the baseline ink stops.
    row = ink[max(0, round(base_right) - 1) : round(base_right) + 2].max(axis=0)
    x = round(fall + width)
    while x < min(w - 1, fall + 3 * grid.px_per_mm_x) and row[x] > 0.3:
        x += 1
    return Pulse(rise, fall, (base_left + base_right) / 2, top_y, float(x))


def _first_stroke(weights: np.ndarray) -> tuple[int, int]:
    """The first stroke of a column profile read from its start: from the first column at half the
    profile's peak, up to its own peak, and down either side to where the profile stops falling."""
    i = int(np.flatnonzero(weights >= 0.5 * weights.max())[0])
    while i + 1 < len(weights) and weights[i + 1] >= weights[i]:
        i += 1
    lo = hi = i
    while lo > 0 and weights[lo - 1] <= weights[lo]:
        lo -= 1
    while hi + 1 < len(weights) and weights[hi + 1] <= weights[hi]:
        hi += 1
    return lo, hi


def pulse_gain_and_speed(
    pulses: list[Pulse], grid: Grid, inferred: bool = False
) -> tuple[float | None, float]:
    """The gain the pulses' height prints (None where it is no gain's, or where they do not stand in
    one column: not a cart's pulses, or a grid misread) and the paper speed their width prints (25
    mm/s where it is no speed's). The rarest gain, 2.5 mm/mV, only from a pulse on every row (not
    `inferred` for one): on dark grids, lines paired into "pulses" about 3 mm tall, with a row
    left without one, read pages at 2.5 mm/mV (-12 to -21 dB)."""
    height_mm = float(np.median([p.y_base - p.y_top for p in pulses])) / grid.px_per_mm_y
    width_mm = float(np.median([p.x_fall - p.x_rise for p in pulses])) / grid.px_per_mm_x
    gain = min(GAINS, key=lambda g: abs(np.log(height_mm / g)))
    fits = abs(np.log(height_mm / gain)) <= np.log(GAIN_TOLERANCE) and not (inferred and gain == min(GAINS))
    return (gain if fits and in_one_column(pulses, grid) else None), pulse_speed(width_mm) or 25.0


def in_one_column(pulses: list[Pulse], grid: Grid) -> bool:
    """Whether the pulses rise within PULSE_COLUMN_MM of each other across the page."""
    rises = [p.x_rise for p in pulses]
    return max(rises) - min(rises) <= PULSE_COLUMN_MM * grid.px_per_mm_x


def pulse_speed(width_mm: float) -> float | None:
    """Paper speed from the pulse's width. Carts print it 0.2 s wide or a little less (0.12 to
    0.2 s seen), so each speed owns 0.6 to 1.2 times its 0.2 s width: the ranges meet, never
    overlap."""
    for speed in SPEEDS:
        if 0.6 <= width_mm / (PULSE_S * speed) < 1.2:
            return speed
    return None


# ------------------------------------------------------------------ following one row's trace


@dataclass
class RowTrace:
    x: np.ndarray  # columns (px)
    followed: np.ndarray  # bool: found by continuity or near the baseline (not guessed)
    # The trace's centre line as points (px): one per column where the trace is flat, one per pixel
    # row along steep strokes (a column holds several samples' worth of a QRS stroke); `point_column`
    # is each point's index in x.
    point_x: np.ndarray
    point_y: np.ndarray
    point_column: np.ndarray


STAY_NEAR_BASELINE = 0.02  # cost per px between a run and the row's own baseline, per column
JUMP = 1.0  # cost per px of paper between the runs of two neighbouring columns
# A thin steep stroke can fade under the ink threshold for a column or two where a neighbour's trace
# still has ink in them: the path may step over that many columns with ink, paying a line's width
# of paper for each (ecg00049: two such holes 110 columns apart made the path run along the row
# above between them, 0.8 s of its rhythm strip lost).
SKIP_COLUMNS = 2
# A lead change's column is known to a pixel or two (the row's time axis): the next lead's trace
# is looked for this near it (_fresh_starts), and the step into its first column is free.
LEAD_CHANGE_PX = 2
# A stroke merged with another row's is cut this share of the way to that row's baseline (chosen on
# the development set, fold 9: 0.5-0.8 score alike on 6x2 pages at 20 mm/mV, 1.0 worse).
SHARED_STROKE_REACH = 0.75
# Detours onto another row's side dropped up to this share of the reach long (about 4 mm at 30 mm
# between rows: where a faint own trace vanishes for 0.1-0.15 s the path runs along the other row).
DETOUR = 0.14
# Level stretches away from the baseline this share of the reach long or longer are a line, not
# the trace (about 2 mm at 35 mm between rows): _drop_far_lines.
FAR_LINE = 0.05
# A lead's printed name lies within this share of the reach after its start (about 8 mm), and the
# path reaches it by a jump of paper this share of the reach (about 3 mm), and stays on it for
# this share or longer (about 1 mm): _drop_names.
NAME_WINDOW, NAME_JUMP, NAME_SHORTEST = 0.25, 0.08, 0.03


def follow_row(
    runs: Runs,
    ink: np.ndarray,
    baseline: float,
    other_baselines: list[float],
    x_from: int,
    x_to: int,
    reach: float,
    width: float,
    ink_level: float,
    lead_changes: tuple[float, ...] = (),
) -> RowTrace:
    """Follow the trace from left to right: one ink run per column, chosen by dynamic programming
    over the whole row. A path pays for every pixel of paper it jumps between neighbouring columns
    (a printed stroke is continuous) and, a little, for straying from its own baseline: where the
    traces of adjacent rows touch or cross, the cheapest path stays on the stroke it came along
    and returns to its own row; over a hole of up to SKIP_COLUMNS columns in its own stroke it
    steps rather than jump to a neighbour's ink and back (_best_steps). Where the row's lead
    changes (`lead_changes`, px) the next lead's trace starts afresh at its own value: the jump
    into it is free (_fresh_starts). A column counts as followed (`followed`) when its run is
    nearer its own baseline than any other row's, is reached from such a column without a jump,
    or lies in a hole stepped over between two such: where the own trace is missing (glare, a
    fold) the path may wander onto a neighbour's trace, and that must not count as read."""
    columns: list[tuple[int, np.ndarray, np.ndarray]] = []
    for x in range(x_from, x_to):
        starts, stops = runs.column(x)
        # A run longer than two rows is a crease, a fold or the paper's edge, not a trace.
        inside = (stops > baseline - reach) & (starts < baseline + reach) & (stops - starts < 2.2 * reach)
        if inside.any():
            columns.append((x, starts[inside].astype(np.float64), stops[inside].astype(np.float64) - 1))
    xs = np.arange(x_from, x_to)
    tops = np.full(len(xs), np.nan)
    bottoms = np.full(len(xs), np.nan)
    followed = np.zeros(len(xs), dtype=bool)
    if not columns:
        empty = np.zeros(0)
        return RowTrace(xs.astype(np.float64), followed, empty, empty, empty.astype(np.int64))
    costs: list[np.ndarray] = []
    pointers: list[tuple[np.ndarray, np.ndarray]] = []  # per run: the column and run it came from
    gaps: list[np.ndarray] = []
    fresh_starts = _fresh_starts(columns, lead_changes)
    for k, (_, col_tops, col_bottoms) in enumerate(columns):
        unary = STAY_NEAR_BASELINE * np.maximum(0, np.maximum(col_tops - baseline, baseline - col_bottoms))
        total, came_from, gap = _best_steps(
            columns, costs, k, width, reach, 0.0 if k in fresh_starts else JUMP
        )
        costs.append(total + unary)
        pointers.append(came_from)
        gaps.append(gap)
    pick = int(np.argmin(costs[-1]))
    continuous = np.zeros(len(xs), dtype=bool)
    stepped_over: list[tuple[int, int]] = []  # the columns either side of a hole stepped over
    k = len(columns) - 1
    while k >= 0:
        x, col_tops, col_bottoms = columns[k]
        i = x - x_from
        starts, stops = runs.column(x)
        top, bottom = _merged(starts, stops, int(np.searchsorted(starts, col_tops[pick])), 2 * width + 2)
        tops[i], bottoms[i] = top, bottom
        continuous[i] = gaps[k][pick] <= 2
        came_from = int(pointers[k][0][pick])
        if came_from < k - 1:  # over columns with ink the path did not take
            stepped_over.append((columns[came_from][0] - x_from, i))
        k, pick = came_from, int(pointers[k][1][pick])
    longest = max(2, round(4 * width), round(DETOUR * reach))
    _drop_detours(tops, bottoms, baseline, other_baselines, 0.25 * reach, longest)
    _drop_far_lines(tops, bottoms, baseline, 0.25 * reach, round(FAR_LINE * reach))
    _drop_names(tops, bottoms, baseline, [0, *(round(c) - x_from for c in lead_changes)], reach)
    _clip_shared_strokes(tops, bottoms, baseline, other_baselines)
    centre = (tops + bottoms) / 2
    owned = np.isfinite(centre) & _nearest_own(tops, bottoms, baseline, other_baselines, reach)
    for i in range(1, len(xs)):
        followed[i] = owned[i] or (continuous[i] and followed[i - 1] and np.isfinite(centre[i]))
    followed[0] = owned[0]
    for left, right in stepped_over:  # a hole in the own trace, read across: followed
        followed[left + 1 : right] = followed[left] and followed[right]
    y, steep = _trace_centres(ink, xs, tops, bottoms, width)
    point_x, point_y, point_column = _centre_line(ink, xs, y, tops, bottoms, steep, width, ink_level)
    return RowTrace(xs.astype(np.float64), followed, point_x, point_y, point_column)


def _fresh_starts(
    columns: list[tuple[int, np.ndarray, np.ndarray]], lead_changes: tuple[float, ...]
) -> set[int]:
    """Per lead change, the column (index into `columns`) where the next lead's trace starts: the
    first within LEAD_CHANGE_PX of the change whose ink touches none of the column's before (a
    trace running on unbroken across the change starts nowhere afresh)."""
    xs = [x for x, _, _ in columns]
    starts = set()
    for change in lead_changes:
        for k in range(max(1, bisect.bisect_left(xs, change - LEAD_CHANGE_PX)), len(columns)):
            x, tops, bottoms = columns[k]
            if x > change + LEAD_CHANGE_PX:
                break
            if xs[k - 1] < x - 1 or not (_paper_gaps(columns[k - 1], tops, bottoms) <= 1).any():
                starts.add(k)
                break
    return starts


def _best_steps(
    columns: list[tuple[int, np.ndarray, np.ndarray]],
    costs: list[np.ndarray],
    k: int,
    width: float,
    reach: float,
    jump: float,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """follow_row's step into column k: for each of its runs the cheapest path's cost, the column
    and run it came from (the one before, or for a run reached by a jump up to SKIP_COLUMNS more
    back), and the px of paper it jumped (at `jump` per px)."""
    col_tops, col_bottoms = columns[k][1], columns[k][2]
    if k == 0:
        return (
            np.zeros(len(col_tops)),
            (np.full(len(col_tops), -1), np.zeros(len(col_tops), np.int64)),
            np.zeros(len(col_tops)),
        )
    total, gap = _step(columns[k - 1], col_tops, col_bottoms, costs[k - 1], width, jump)
    rows = np.arange(len(col_tops))
    best = np.argmin(total, axis=1)
    best_total, best_gap = total[rows, best], gap[rows, best]
    came_from = (np.full(len(col_tops), k - 1), best)
    jumped = np.flatnonzero(best_gap > width)  # only these can do better from further back
    for skipped in range(1, min(k, SKIP_COLUMNS + 1)):
        if jumped.size == 0:
            break
        tops, bottoms = col_tops[jumped], col_bottoms[jumped]
        earlier = columns[k - 1 - skipped]
        total, gap = _step(earlier, tops, bottoms, costs[k - 1 - skipped], width, jump)
        total += JUMP * skipped * width
        # Only a hole in the stroke is stepped over: no ink of the columns between may lie within a
        # quarter of the reach of the span the two runs cover (a spike's tip, or the stroke down to
        # it, would be cut off).
        low = np.minimum(tops[:, None], earlier[1][None, :]) - 0.25 * reach
        high = np.maximum(bottoms[:, None], earlier[2][None, :]) + 0.25 * reach
        for _, between_tops, between_bottoms in columns[k - skipped : k]:
            crossed = (between_tops[None, None, :] <= high[..., None]) & (
                between_bottoms[None, None, :] >= low[..., None]
            )
            total[crossed.any(axis=2)] = np.inf
        pick = np.argmin(total, axis=1)
        each = np.arange(len(jumped))
        better = total[each, pick] < best_total[jumped]
        where = jumped[better]
        best_total[where], best_gap[where] = total[each, pick][better], gap[each, pick][better]
        came_from[0][where], came_from[1][where] = k - 1 - skipped, pick[better]
    return best_total, came_from, best_gap


def _step(
    previous: tuple[int, np.ndarray, np.ndarray],
    tops: np.ndarray,
    bottoms: np.ndarray,
    previous_costs: np.ndarray,
    width: float,
    jump: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The cost of reaching each run (tops, bottoms) from each run of an earlier column, and the
    px of paper between them."""
    gap = _paper_gaps(previous, tops, bottoms)
    # A stroke leaves its column at one of its run's ends: a run lying inside the earlier one, away
    # from both ends, is more likely something the stroke crosses (a grid line between a narrow QRS
    # spike's legs) than where it goes on. Taken at only the baseline's small pull, the spike's tip
    # columns were read on the grid line: R waves cut to a third on a dark green page. It pays a
    # little more than a line's width of paper, no more: a trace leaving a column separator's bar
    # from its middle does go on there (ecg00003's aVR went down the bar into its printed name).
    nested = np.minimum(tops[:, None] - previous[1][None, :], previous[2][None, :] - bottoms[:, None])
    off_ends = np.clip(nested - width, 0, width + 2)
    return previous_costs[None, :] + jump * (gap + off_ends), gap


def _paper_gaps(
    previous: tuple[int, np.ndarray, np.ndarray], tops: np.ndarray, bottoms: np.ndarray
) -> np.ndarray:
    """Px of paper between each run (tops, bottoms) and each run of an earlier column (0 where
    they overlap): [runs, earlier runs]."""
    below = tops[:, None] - previous[2][None, :]  # px the run lies below the earlier one
    return np.maximum(0, np.maximum(below, previous[1][None, :] - bottoms[:, None]))


def _nearest_own(
    tops: np.ndarray, bottoms: np.ndarray, baseline: float, other_baselines: list[float], reach: float
) -> np.ndarray:
    """Whether each column's run comes nearer its own row's baseline than any other's. Beyond an
    outer row, a row's reach away stands for the row that is not there: ink nearer that is no
    row's (the page's edge, a shadow, printed text under the rhythm strip)."""
    outer = [baseline - reach] * all(o > baseline for o in other_baselines)
    outer += [baseline + reach] * all(o < baseline for o in other_baselines)
    own = np.abs(np.clip(baseline, tops, bottoms) - baseline)
    nearest_other = np.full(len(tops), np.inf)
    for other in [*other_baselines, *outer]:
        nearest_other = np.minimum(nearest_other, np.abs(np.clip(other, tops, bottoms) - other))
    return own <= nearest_other


def _drop_detours(
    tops: np.ndarray,
    bottoms: np.ndarray,
    baseline: float,
    other_baselines: list[float],
    far: float,
    longest: int,
) -> None:
    """Forget the runs of up to `longest` columns on another row's side that the path jumped to
    and back from (more than `far` each way; columns without ink between count as no jump): the
    own trace faded there under the ink threshold (a thin, steep stroke), and the path had to take
    some run, the other row's (ecg00043's strip read 3.6 mV spikes from the row above). A tall R
    wave whose thin middle faded has its tip on its own row's side, and is kept."""
    found = np.flatnonzero(np.isfinite(tops))
    centres = (tops[found] + bottoms[found]) / 2
    nearest_other = np.full(len(found), np.inf)
    for other in other_baselines:
        nearest_other = np.minimum(nearest_other, np.abs(centres - other))
    on_other_side = np.concatenate([[False], nearest_other < np.abs(centres - baseline), [False]])
    # Each stretch of consecutive columns on another row's side, with own-side columns around it.
    edges = np.flatnonzero(np.diff(on_other_side.astype(np.int8)))
    for first_k, last_k in zip(edges[0::2], edges[1::2] - 1, strict=True):
        if first_k == 0 or last_k == len(found) - 1:
            continue
        before, first, last, after = found[first_k - 1], found[first_k], found[last_k], found[last_k + 1]
        jumps = _paper_between(tops, bottoms, before, first), _paper_between(tops, bottoms, last, after)
        if last - first < longest and min(jumps) > far:
            tops[first : last + 1], bottoms[first : last + 1] = np.nan, np.nan


def _drop_far_lines(
    tops: np.ndarray, bottoms: np.ndarray, baseline: float, far: float, shortest: int
) -> None:
    """Forget the stretches of the path lying more than `far` from the baseline, `shortest` columns
    long or longer, that the path jumped to and back from (over a quarter of `far` of paper each
    way) and whose columns mostly lie on one pixel row (give or take one): a grid line or a printed
    rule the path took where the own trace vanished (a faint trace cleared with the dark grid line
    it lies on: a dark blue page's leads read at -1.6 mV between beats). The trace is bridged
    across instead. A trace wandering that far from its baseline is reached by its own strokes
    (ecg00006's rhythm strip), and tall waves cut off by the page's top edge lie on its first
    pixel row (ecg00006's V4): both kept."""
    centre = (tops + bottoms) / 2
    found = np.isfinite(centre)
    away = found & (np.abs(np.nan_to_num(centre, nan=baseline) - baseline) > far)
    near = np.flatnonzero(found & ~away)
    for before, after in itertools.pairwise(near):
        if after - before <= shortest:
            continue
        stretch = np.flatnonzero(away[before + 1 : after]) + before + 1
        if stretch.size == 0 or stretch[-1] - stretch[0] + 1 < shortest or tops[stretch].min() <= 0:
            continue
        jumps = [
            _paper_between(tops, bottoms, before, stretch[0]),
            _paper_between(tops, bottoms, stretch[-1], after),
        ]
        rows = np.round(centre[stretch]).astype(np.int64)
        on_one_row = np.convolve(np.bincount(rows - rows.min()), np.ones(3, np.int64), mode="same").max()
        if min(jumps) > far / 4 and 2 * on_one_row >= stretch.size:
            tops[stretch], bottoms[stretch] = np.nan, np.nan


def _drop_names(
    tops: np.ndarray, bottoms: np.ndarray, baseline: float, lead_starts: list[int], reach: float
) -> None:
    """Forget the pieces of the path near each lead's start (`lead_starts`, indices) that it
    jumped to or started on and jumped back from, each jump over NAME_JUMP of the reach of paper,
    lying further from the baseline than the path on either side of them: the lead's printed name,
    taken where the trace beside it is cut (a dark grid's line cleared) or at the lead's fresh
    start (kit-style pages: -0.4 to -0.7 mV dips at the leads' starts). A spike's tip reached over
    faded legs is shorter than NAME_SHORTEST and kept."""
    found = np.flatnonzero(np.isfinite(tops))
    centre = (tops + bottoms) / 2
    for start in lead_starts:
        window = found[(found >= start) & (found < start + NAME_WINDOW * reach)]
        jumps = [
            k + 1
            for k, (a, b) in enumerate(itertools.pairwise(window))
            if _paper_between(tops, bottoms, a, b) > NAME_JUMP * reach
        ]
        pieces = [window[a:b] for a, b in itertools.pairwise([0, *jumps, len(window)])]
        for n in range(len(pieces) - 1):  # the window's last piece may go on past it
            piece = pieces[n]
            if piece[-1] - piece[0] + 1 < NAME_SHORTEST * reach:
                continue
            off = float(np.median(np.abs(centre[piece] - baseline)))
            sides = [pieces[n + 1][0]] + ([pieces[n - 1][-1]] if n > 0 else [])
            if all(off > abs(centre[i] - baseline) + NAME_JUMP * reach for i in sides):
                tops[piece], bottoms[piece] = np.nan, np.nan


def _paper_between(tops: np.ndarray, bottoms: np.ndarray, i: int, j: int) -> float:
    """Px of paper between columns i's and j's runs (0 where they overlap)."""
    return max(0.0, tops[j] - bottoms[i], tops[i] - bottoms[j])


def _clip_shared_strokes(
    tops: np.ndarray, bottoms: np.ndarray, baseline: float, other_baselines: list[float]
) -> None:
    """Where a column's stroke runs on across another row's baseline, the QRS of both rows (printed
    at the same moment) have merged into one bar, and which part of it is this row's cannot be
    seen: the stroke is cut SHARED_STROKE_REACH of the way to the other baseline. Taking the whole
    bar put a lead's QRS into its neighbour's (6x2 at 20 mm/mV: several leads below 0 dB); the cut
    bounds the error."""
    for other in other_baselines:
        across = np.isfinite(tops) & (tops < other) & (bottoms > other)
        if other < baseline:
            tops[across] = np.maximum(tops[across], baseline - SHARED_STROKE_REACH * (baseline - other))
        else:
            bottoms[across] = np.minimum(bottoms[across], baseline + SHARED_STROKE_REACH * (other - baseline))


def _merged(starts: np.ndarray, stops: np.ndarray, pick: int, gap: float) -> tuple[float, float]:
    """The picked run joined with runs of the column close above or below it: the two legs of a
    narrow spike, split by a hair of paper, are one stroke."""
    top, bottom = float(starts[pick]), float(stops[pick] - 1)
    order = np.argsort(starts)
    for k in order:  # downwards
        if starts[k] > bottom and starts[k] - bottom <= gap:
            bottom = float(stops[k] - 1)
    for k in order[::-1]:  # upwards
        if stops[k] - 1 < top and top - (stops[k] - 1) <= gap:
            top = float(starts[k])
    return top, bottom


def _trace_centres(
    ink: np.ndarray, xs: np.ndarray, tops: np.ndarray, bottoms: np.ndarray, width: float
) -> tuple[np.ndarray, np.ndarray]:
    """y of the trace per column: the ink-weighted centre of a short run, the tip of a peak, the
    middle of a steep stroke; and which columns hold a steep stroke (long, not a peak)."""
    y = (tops + bottoms) / 2
    long = (bottoms - tops + 1) > 1.6 * width
    half = width / 2
    # A peak: a column whose run reaches as far as any within two columns on that side (a rounded
    # tip spans a few columns), and further than some of them.
    padded_tops = np.pad(np.nan_to_num(tops, nan=np.inf), 2, mode="edge")
    padded_bottoms = np.pad(np.nan_to_num(bottoms, nan=-np.inf), 2, mode="edge")
    window_tops = np.lib.stride_tricks.sliding_window_view(padded_tops, 5)
    window_bottoms = np.lib.stride_tricks.sliding_window_view(padded_bottoms, 5)
    up_peak = long & (tops <= window_tops.min(axis=1)) & (tops < window_tops.max(axis=1))
    down_peak = long & (bottoms >= window_bottoms.max(axis=1)) & (bottoms > window_bottoms.min(axis=1))
    both = up_peak & down_peak
    up_peak &= ~both
    down_peak &= ~both
    y[up_peak] = tops[up_peak] + half - 0.5
    y[down_peak] = bottoms[down_peak] - half + 0.5
    short = ~long & np.isfinite(tops)
    for i in np.flatnonzero(short):
        a = max(int(tops[i]) - 1, 0)
        weights = ink[a : int(bottoms[i]) + 2, int(xs[i])]
        centre = (tops[i] + bottoms[i]) / 2
        y[i] = (
            float((weights * np.arange(a, a + len(weights))).sum() / weights.sum())
            if weights.sum() > 0
            else centre
        )
    return y, long & ~up_peak & ~down_peak & ~both


def _centre_line(
    ink: np.ndarray,
    xs: np.ndarray,
    y: np.ndarray,
    tops: np.ndarray,
    bottoms: np.ndarray,
    steep: np.ndarray,
    width: float,
    ink_level: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along the trace's centre line. A steep stroke crosses a column in less time than
    the column lasts (at 25 mm/s and 8 px/mm a column is 2.5 samples), and the line's width spreads
    it over neighbouring columns, so a column's middle is a poor sample there: each pixel row of
    the stroke gives its own point instead, at the ink-weighted centre of the stroke's short
    horizontal crossing of that row."""
    flat = np.isfinite(y) & ~steep
    point_x, point_y, point_column = [xs[flat].astype(np.float64)], [y[flat]], [np.flatnonzero(flat)]
    half_window = 2 * int(np.ceil(width)) + 3  # room for a crossing two lines wide
    w = ink.shape[1]
    for i in np.flatnonzero(steep):
        x = int(xs[i])
        a, b = int(tops[i]), int(bottoms[i]) + 1
        left, right = max(0, x - half_window), min(w, x + half_window + 1)
        patch = ink[a:b, left:right]
        inked = patch > ink_level
        centre = x - left
        # The crossing of each pixel row: the ink contiguous with this column's, both ways.
        reach_left = np.cumprod(inked[:, centre::-1], axis=1).sum(axis=1) - 1
        reach_right = np.cumprod(inked[:, centre:], axis=1).sum(axis=1) - 1
        crossing = reach_left + reach_right + 1
        # A row crossed wider than a steep line (where the stroke bends into a flat stretch, or
        # another trace touches) says nothing precise about the stroke's time.
        rows = np.flatnonzero(
            inked[:, centre]
            & (crossing <= width + 2)
            & (reach_left < centre)
            & (reach_right < patch.shape[1] - 1 - centre)
        )
        # Two strokes a line apart (the up and down flanks of a narrow spike) cross a row as one
        # blob up to two lines wide: each flank's centre lies about half a line inside the blob's
        # edges. Half a line less a pixel scored best on the development set (fold 9, 24 scans and
        # easy photos of seed 7: +0.7 dB against no such points, +0.3 for less half a pixel, -1.4
        # for half a line, -0.8 for less 1.5 px; then seed 11: +0.5 dB).
        twin = np.flatnonzero(
            inked[:, centre]
            & (crossing > width + 2)
            & (crossing <= 2 * width + 3)
            & (reach_left < centre)
            & (reach_right < patch.shape[1] - 1 - centre)
        )
        if twin.size:
            inset = width / 2 - 1
            point_x.append(left + centre - reach_left[twin] + inset)
            point_x.append(left + centre + reach_right[twin] - inset)
            point_y += [(a + twin).astype(np.float64)] * 2
            point_column += [np.full(twin.size, i)] * 2
        if rows.size == 0:
            point_x.append(np.array([float(x)]))
            point_y.append(np.array([y[i]]))
            point_column.append(np.array([i]))
            continue
        columns = np.arange(left, right, dtype=np.float64)
        # One pixel of antialiased edge either side of the crossing takes part in its centre.
        lo = centre - reach_left[rows] - 1
        hi = centre + reach_right[rows] + 1
        offsets = np.arange(patch.shape[1])
        inside = (offsets[None, :] >= lo[:, None]) & (offsets[None, :] <= hi[:, None])
        weights = patch[rows] * inside
        point_x.append((weights * columns[None, :]).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-6))
        point_y.append((a + rows).astype(np.float64))
        point_column.append(np.full(rows.size, i))
    return np.concatenate(point_x), np.concatenate(point_y), np.concatenate(point_column)


def trace_extent(runs: Runs, baseline: float, reach: float, x_from: int, x_to: int, step: int) -> int:
    """The first (step 1) or last (step -1) column from x_from towards x_to with ink in the row."""
    x = x_from
    while x != x_to:
        starts, stops = runs.column(x)
        if ((stops > baseline - reach) & (starts < baseline + reach)).any():
            return x
        x += step
    return x_to
