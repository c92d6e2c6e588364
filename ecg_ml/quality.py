"""Is this ECG fit to be interpreted? Signal quality per lead, and the problems that make a
reading unsafe (refused) or worth a warning.

Problem codes, and what they do to `interpretable`:
- invalid_sampling_rate (refused): fs not finite, or outside 100-10,000 Hz; below 100 Hz a QRS is
  a handful of samples (PTB-XL's 100 Hz records stay interpretable).
- all_missing (refused): no finite sample at all.
- missing_leads (warning): some leads hold no finite sample; refused when fewer than
  MIN_USABLE_LEADS leads are usable (present and not flat).
- too_short (refused): the longest finite stretch of any lead is under 2.5 s (one column of a
  3x4 printout is exactly 2.5 s, so a printout passes).
- flat_line: a lead that is constant, or tiny (< 20 uV) beside a lead fifty times its size:
  a warning for some leads, refused when every lead is flat.
- implausible_amplitude (refused): the largest lead's amplitude is over 15 mV (microvolts read as
  millivolts) or, in an ECG-shaped signal, under 0.05 mV (volts read as millivolts).
- saturated (warning): plateaus at a lead's extreme value, repeated: the amplifier clipped.
- noisy: per-lead SQI under NOISY_LEAD_SQI is a warning; refused when the rhythm lead's SQI or the
  median SQI of the usable leads is under NOISY_RECORD_SQI.
- lead_reversal (warning): the left and right arm electrodes swapped, see _limb_reversal.

The SQI of a lead is how alike its beats are: the mean, over beats, of the correlation of a beat
(-250 ms to +450 ms around the R peak, the QRS and the T wave) with the mean of the lead's other
beats, clipped to 0..1 (a template-matching SQI, as in Orphanidou et al., IEEE J Biomed Health
Inform 19(3), 2015). Chosen over NeuroKit's ecg_quality: its "averageQRS" index is rescaled
within each record (the worst beat is always 0, the best 1), so it cannot say that a whole
record is noise, and "zhao2018" gives a class per record, not a number per lead. A lead with
fewer than two whole beats gets no SQI (None). Thresholds were set on PTB-XL; the figures are in
docs/benchmarks.md ("ECG signal quality").
"""

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ecg_ml.measure import (
    FS,
    BeatAnalysis,
    Prepared,
    analyze_beats,
    finite_runs,
    fs_is_valid,
    lead_amplitude,
)
from ecg_ml.record import STANDARD_LEADS, ECGRecord

MIN_DURATION_S = 2.5
MIN_USABLE_LEADS = 2
FLAT_MV = 0.02  # a lead smaller than this ...
FLAT_SHARE = 0.02  # ... and smaller than this share of the largest lead is flat
CONSTANT_MV = 1e-6  # a lead whose standard deviation is under this is constant: flat
MAX_AMPLITUDE_MV = 15.0
MIN_AMPLITUDE_MV = 0.05
SATURATION_S = 0.01  # a plateau at least this long (and 3 samples) at the lead's extreme ...
SATURATION_PLATEAUS = 2  # ... at least this many times: clipped
NOISY_LEAD_SQI = 0.5
NOISY_RECORD_SQI = 0.5
SQI_WINDOW_S = (0.25, 0.45)

REFUSING = (
    "invalid_sampling_rate",
    "all_missing",
    "too_short",
    "implausible_amplitude",
    "flat_line",
    "missing_leads",
    "noisy",
)


@dataclass(frozen=True)
class Quality:
    """sqi: per lead 0..1 (None: missing, or too few beats to judge); problems: codes, in the
    order found; problem_leads: for the per-lead codes, the leads concerned; reason: the code
    that made the record uninterpretable, None when it is interpretable."""

    sqi: dict[str, float | None]
    problems: list[str]
    interpretable: bool
    reason: str | None
    problem_leads: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Findings:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.leads: dict[str, list[str]] = {}
        self.refusal: str | None = None

    def add(self, code: str, leads: list[int] | None = None, refuse: bool = False) -> None:
        if code not in self.problems:
            self.problems.append(code)
        if leads:
            self.leads.setdefault(code, []).extend(STANDARD_LEADS[lead] for lead in leads)
        if refuse and self.refusal is None:
            self.refusal = code

    def result(self, sqi: dict[str, float | None]) -> Quality:
        return Quality(
            sqi=sqi,
            problems=list(self.problems),
            interpretable=self.refusal is None,
            reason=self.refusal,
            problem_leads=self.leads,
        )


def assess(record: ECGRecord, beats: BeatAnalysis | None = None) -> Quality:
    """`beats`: analyze_beats(record), when the caller already has it (measure.measure uses it too)."""
    found = _Findings()
    no_sqi: dict[str, float | None] = dict.fromkeys(STANDARD_LEADS)
    if not fs_is_valid(record.fs):
        found.add("invalid_sampling_rate", refuse=True)
        return found.result(no_sqi)
    sig = record.signal
    finite = np.isfinite(sig)
    if not finite.any():
        found.add("all_missing", refuse=True)
        return found.result(no_sqi)
    missing = [lead for lead in range(sig.shape[1]) if not finite[:, lead].any()]
    longest_s = max(
        max((b - a for a, b in finite_runs(finite[:, lead])), default=0) for lead in range(sig.shape[1])
    )
    if longest_s / record.fs < MIN_DURATION_S * 0.99:
        found.add("too_short", refuse=True)
        return found.result(no_sqi)

    ba = beats if beats is not None else analyze_beats(record)
    assert ba.prep is not None
    prep = ba.prep
    amps = np.array([lead_amplitude(prep, lead) for lead in range(sig.shape[1])])
    flat = _flat_leads(sig, amps, missing)
    usable = [lead for lead in range(sig.shape[1]) if lead not in missing and lead not in flat]
    sqi, counts = _sqi(ba)
    if missing:
        found.add("missing_leads", missing)
    if flat:
        found.add("flat_line", flat, refuse=not usable)
    if usable:
        _check_amplitude(found, amps[usable], [sqi[STANDARD_LEADS[lead]] for lead in usable])
        if len(usable) < MIN_USABLE_LEADS:
            found.add("missing_leads", refuse=True)
    saturated = [lead for lead in usable if _is_saturated(sig[:, lead], record.fs)]
    if saturated:
        found.add("saturated", saturated)
    if usable and found.refusal is None:
        _check_noise(found, ba, sqi, counts, usable)
    if found.refusal is None and _limb_reversal(ba):
        found.add("lead_reversal", [STANDARD_LEADS.index("I"), STANDARD_LEADS.index("aVR")])
    return found.result(sqi)


def _flat_leads(sig: np.ndarray, amps: np.ndarray, missing: list[int]) -> list[int]:
    flat = []
    largest = float(amps.max())
    for lead in range(sig.shape[1]):
        if lead in missing:
            continue
        x = sig[:, lead]
        x = x[np.isfinite(x)]
        constant = float(np.std(x)) < CONSTANT_MV
        tiny = amps[lead] < FLAT_MV and amps[lead] < FLAT_SHARE * largest
        if constant or tiny:
            flat.append(lead)
    return flat


def _check_amplitude(found: _Findings, amps: np.ndarray, sqis: list[float | None]) -> None:
    largest = float(amps.max())
    if largest > MAX_AMPLITUDE_MV:
        found.add("implausible_amplitude", refuse=True)
    elif largest < MIN_AMPLITUDE_MV:
        # Tiny everywhere: an ECG in volts has the shape of one (its beats repeat); electrodes
        # off give noise, which is a flat line.
        judged = [s for s in sqis if s is not None]
        if judged and float(np.median(judged)) >= NOISY_RECORD_SQI:
            found.add("implausible_amplitude", refuse=True)
        else:
            found.add("flat_line", refuse=True)


def _is_saturated(x: np.ndarray, fs: float) -> bool:
    x = x[np.isfinite(x)]
    if x.size == 0 or float(np.ptp(x)) <= 0:
        return False
    length = max(3, round(SATURATION_S * fs))
    tol = 1e-6 * max(1.0, float(np.max(np.abs(x))))
    for extreme in (x.max(), x.min()):
        at = np.abs(x - extreme) <= tol
        runs = [b - a for a, b in finite_runs(at)]
        if sum(run >= length for run in runs) >= SATURATION_PLATEAUS:
            return True
    return False


def _sqi(ba: BeatAnalysis) -> tuple[dict[str, float | None], dict[str, int]]:
    """Per lead: the SQI (None without two whole beats) and the number of beats behind it."""
    out: dict[str, float | None] = dict.fromkeys(STANDARD_LEADS)
    counts = dict.fromkeys(STANDARD_LEADS, 0)
    if ba.prep is None or ba.r is None:
        return out, counts
    prep: Prepared = ba.prep
    pre, post = int(SQI_WINDOW_S[0] * FS), int(SQI_WINDOW_S[1] * FS)
    for lead, name in enumerate(STANDARD_LEADS):
        if not prep.runs[lead]:
            continue
        if ba.r.peaks.size == 0:
            out[name] = 0.0  # signal, but not one beat found in any lead
            continue
        inside = [r for r in ba.r.peaks if any(a <= r - pre and r + post <= b for a, b in prep.runs[lead])]
        counts[name] = len(inside)
        if len(inside) >= 2:
            beats = np.array([prep.clean[r - pre : r + post, lead] for r in inside])
            out[name] = round(_template_agreement(beats), 3)
    return out, counts


def _template_agreement(beats: np.ndarray) -> float:
    """Median, over beats, of the correlation of a beat with the median of the other beats,
    clipped to 0..1 (leaving the beat out keeps noise from matching itself; the medians let a
    premature beat differ)."""
    k = beats.shape[0]
    scores = np.zeros(k)
    for i in range(k):
        template = np.median(np.delete(beats, i, axis=0), axis=0)
        a, b = beats[i] - beats[i].mean(), template - template.mean()
        norm = float(np.linalg.norm(a) * np.linalg.norm(b))
        scores[i] = float(a @ b) / norm if norm > 0 else 0.0
    return float(np.clip(np.median(scores), 0.0, 1.0))


def _check_noise(
    found: _Findings,
    ba: BeatAnalysis,
    sqi: dict[str, float | None],
    counts: dict[str, int],
    usable: list[int],
) -> None:
    """Only SQIs from three beats or more count: two beats cannot tell noise from one premature
    beat (a printout's 2.5 s column often holds just two)."""
    judged = {
        lead: value
        for lead in usable
        if (value := sqi[STANDARD_LEADS[lead]]) is not None and counts[STANDARD_LEADS[lead]] >= 3
    }
    noisy = [lead for lead, value in judged.items() if value < NOISY_LEAD_SQI]
    rhythm = STANDARD_LEADS[ba.r.lead] if ba.r is not None else None
    rhythm_sqi = sqi[rhythm] if rhythm is not None else None
    median = float(np.median(list(judged.values()))) if judged else 0.0
    too_noisy = median < NOISY_RECORD_SQI or (rhythm_sqi is not None and rhythm_sqi < NOISY_RECORD_SQI)
    if noisy or too_noisy:
        found.add("noisy", noisy, refuse=too_noisy)


def _limb_reversal(ba: BeatAnalysis) -> bool:
    """Left and right arm electrodes swapped. Lead I turns upside down: its P wave and QRS are
    negative; aVR (now the left arm's view) turns upright: a positive P wave or QRS; and V6,
    which the arm electrodes do not touch, keeps its positive QRS (in dextrocardia, the other
    cause of a negative lead I, it does not). The pattern as described by Batchvarov, Malik &
    Camm, "Incorrect electrode cable connection during electrocardiographic recording",
    Europace 9 (2007) 1081-1090, and LITFL's "ECG limb lead reversal". Without a P wave (atrial
    fibrillation) it is not called: a negative QRS in lead I alone is also right axis deviation."""
    mb, fid = ba.mb, ba.fid
    if mb is None or fid.qrs_onset is None or fid.qrs_offset is None or fid.p_onset is None:
        return False
    lead_i, avr, v6 = (STANDARD_LEADS.index(name) for name in ("I", "aVR", "V6"))
    if not all(np.isfinite(mb.beats[0, lead]) for lead in (lead_i, avr, v6)):
        return False
    qrs = slice(int(fid.qrs_onset), int(fid.qrs_offset) + 1)
    p_wave = slice(int(fid.p_onset), int(fid.qrs_onset))
    qrs_area = mb.beats[qrs].sum(axis=0)
    p_area = mb.beats[p_wave].sum(axis=0)
    lead_i_inverted = qrs_area[lead_i] < 0 and p_area[lead_i] < 0
    avr_upright = qrs_area[avr] > 0 or p_area[avr] > 0
    return bool(lead_i_inverted and avr_upright and qrs_area[v6] > 0)
