"""Heart rate, rhythm regularity and the global PR, QRS and QT intervals of a 12-lead ECG.

The method, and the validation behind each threshold, is in docs/benchmarks.md ("ECG
measurements"); bench/ecg_measure_validation.py reproduces it. In short:

- Everything runs at 500 Hz; records at other rates are resampled, NaN gaps are kept.
- R peaks: in each lead three of NeuroKit2's detectors (`ecg_clean`, then `ecg_findpeaks` with
  "neurokit", "manikandan2012" and "kalidas2017") vote, and a beat two of them find counts; when
  one of them disagrees with NeuroKit's on over 30 % of the beats, the one with the most regular
  RR intervals speaks alone, or the two that still agree vote where their beats are at least as
  regular (see _voting). One detector alone takes a tall T wave for a beat or misses a small or
  rS-shaped QRS more often: lead II alone against the 12-lead rate, within 2 bpm, PTB-XL fold 8
  (300 records) 96.7 -> 98.7 %, fold 9 (183) 90.7 -> 96.2 %; the detectors were picked on 150
  other fold-9 records, the fallback's beat minimum on these two sets. In an RR gap of 1.5 times
  the usual, a beat one detector found and the vote dropped is kept when its QRS matches a kept
  beat's shape and size (_search_back: the small sinus beats of a trigeminy, a notched QRS); on
  the same measure, staged folds 8 / 9 / 10 (319 / 333 / 332 records) 98.7 / 96.7 / 96.4 -> 98.7
  / 97.3 / 97.6 %, no record worse; with the pair's vote 99.1 / 97.6 / 97.9 %, and on the first
  5 s of lead II (a 6x2 page's) 78.1 / 75.1 / 78.3 -> 80.6 / 76.9 / 78.9 %. The beats the votes
  agree on in at least half of the leads are the reference; the leads that hold the longest finite
  stretch are the rhythm lead candidates, and the rhythm lead is lead II when it agrees with the
  reference about as well as the best lead, else the best lead. On a printout only the rhythm
  strip is long enough, so it is lead II. Where the rhythm lead has no signal (a page without a
  full rhythm strip: 6x2, 3x4 alone), the beats come from the lead that sees that stretch,
  agreeing best with the others; RR intervals never span two leads.
- Rhythm: irregular when the RR intervals' coefficient of variation (SD / mean) exceeds
  IRREGULAR_CV. Chosen on PTB-XL folds 1-8 (atrial fibrillation against sinus rhythm); premature
  beats and sinus arrhythmia make a record irregular too, as they make its RR irregular.
- Intervals: each lead's beats, cut around the R peaks, give a median beat (only beats wholly
  inside the lead's finite stretches count, so a lead seen for 2.5 s gives its 2-3 beats). The
  median beats of the independent leads I, II, V1-V6 are combined into a spatial velocity (the
  norm of their slopes) and a spatial magnitude (the norm of their values). The QRS is where the
  velocity stands above a share of its peak; the T wave ends where the magnitude has come back
  to within T_END_SHARE of its height; the P wave begins where the tangent to its upstroke meets
  its baseline. An onset on these curves is the earliest onset in any lead and an offset the
  latest, the clinical convention for global intervals. NeuroKit2's own delineators ("dwt",
  "cwt", "peak", "prominence") were compared on the same median beats and validated worse; the
  figures are in docs/benchmarks.md.
- PR is not reported when the P wave does not repeat from beat to beat (atrial fibrillation).

Quality is judged by quality.assess(); measure() measures what it is given.
"""

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import neurokit2 as nk
import numpy as np
from scipy import signal as sps

from ecg_ml.record import STANDARD_LEADS, ECGRecord

FS = 500  # Hz: every internal step works at this rate
MIN_FS = 100.0  # below this a QRS is a handful of samples
MAX_FS = 10_000.0
MIN_RUN_S = 1.0  # finite stretches shorter than this hold no usable beat
RHYTHM_LEAD_SHARE = 0.9  # rhythm lead candidates: a stretch at least this share of the longest
LEAD_II_MARGIN = 0.02  # lead II stays the rhythm lead unless another agrees better by this much
EDGE_S = 0.4  # beats this close to the end of a finite stretch do not vote
EDGE_QRS_SHARE = 0.5  # ... and are dropped when smaller than this share of the usual QRS (_trim_edges)
MIN_AGREEMENT = 0.95  # a rhythm lead agreeing less with the other leads' beats gives way to them
# Two leads' R peaks closer than this are the same beat (a wide QRS peaks late in some leads).
PEAK_TOLERANCE_S = 0.1
R_PEAK_METHODS = ("neurokit", "manikandan2012", "kalidas2017")  # NeuroKit2 detectors that vote
DETECTOR_TOLERANCE_S = 0.05  # two detectors' peaks closer than this are the same beat
DETECTOR_MIN_AGREEMENT = 0.7  # a detector agreeing less with NeuroKit's on a stretch does not vote
SEARCH_BACK_GAP = 1.5  # an RR interval this many times the median may hide a beat the vote dropped
SEARCH_BACK_SPLIT = 0.6  # ... which leaves two intervals of at least this share of the median
SEARCH_BACK_MATCH = 0.8  # ... and whose QRS correlates this well with a kept beat's
SEARCH_BACK_SIZE = 1.5  # ... and is within this factor of that beat's size
SEARCH_BACK_HALF_S = 0.05  # the QRS compared: this long either side of the peak
ALIGN_S = 0.03  # a beat's fiducial point may move this far to match the median QRS
IRREGULAR_CV = 0.09  # SD / mean of the RR intervals above this: irregular
MIN_RR_FOR_RHYTHM = 4  # RR intervals needed to call a rhythm regular or irregular
INDEPENDENT_LEADS = (0, 1, 6, 7, 8, 9, 10, 11)  # I, II, V1-V6 (III, aVR, aVL, aVF derive from I, II)
QRS_VELOCITY_SHARE = 0.03  # QRS: spatial velocity above this share of its peak
QRS_ST_FACTOR = 1.5  # ... and, for the offset, above this many times the ST-T velocity
QRS_QUIET_S = 0.01  # velocity below the threshold this long ends (or precedes) the QRS
T_END_SHARE = 0.05  # T end: the magnitude back to within this share of the T wave's height
QTC_MAX_S = 0.6  # the T wave is sought within QT <= QTC_MAX_S * sqrt(RR)
P_MIN_MV = 0.02  # a P wave smaller than this (spatial magnitude, mV) is not taken
P_CONSISTENCY_MIN = 0.5  # beat-to-beat correlation of the P wave below this: no PR
RANGES_MS = {"pr_ms": (60.0, 400.0), "qrs_ms": (40.0, 250.0), "qt_ms": (200.0, 700.0)}

_HIGHPASS = sps.butter(2, 0.5, btype="highpass", fs=FS, output="sos")
_LOWPASS = sps.butter(4, 40.0, btype="lowpass", fs=FS, output="sos")


@dataclass(frozen=True)
class Measurements:
    """Intervals in ms, None where not measurable. `notes` maps a field name to a stable code
    saying why it is missing or how to read it (the caller translates codes for people):
    too_few_beats, not_delineated, implausible_value, no_consistent_p_wave, irregular_rhythm,
    and under "record": invalid_sampling_rate, no_usable_lead."""

    heart_rate_bpm: float | None
    rr_mean_ms: float | None
    rr_sdnn_ms: float | None
    rmssd_ms: float | None
    rhythm: str  # "regular" | "irregular" | "unknown"
    pr_ms: float | None
    qrs_ms: float | None
    qt_ms: float | None
    qtc_bazett_ms: float | None
    qtc_fridericia_ms: float | None
    lead_used_for_rhythm: str | None
    r_peaks: tuple[int, ...]  # sample indices at the record's own fs
    beats: int
    notes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["r_peaks"] = list(self.r_peaks)
        return out


# ------------------------------------------------------------------ preparation (shared with quality)


@dataclass
class Prepared:
    """A record at FS: raw and cleaned [n, 12] arrays (NaN kept) and each lead's finite runs
    ([start, stop) sample pairs at FS, only those of at least MIN_RUN_S)."""

    raw: np.ndarray
    clean: np.ndarray
    runs: list[list[tuple[int, int]]]
    fs_in: float

    def longest_run(self, lead: int) -> int:
        return max((stop - start for start, stop in self.runs[lead]), default=0)


def fs_is_valid(fs: float) -> bool:
    return bool(np.isfinite(fs)) and MIN_FS <= fs <= MAX_FS


def finite_runs(finite: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each stretch where `finite` is True."""
    edges = np.flatnonzero(np.diff(np.r_[0, finite.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _resample(x: np.ndarray, fs_in: float) -> np.ndarray:
    if fs_in == FS:
        return x
    ratio = Fraction(FS / fs_in).limit_denominator(1000)
    return sps.resample_poly(x, ratio.numerator, ratio.denominator, axis=0)


def _clean(x: np.ndarray) -> np.ndarray:
    """Zero-phase 0.5 Hz high-pass (baseline wander) and 40 Hz low-pass (mains, muscle)."""
    return sps.sosfiltfilt(_LOWPASS, sps.sosfiltfilt(_HIGHPASS, x, axis=0), axis=0)


def prepare(record: ECGRecord) -> Prepared:
    """Resample to FS and clean each finite stretch of each lead; leads with the same stretches
    are filtered together."""
    sig = np.asarray(record.signal, dtype=np.float64)
    fs_in = float(record.fs)
    n_out = round(sig.shape[0] * FS / fs_in)
    raw = np.full((n_out, sig.shape[1]), np.nan)
    clean = np.full_like(raw, np.nan)
    runs: list[list[tuple[int, int]]] = [[] for _ in range(sig.shape[1])]
    groups: dict[tuple[tuple[int, int], ...], list[int]] = {}
    for lead in range(sig.shape[1]):
        key = tuple(
            (start, stop)
            for start, stop in finite_runs(np.isfinite(sig[:, lead]))
            if (stop - start) / fs_in >= MIN_RUN_S
        )
        if key:
            groups.setdefault(key, []).append(lead)
    for key, leads in groups.items():
        for start, stop in key:
            part = _resample(sig[start:stop, leads], fs_in)
            out_start = round(start * FS / fs_in)
            out_stop = min(out_start + part.shape[0], n_out)
            part = part[: out_stop - out_start]
            raw[out_start:out_stop, leads] = part
            clean[out_start:out_stop, leads] = _clean(part)
            for lead in leads:
                runs[lead].append((out_start, out_stop))
    return Prepared(raw=raw, clean=clean, runs=runs, fs_in=fs_in)


def lead_amplitude(prep: Prepared, lead: int) -> float:
    """Robust peak-to-peak (1st to 99th percentile) of the cleaned lead, mV; 0 when missing."""
    x = prep.clean[:, lead]
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 0.0
    lo, hi = np.percentile(x, [1, 99])
    return float(hi - lo)


# ------------------------------------------------------------------ R peaks


@dataclass
class RPeaks:
    lead: int  # the rhythm lead the peaks come from
    peaks: np.ndarray  # FS sample indices, sorted
    rr_parts: list[np.ndarray]  # RR intervals (samples) of each finite stretch, never across a gap
    agreement: float  # F1 of the rhythm lead's beats against the beats most candidates agree on


def _peaks_in_lead(prep: Prepared, lead: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """R peaks of each finite stretch of the lead: those most of R_PEAK_METHODS agree on, and
    the same with the beats _search_back finds in their gaps."""
    voted, found = [], []
    for start, stop in prep.runs[lead]:
        try:
            cleaned = nk.ecg_clean(prep.raw[start:stop, lead], sampling_rate=FS, method="neurokit")
        except (ValueError, IndexError):  # NeuroKit gives up on some degenerate inputs
            voted.append(np.zeros(0, dtype=np.int64))
            found.append(np.zeros(0, dtype=np.int64))
            continue
        per_method = []
        for method in R_PEAK_METHODS:
            try:
                peaks = nk.ecg_findpeaks(cleaned, sampling_rate=FS, method=method)["ECG_R_Peaks"]
            except (ValueError, IndexError, TypeError):  # degenerate input; TypeError: a Manikandan bug
                peaks = []
            per_method.append(np.asarray(peaks, dtype=np.int64))
        voters, vote_tolerance = _voting(per_method, int(DETECTOR_TOLERANCE_S * FS))
        beats = _detectors_agree(voters, vote_tolerance)
        voted.append(beats + start)
        found.append(_search_back(beats, per_method, cleaned) + start)
    return voted, found


def _voting(per_method: list[np.ndarray], tolerance: int) -> tuple[list[np.ndarray], int]:
    """The detectors that vote on this stretch, and the tolerance (samples) of their vote. All of
    them when each agrees with the first (NeuroKit's) on at least DETECTOR_MIN_AGREEMENT of the
    beats (F1). Otherwise one has been thrown (a stray spike on a digitised photo sets a
    threshold; an rS complex is taken at its R by one and its S by another) and a vote would drop
    or add beats. When two still agree with each other, the two vote: both must find a beat,
    within PEAK_TOLERANCE_S (their filters can place the same R further apart than a vote of two
    in three needs to allow). Unless that leaves the beats less regular than the most regular
    detector's (a beat one of the two missed), which then speaks alone, as where no two agree;
    a detector is judged when it finds at least DETECTOR_MIN_AGREEMENT of the most beats any found
    and enough beats to judge a rhythm (missed or extra beats make RR irregular); NeuroKit's
    speaks when none is."""
    if all(_agreement(p, per_method[0], tolerance) >= DETECTOR_MIN_AGREEMENT for p in per_method[1:]):
        return per_method, tolerance
    most = max(p.size for p in per_method)
    judged = [p for p in per_method if p.size >= max(DETECTOR_MIN_AGREEMENT * most, MIN_RR_FOR_RHYTHM + 1)]
    regular = min(judged, key=_rr_variation) if judged else None  # each judged has enough RR
    pairs = [
        [per_method[a], per_method[b]]
        for a in range(len(per_method))
        for b in range(a + 1, len(per_method))
        if _agreement(per_method[a], per_method[b], tolerance) >= DETECTOR_MIN_AGREEMENT
    ]
    if len(pairs) == 1:
        wide = int(PEAK_TOLERANCE_S * FS)
        # NaN (too few beats to judge) is not more regular: the pair's vote stands.
        if regular is None or not _rr_variation(regular) < _rr_variation(_detectors_agree(pairs[0], wide)):
            return pairs[0], wide
    return ([regular] if regular is not None else per_method[:1]), tolerance


def _detectors_agree(per_method: list[np.ndarray], tolerance: int) -> np.ndarray:
    """The beats more than half of the detectors (those _voting lets vote) found within
    `tolerance` samples of each other, each at the first detector's sample where it voted (the
    others' median otherwise)."""
    beats: list[int] = []
    for group, voters in _groups(dict(enumerate(per_method)), tolerance):
        if 2 * np.unique(voters).size > len(per_method):
            first = group[voters == 0]
            beats.append(int(first[0]) if first.size else int(np.median(group)))
    return np.array(beats, dtype=np.int64)


def _qrs_shape(cleaned: np.ndarray, peak: int) -> tuple[np.ndarray, float] | None:
    """The QRS around `peak` (+-SEARCH_BACK_HALF_S), centred and scaled to unit norm, and its
    peak-to-peak size; None near the ends or where it is flat."""
    half = int(SEARCH_BACK_HALF_S * FS)
    if peak - half < 0 or peak + half >= cleaned.size:
        return None
    seg = cleaned[peak - half : peak + half + 1] - cleaned[peak - half : peak + half + 1].mean()
    norm = float(np.linalg.norm(seg))
    return (seg / norm, float(np.ptp(seg))) if norm > 0 else None


def _search_back(beats: np.ndarray, per_method: list[np.ndarray], cleaned: np.ndarray) -> np.ndarray:
    """Beats the vote dropped where they leave a gap: in an RR interval over SEARCH_BACK_GAP times
    the stretch's median, a beat one detector found (any of `per_method`, voting or not: where one
    detector speaks alone, ecg00038) is kept when it splits the interval into two of at least
    SEARCH_BACK_SPLIT of the median and its QRS looks like one the vote kept, in shape and size
    (a trigeminy's small sinus beats beside tall ectopic ones: one detector of three finds them,
    ecg00043). Noise, a T or a P wave in a pause is not a QRS's shape and size."""
    if beats.size < 3:
        return beats
    median = float(np.median(np.diff(beats)))
    kept = [q for q in (_qrs_shape(cleaned, int(b)) for b in beats) if q is not None]
    if not kept:
        return beats
    shapes, sizes = np.stack([q[0] for q in kept]), np.array([q[1] for q in kept])
    candidates = np.unique(np.concatenate(per_method))
    margin = SEARCH_BACK_SPLIT * median
    reach = int(SEARCH_BACK_HALF_S * FS)
    # A gap may hide more than one beat (two in a row the others missed, ecg00034): each beat kept
    # splits its gap, and the parts left over SEARCH_BACK_GAP times the median are searched again.
    while True:
        added = []
        rr = np.diff(beats)
        for k in np.flatnonzero(rr > SEARCH_BACK_GAP * median):
            inside = candidates[(candidates > beats[k] + margin) & (candidates < beats[k + 1] - margin)]
            best, best_match = None, SEARCH_BACK_MATCH
            # A detector's peak may sit off the QRS's peak (its filters' delay): each candidate is
            # looked at where, within one half QRS window, it matches a kept beat best.
            for candidate in {int(c) + shift for c in inside for shift in range(-reach, reach + 1)}:
                found = _qrs_shape(cleaned, candidate)
                if found is None:
                    continue
                ratio = found[1] / sizes
                alike = (shapes @ found[0]) * ((ratio >= 1 / SEARCH_BACK_SIZE) & (ratio <= SEARCH_BACK_SIZE))
                if alike.max() > best_match:
                    best, best_match = candidate, float(alike.max())
            if best is not None:
                added.append(best)
        if not added:
            return beats
        beats = np.sort(np.r_[beats, np.array(added, dtype=np.int64)])


def _groups(found: dict[int, np.ndarray], tolerance: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The times of all `found` (by their owner: a lead or a detector) in groups, each starting
    at its earliest time and holding the times up to `tolerance` samples later; with each group,
    who found its times."""
    times = np.concatenate(list(found.values()))
    owners = np.concatenate([np.full(p.size, owner) for owner, p in found.items()])
    order = np.argsort(times, kind="stable")
    times, owners = times[order], owners[order]
    i = 0
    while i < times.size:
        j = i
        while j + 1 < times.size and times[j + 1] - times[i] <= tolerance:
            j += 1
        yield times[i : j + 1], owners[i : j + 1]
        i = j + 1


def _interior(prep: Prepared, lead: int, times: np.ndarray) -> np.ndarray:
    """Which of `times` lie at least EDGE_S inside one of the lead's finite stretches: near the
    end of a stretch the filters ring and a detector both misses beats and invents them."""
    edge = EDGE_S * FS
    keep = np.zeros(times.size, dtype=bool)
    for start, stop in prep.runs[lead]:
        keep |= (times >= start + edge) & (times < stop - edge)
    return keep


def _consensus(prep: Prepared, per_lead: dict[int, np.ndarray], tolerance: int) -> np.ndarray:
    """Beat times found, within `tolerance` samples, by at least half of the leads that could
    see them (those with signal there, away from the ends of their stretches; on a printout:
    lead II and the three leads of that column), and by two of them when two or more could."""
    votes = {lead: peaks[_interior(prep, lead, peaks)] for lead, peaks in per_lead.items()}
    beats: list[float] = []
    for group, leads in _groups(votes, tolerance):
        t = float(np.median(group))
        covering = sum(bool(_interior(prep, lead, np.array([t]))[0]) for lead in per_lead)
        if np.unique(leads).size >= max(min(2, covering), (covering + 1) // 2):
            beats.append(t)
    return np.array(beats)


def _agreement(peaks: np.ndarray, reference: np.ndarray, tolerance: int) -> float:
    """F1 of `peaks` against `reference` (1.0 when both are empty)."""
    if peaks.size == 0 or reference.size == 0:
        return 1.0 if peaks.size == reference.size else 0.0
    close = np.abs(peaks[:, None] - reference[None, :]) <= tolerance
    return float(close.any(axis=1).sum() + close.any(axis=0).sum()) / (peaks.size + reference.size)


def detect_r_peaks(prep: Prepared) -> RPeaks | None:
    """R peaks of the rhythm lead (see the module's docstring), and of other leads where the
    rhythm lead has no signal (see _beyond_rhythm_lead); None without a usable lead."""
    n_leads = prep.clean.shape[1]
    amps = np.array([lead_amplitude(prep, lead) for lead in range(n_leads)])
    if amps.max() <= 0:
        return None
    # A lead a tenth the size of the largest is flat or disconnected: it finds no beats.
    live = [lead for lead in range(n_leads) if prep.runs[lead] and amps[lead] > 0.1 * amps.max()]
    longest = max(prep.longest_run(lead) for lead in live)
    candidates = [lead for lead in live if prep.longest_run(lead) >= RHYTHM_LEAD_SHARE * longest]
    voted, found = {}, {}
    for lead in live:
        voted[lead], found[lead] = _peaks_in_lead(prep, lead)
    per_lead = {lead: np.concatenate(parts) for lead, parts in found.items()}
    tolerance = int(PEAK_TOLERANCE_S * FS)
    # The reference is what the detectors' votes agree on: a beat searched back in one lead
    # (placed by its shape alone) does not move the others'.
    reference = _consensus(prep, {lead: np.concatenate(parts) for lead, parts in voted.items()}, tolerance)
    scores = {
        lead: _agreement(
            per_lead[lead][_interior(prep, lead, per_lead[lead])],
            reference[_interior(prep, lead, reference)],
            tolerance,
        )
        for lead in live
    }
    lead_ii = STANDARD_LEADS.index("II")
    best = max(scores[c] for c in candidates)
    if lead_ii in candidates and scores[lead_ii] >= best - LEAD_II_MARGIN:
        lead = lead_ii
    else:
        lead = max(candidates, key=lambda c: (scores[c], amps[c]))
    vote = len(live) > 1
    parts = [_lead_beats(prep, lead, part, reference, scores[lead], vote, candidates) for part in found[lead]]
    parts += _beyond_rhythm_lead(prep, lead, live, found, reference, scores, vote)
    rr_parts = [np.diff(part) for part in parts if part.size >= 2]
    peaks = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    return RPeaks(lead=lead, peaks=peaks, rr_parts=rr_parts, agreement=scores[lead])


def _lead_beats(
    prep: Prepared,
    lead: int,
    own: np.ndarray,
    reference: np.ndarray,
    score: float,
    vote: bool,
    leads: list[int],
) -> np.ndarray:
    """The beats of one finite stretch of `lead` (its detectors' beats `own`), aligned on the
    QRS of `leads`. When the lead's beats agree with the reference less than MIN_AGREEMENT (its
    detectors missed beats or found extra ones: a low lead, a wide QRS, a tall T wave) and other
    leads `vote`, the beats the leads agree on, and its own near the stretch's ends; unless
    those are the less regular (missed and extra beats both make RR irregular): on a photo the
    rows' time axes can disagree by more than PEAK_TOLERANCE_S, and the other rows' beats then
    fall between the lead's own (ecg00040: 30 beats where the strip shows 24)."""
    if score < MIN_AGREEMENT and vote:
        merged = _merge_edges(prep, lead, own, reference, int(PEAK_TOLERANCE_S * FS))
        if not _rr_variation(merged) > _rr_variation(own):
            own = merged
    return _align(prep, _trim_edges(prep, lead, own), leads, lead)


def _rr_variation(peaks: np.ndarray) -> float:
    """SD / mean of the RR intervals; NaN with too few to judge a rhythm."""
    rr = np.diff(peaks)
    return float(rr.std() / rr.mean()) if rr.size >= MIN_RR_FOR_RHYTHM else float("nan")


def _beyond_rhythm_lead(
    prep: Prepared,
    rhythm_lead: int,
    live: list[int],
    found: dict[int, list[np.ndarray]],
    reference: np.ndarray,
    scores: dict[int, float],
    vote: bool,
) -> list[np.ndarray]:
    """Beats where the rhythm lead has no signal and other leads do: a printout without a full
    rhythm strip (a 6x2 page prints lead II for the first 5 s and V1-V6 for the next 5; a 3x4
    page each column for 2.5 s), a lead lost for a while. Each such stretch, of at least
    MIN_RUN_S, takes its beats from the lead that sees (nearly) the most of it, the one that
    agrees best with the reference among those; the heart rate then covers all the time any
    lead saw, and every lead has beats for its median beat."""
    covered = np.zeros(prep.clean.shape[0], dtype=bool)
    for start, stop in prep.runs[rhythm_lead]:
        covered[start:stop] = True
    parts: list[np.ndarray] = []
    while True:
        options = [
            (int(np.count_nonzero(~covered[start:stop])), lead, k)
            for lead in live
            for k, (start, stop) in enumerate(prep.runs[lead])
        ]
        most = max((new for new, _, _ in options), default=0)
        if most < MIN_RUN_S * FS:
            return parts
        _, lead, k = max((o for o in options if o[0] >= RHYTHM_LEAD_SHARE * most), key=lambda o: scores[o[1]])
        start, stop = prep.runs[lead][k]
        leads = [other for other in live if np.isfinite(prep.clean[start:stop, other]).all()]
        beats = _lead_beats(prep, lead, found[lead][k], reference, scores[lead], vote, leads)
        parts.append(beats[~covered[beats]])
        covered[start:stop] = True


def _trim_edges(prep: Prepared, lead: int, peaks: np.ndarray) -> np.ndarray:
    """Drop a first or last beat that comes, near the end of the stretch, much sooner than the
    stretch's usual RR or much smaller than its usual QRS: there a detector takes a cut-off QRS, a
    P or a T wave for a beat, and no other lead can out-vote it."""
    if peaks.size < 4:
        return peaks
    short = 0.7 * np.median(np.diff(peaks))
    sizes = np.array([_qrs_size(prep.clean[:, lead], int(p)) for p in peaks])
    small = EDGE_QRS_SHARE * np.median(sizes[1:-1])
    near_end = ~_interior(prep, lead, peaks)
    keep = np.ones(peaks.size, dtype=bool)
    keep[0] = not (near_end[0] and (peaks[1] - peaks[0] < short or sizes[0] < small))
    keep[-1] = not (near_end[-1] and (peaks[-1] - peaks[-2] < short or sizes[-1] < small))
    return peaks[keep]


def _qrs_size(cleaned: np.ndarray, peak: int) -> float:
    """Peak-to-peak (mV) of the cleaned lead within SEARCH_BACK_HALF_S of `peak`, NaN left out."""
    half = int(SEARCH_BACK_HALF_S * FS)
    seg = cleaned[max(0, peak - half) : peak + half + 1]
    seg = seg[np.isfinite(seg)]
    return float(np.ptp(seg)) if seg.size else 0.0


def _merge_edges(
    prep: Prepared, lead: int, own: np.ndarray, reference: np.ndarray, tolerance: int
) -> np.ndarray:
    """The reference beats inside the stretch `own` came from, plus the lead's own beats in the
    stretch's edges, where no lead votes."""
    if own.size == 0:
        return own
    start, stop = next((a, b) for a, b in prep.runs[lead] if a <= own[0] < b)
    inner = reference[(reference >= start) & (reference < stop)]
    edges = own[~_interior(prep, lead, own)]
    if inner.size:
        edges = edges[np.min(np.abs(edges[:, None] - inner[None, :]), axis=1) > tolerance]
    return np.sort(np.r_[np.round(inner).astype(np.int64), edges])


def _align(prep: Prepared, peaks: np.ndarray, leads: list[int], rhythm_lead: int) -> np.ndarray:
    """Move each peak (by up to ALIGN_S) to where its QRS best matches the median QRS of all
    `leads` together, then all of them to the rhythm lead's median R peak: one fiducial point
    for every beat, where a detector's choice of peak may wander by 10-20 ms in a low lead."""
    half, lag = int(0.06 * FS), int(ALIGN_S * FS)
    n = prep.clean.shape[0]
    ok = (peaks - half - lag >= 0) & (peaks + half + lag < n)
    if ok.sum() < 2:
        return peaks
    x = prep.clean[:, leads]
    starts = peaks[ok] - half - lag
    index = starts[:, None] + np.arange(2 * (half + lag) + 1)[None, :]
    segs = x[index]  # [beats, samples, leads]
    if not np.isfinite(segs).all():
        return peaks
    centre = segs[:, lag : lag + 2 * half + 1]
    template = np.median(centre, axis=0)
    template = template - template.mean(axis=0)
    scores = np.stack(
        [np.einsum("bsl,sl->b", segs[:, k : k + 2 * half + 1], template) for k in range(2 * lag + 1)], axis=1
    )
    shifted = peaks.copy()
    shifted[ok] = peaks[ok] + np.argmax(scores, axis=1) - lag
    apex = int(np.argmax(np.abs(template[:, leads.index(rhythm_lead)]))) - half
    return np.clip(shifted + apex, 0, n - 1)


# ------------------------------------------------------------------ median beats


@dataclass
class MedianBeats:
    """beats: [window, 12], each lead's median beat (NaN for a lead without a whole beat), its
    PR-segment level removed; r_index: the R peak's index in the window; each: per lead, the
    [k, window] beats themselves; rr: the median RR (samples)."""

    beats: np.ndarray
    r_index: int
    each: list[np.ndarray]
    rr: int

    @property
    def counts(self) -> np.ndarray:
        return np.array([stack.shape[0] for stack in self.each])


def beat_window(rr: int) -> tuple[int, int]:
    """Samples kept before and after an R peak: up to 450 ms before (a long PR), and up to 60 ms
    short of the next R peak after (the whole T wave, but not the next QRS)."""
    pre = round(min(0.45 * FS, 0.6 * rr))
    post = round(max(min(0.75 * FS, rr - 0.06 * FS), 0.25 * FS))
    return pre, post


def median_beats(prep: Prepared, r_peaks: np.ndarray, rr: int) -> MedianBeats:
    pre, post = beat_window(rr)
    size = pre + post
    n_leads = prep.clean.shape[1]
    beats = np.full((size, n_leads), np.nan)
    each: list[np.ndarray] = []
    for lead in range(n_leads):
        inside = [
            r
            for r in r_peaks
            if any(start <= r - pre and r + post <= stop for start, stop in prep.runs[lead])
        ]
        stack = np.array([prep.clean[r - pre : r + post, lead] for r in inside]).reshape(len(inside), size)
        each.append(stack)
        if inside:
            beats[:, lead] = np.median(stack, axis=0)
    level = _pr_segment_level(beats, pre)
    beats -= level
    each = [stack - level[lead] if stack.size else stack for lead, stack in enumerate(each)]
    return MedianBeats(beats=beats, r_index=pre, each=each, rr=rr)


def _pr_segment_level(beats: np.ndarray, r_index: int) -> np.ndarray:
    """Each lead's level over the flattest 20 ms (all leads together) between 300 and 40 ms
    before the R peak: the PR segment, isoelectric by definition. 0 for leads without a beat."""
    level = np.zeros(beats.shape[1])
    have = np.isfinite(beats[0])
    width = int(0.02 * FS)
    lo, hi = max(0, r_index - int(0.3 * FS)), r_index - int(0.04 * FS)
    if not have.any() or hi - lo <= width:
        return level
    activity = np.abs(np.diff(beats[lo:hi, have], axis=0)).sum(axis=1)
    start = lo + int(np.argmin(np.convolve(activity, np.ones(width), mode="valid")))
    level[have] = beats[start : start + width, have].mean(axis=0)
    return level


# ------------------------------------------------------------------ global delineation


@dataclass
class Fiducials:
    """Global fiducial points, in samples of the median-beat window (None: not found)."""

    p_onset: float | None = None
    p_peak: float | None = None
    qrs_onset: float | None = None
    qrs_offset: float | None = None
    t_peak: float | None = None
    t_end: float | None = None


def spatial_curves(mb: MedianBeats) -> tuple[np.ndarray, np.ndarray] | None:
    """(velocity, magnitude): the norms of the slopes and of the values of the independent leads'
    median beats (all leads with a beat when fewer than two independent ones have one)."""
    have = np.isfinite(mb.beats[0])
    leads = [lead for lead in INDEPENDENT_LEADS if have[lead]]
    if len(leads) < 2:
        leads = list(np.flatnonzero(have))
    if not leads:
        return None
    x = mb.beats[:, leads]
    return np.sqrt(np.sum(np.gradient(x, axis=0) ** 2, axis=1)), np.sqrt(np.sum(x**2, axis=1))


def _quiet_from(below: np.ndarray, start: int, step: int, length: int) -> int | None:
    """Walking from `start` by `step`: the first run of `length` samples where `below` holds;
    returns that run's end nearest to `start` (the QRS boundary)."""
    run = 0
    i = start
    while 0 <= i < below.size:
        run = run + 1 if below[i] else 0
        if run >= length:
            return i - step * (length - 1)
        i += step
    return None


def delineate(mb: MedianBeats) -> Fiducials:
    curves = spatial_curves(mb)
    if curves is None:
        return Fiducials()
    velocity, magnitude = curves
    n = velocity.size
    lo, hi = max(0, mb.r_index - int(0.1 * FS)), min(n, mb.r_index + int(0.1 * FS))
    peak = lo + int(np.argmax(velocity[lo:hi]))
    floor = float(np.percentile(velocity, 10))
    threshold = floor + QRS_VELOCITY_SHARE * (velocity[peak] - floor)
    quiet = max(2, int(QRS_QUIET_S * FS))
    onset = _quiet_from(velocity < threshold, peak, -1, quiet)
    # A steep ST-T (bundle branch block, hypertrophy) must not stretch the QRS: the offset
    # threshold rises with the velocity typical of the 120-400 ms after the QRS peak.
    st = velocity[min(n - 1, peak + int(0.12 * FS)) : peak + int(0.4 * FS)]
    off_threshold = max(threshold, QRS_ST_FACTOR * float(np.median(st))) if st.size else threshold
    offset = _quiet_from(velocity < off_threshold, peak, 1, quiet)
    if onset is None or offset is None:
        return Fiducials()
    fid = Fiducials(qrs_onset=float(onset), qrs_offset=float(offset))
    _find_t_wave(fid, magnitude, mb.rr)
    _find_p_wave(fid, magnitude, mb.rr)
    return fid


def _find_t_wave(fid: Fiducials, magnitude: np.ndarray, rr: int) -> None:
    assert fid.qrs_onset is not None and fid.qrs_offset is not None
    n = magnitude.size
    qt_max = QTC_MAX_S * np.sqrt(rr / FS) * FS
    lo = int(fid.qrs_offset + 0.06 * FS)
    hi = min(n, int(fid.qrs_onset + qt_max))
    if hi - lo < int(0.04 * FS):
        return
    t_peak = lo + int(np.argmax(magnitude[lo:hi]))
    # the descent ends at the next trough (smoothed over 20 ms against noise)
    smooth = np.convolve(magnitude, np.ones(int(0.02 * FS)) / int(0.02 * FS), mode="same")
    step = np.diff(smooth[t_peak:])
    falling = np.flatnonzero(step < 0)
    rising = np.flatnonzero(step[falling[0] :] > 0) + falling[0] if falling.size else np.zeros(0, int)
    stop = t_peak + (int(rising[0]) + 1 if rising.size else n - t_peak)
    if stop - t_peak < 3:
        return
    level = float(np.min(magnitude[t_peak:stop]))
    below = np.flatnonzero(magnitude[t_peak:stop] <= level + T_END_SHARE * (magnitude[t_peak] - level))
    if below.size:
        fid.t_peak, fid.t_end = float(t_peak), float(t_peak + below[0])


def _find_p_wave(fid: Fiducials, magnitude: np.ndarray, rr: int) -> None:
    """The most prominent hump between the previous T end (or 400 ms) and the QRS onset; its
    onset is where the tangent at its steepest upstroke meets the level of the trough before."""
    assert fid.qrs_onset is not None
    hi = int(fid.qrs_onset - 0.01 * FS)
    lo = max(0, int(fid.qrs_onset - 0.4 * FS))
    if fid.t_end is not None:
        lo = max(lo, int(fid.t_end) - rr)
    if hi - lo < int(0.04 * FS):
        return
    seg = magnitude[lo:hi]
    humps, props = sps.find_peaks(seg, prominence=P_MIN_MV)
    if humps.size == 0:
        return
    best = int(np.argmax(props["prominences"]))
    p_peak, trough = int(humps[best]), int(props["left_bases"][best])
    slope = np.gradient(seg)
    steep = trough + int(np.argmax(slope[trough : p_peak + 1]))
    if slope[steep] <= 0:
        return
    onset = max(float(trough), steep - (seg[steep] - seg[trough]) / slope[steep])
    fid.p_onset, fid.p_peak = lo + onset, float(lo + p_peak)


def p_wave_consistency(mb: MedianBeats, p_onset: int, qrs_onset: int) -> float:
    """How alike the P wave is from beat to beat: per lead with 3 beats or more, the median
    correlation of each beat's P-onset-to-QRS-onset window with the median beat's, averaged over
    leads weighted by the P wave's size there. Sinus P waves repeat (near 1); the fibrillatory
    waves of atrial fibrillation do not."""
    lo, hi = max(0, p_onset - int(0.02 * FS)), qrs_onset
    if hi - lo < 5:
        return 0.0
    weights, scores = [], []
    for lead, stack in enumerate(mb.each):
        if stack.shape[0] < 3:
            continue
        window = stack[:, lo:hi] - stack[:, lo:hi].mean(axis=1, keepdims=True)
        template = mb.beats[lo:hi, lead] - mb.beats[lo:hi, lead].mean()
        norms = np.linalg.norm(window, axis=1) * np.linalg.norm(template)
        if not np.all(norms > 0):
            continue
        scores.append(float(np.median(window @ template / norms)))
        weights.append(float(np.ptp(mb.beats[lo:hi, lead])))
    if not scores or sum(weights) <= 0:
        return 0.0
    return float(np.average(scores, weights=weights))


# ------------------------------------------------------------------ measure


@dataclass
class BeatAnalysis:
    """The intermediate results of measure(), for quality checks and plots."""

    prep: Prepared | None
    r: RPeaks | None
    mb: MedianBeats | None
    fid: Fiducials


def analyze_beats(record: ECGRecord) -> BeatAnalysis:
    if not fs_is_valid(record.fs):
        return BeatAnalysis(prep=None, r=None, mb=None, fid=Fiducials())
    prep = prepare(record)
    r = detect_r_peaks(prep)
    if r is None or not r.rr_parts:
        return BeatAnalysis(prep=prep, r=r, mb=None, fid=Fiducials())
    rr = round(np.median(np.concatenate(r.rr_parts)))
    mb = median_beats(prep, r.peaks, rr)
    fid = delineate(mb) if mb.counts.max() > 0 else Fiducials()
    return BeatAnalysis(prep=prep, r=r, mb=mb, fid=fid)


def qtc_bazett(qt_ms: float, rr_ms: float) -> float:
    return qt_ms / np.sqrt(rr_ms / 1000.0)


def qtc_fridericia(qt_ms: float, rr_ms: float) -> float:
    return qt_ms / np.cbrt(rr_ms / 1000.0)


def _rr_stats(rr_parts: list[np.ndarray], notes: dict[str, str]) -> dict[str, Any]:
    rr = np.concatenate(rr_parts) * 1000.0 / FS if rr_parts else np.zeros(0)
    diffs = np.concatenate([np.diff(p) for p in rr_parts]) * 1000.0 / FS if rr_parts else np.zeros(0)
    out: dict[str, Any] = {"rhythm": "unknown"}
    if rr.size >= 2:
        out["rr_mean_ms"] = float(rr.mean())
        out["heart_rate_bpm"] = 60_000.0 / float(rr.mean())
    else:
        notes["heart_rate_bpm"] = "too_few_beats"
    if rr.size >= 3:
        out["rr_sdnn_ms"] = float(rr.std(ddof=1))
    if diffs.size >= 2:
        out["rmssd_ms"] = float(np.sqrt(np.mean(diffs**2)))
    if rr.size >= MIN_RR_FOR_RHYTHM:
        out["rhythm"] = "irregular" if rr.std() / rr.mean() > IRREGULAR_CV else "regular"
    else:
        notes["rhythm"] = "too_few_beats"
    return out


def _checked(name: str, value: float | None, notes: dict[str, str]) -> float | None:
    if value is None:
        notes.setdefault(name, "not_delineated")
        return None
    lo, hi = RANGES_MS[name]
    if not lo <= value <= hi:
        notes[name] = "implausible_value"
        return None
    return round(float(value), 1)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def measure(record: ECGRecord, beats: BeatAnalysis | None = None) -> Measurements:
    """`beats`: analyze_beats(record), when the caller already has it (quality.assess uses it too)."""
    ba = beats if beats is not None else analyze_beats(record)
    notes: dict[str, str] = {}
    if ba.prep is None:
        notes["record"] = "invalid_sampling_rate"
    elif ba.r is None:
        notes["record"] = "no_usable_lead"
    stats = _rr_stats(ba.r.rr_parts if ba.r else [], notes)
    fid = ba.fid
    ms = 1000.0 / FS
    pr = qrs = qt = None
    if fid.qrs_onset is not None and fid.qrs_offset is not None:
        qrs = (fid.qrs_offset - fid.qrs_onset) * ms
        if fid.t_end is not None:
            qt = (fid.t_end - fid.qrs_onset) * ms
        if fid.p_onset is not None and ba.mb is not None:
            if p_wave_consistency(ba.mb, int(fid.p_onset), int(fid.qrs_onset)) >= P_CONSISTENCY_MIN:
                pr = (fid.qrs_onset - fid.p_onset) * ms
            else:
                notes["pr_ms"] = "no_consistent_p_wave"
    elif ba.r is not None and not ba.r.rr_parts:
        notes["qrs_ms"] = notes["qt_ms"] = notes["pr_ms"] = "too_few_beats"
    pr, qrs, qt = _checked("pr_ms", pr, notes), _checked("qrs_ms", qrs, notes), _checked("qt_ms", qt, notes)
    rr_mean = stats.get("rr_mean_ms")
    qtc_b = qtc_f = None
    if qt is not None and rr_mean is not None:
        qtc_b, qtc_f = qtc_bazett(qt, rr_mean), qtc_fridericia(qt, rr_mean)
        if stats["rhythm"] == "irregular":
            notes["qtc_bazett_ms"] = notes["qtc_fridericia_ms"] = "irregular_rhythm"
    r_peaks = ba.r.peaks if ba.r is not None else np.zeros(0)
    scale = record.fs / FS
    return Measurements(
        heart_rate_bpm=_round(stats.get("heart_rate_bpm")),
        rr_mean_ms=_round(rr_mean),
        rr_sdnn_ms=_round(stats.get("rr_sdnn_ms")),
        rmssd_ms=_round(stats.get("rmssd_ms")),
        rhythm=stats["rhythm"],
        pr_ms=pr,
        qrs_ms=qrs,
        qt_ms=qt,
        qtc_bazett_ms=_round(qtc_b),
        qtc_fridericia_ms=_round(qtc_f),
        lead_used_for_rhythm=STANDARD_LEADS[ba.r.lead] if ba.r is not None else None,
        r_peaks=tuple(round(p * scale) for p in r_peaks),
        beats=int(r_peaks.size),
        notes=notes,
    )
