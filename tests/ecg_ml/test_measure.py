"""ecg_ml.measure on real PTB-XL records (tests/data/ptbxl): heart rate, PR, QRS and rhythm where
the cardiologists' statements imply them, the QTc formulas, the 3x4 printout's NaN gaps, other
sampling rates, and inputs with nothing to measure."""

import csv
import json
from functools import cache
from pathlib import Path

import neurokit2 as nk
import numpy as np
import pytest
import wfdb

from ecg_ml.measure import (
    Measurements,
    _detectors_agree,
    _search_back,
    _trim_edges,
    _voting,
    analyze_beats,
    measure,
    prepare,
    qtc_bazett,
    qtc_fridericia,
)
from ecg_ml.record import STANDARD_LEADS, ECGRecord

PTBXL = Path(__file__).resolve().parents[1] / "data" / "ptbxl"
RECORDS = {row["why"]: int(row["ecg_id"]) for row in csv.DictReader((PTBXL / "records.csv").open())}


@cache
def record(why: str, rate: str = "hr") -> ECGRecord:
    """The test record chosen for `why` (records.csv); PTB-XL's leads are already in our order."""
    signal, fields = wfdb.rdsamp(str(PTBXL / f"{RECORDS[why]:05d}_{rate}"))
    assert [name.upper() for name in fields["sig_name"]] == [name.upper() for name in STANDARD_LEADS]
    return ECGRecord(signal=signal.astype(np.float32), fs=float(fields["fs"]))


@cache
def measured(why: str) -> Measurements:
    return measure(record(why))


def printout(signal: np.ndarray, fs: float) -> np.ndarray:
    """A photographed 3x4 printout: each lead only in its 2.5 s column, lead II whole."""
    out = np.full_like(signal, np.nan)
    column = round(2.5 * fs)
    for c in range(4):
        out[c * column : (c + 1) * column, 3 * c : 3 * c + 3] = signal[
            c * column : (c + 1) * column, 3 * c : 3 * c + 3
        ]
    out[:, 1] = signal[:, 1]
    return out


def test_sinus_bradycardia_is_below_60() -> None:
    assert measured("SBRAD").heart_rate_bpm < 60


def test_sinus_tachycardia_is_above_100() -> None:
    assert measured("STACH").heart_rate_bpm > 100


def test_first_degree_av_block_has_a_long_pr() -> None:
    assert measured("1AVB").pr_ms > 200


def test_normal_intervals_are_normal() -> None:
    m = measured("NORM")
    assert 60 <= m.heart_rate_bpm <= 100
    assert 120 <= m.pr_ms <= 200
    assert 70 <= m.qrs_ms < 110
    assert 350 <= m.qtc_bazett_ms <= 450
    assert m.lead_used_for_rhythm == "II"


@pytest.mark.parametrize("why", ["CLBBB", "CRBBB"])
def test_bundle_branch_blocks_have_a_wide_qrs(why: str) -> None:
    assert measured(why).qrs_ms >= 120


def test_atrial_fibrillation_is_irregular_and_normal_is_regular() -> None:
    assert measured("AFIB").rhythm == "irregular"
    assert measured("NORM").rhythm == "regular"


def test_no_pr_without_a_repeating_p_wave() -> None:
    afib = measured("AFIB")
    assert afib.pr_ms is None
    assert afib.notes["pr_ms"] in {"no_consistent_p_wave", "not_delineated"}


def test_qtc_formulas() -> None:
    # Bazett QT / sqrt(RR s), Fridericia QT / cbrt(RR s), worked by hand.
    assert qtc_bazett(400.0, 1000.0) == pytest.approx(400.0)
    assert qtc_bazett(400.0, 640.0) == pytest.approx(500.0)  # sqrt(0.64) = 0.8
    assert qtc_fridericia(400.0, 512.0) == pytest.approx(500.0)  # cbrt(0.512) = 0.8
    assert qtc_fridericia(360.0, 729.0) == pytest.approx(400.0)  # cbrt(0.729) = 0.9
    m = measured("NORM")
    assert m.qtc_bazett_ms == pytest.approx(m.qt_ms / np.sqrt(m.rr_mean_ms / 1000), abs=0.15)
    assert m.qtc_fridericia_ms == pytest.approx(m.qt_ms / np.cbrt(m.rr_mean_ms / 1000), abs=0.15)


def test_heart_rate_counts_the_beats() -> None:
    m = measured("NORM")
    assert m.beats == len(m.r_peaks) == 10  # counted by eye on the plotted record
    rr = np.diff(m.r_peaks) / 500 * 1000
    assert m.rr_mean_ms == pytest.approx(rr.mean(), abs=1.0)
    assert m.heart_rate_bpm == pytest.approx(60_000 / m.rr_mean_ms, abs=0.1)


def test_a_printout_gives_the_full_records_heart_rate() -> None:
    full = record("NORM")
    m = measure(ECGRecord(signal=printout(full.signal, full.fs), fs=full.fs))
    assert m.lead_used_for_rhythm == "II"
    assert m.heart_rate_bpm == pytest.approx(measured("NORM").heart_rate_bpm, abs=3)
    assert m.qrs_ms is not None and m.pr_ms is not None and m.qt_ms is not None


def without_rhythm_strip(signal: np.ndarray, columns: list[list[int]]) -> np.ndarray:
    """A printout without a full rhythm strip: the record's time split evenly among the columns,
    each column printing its leads in its own stretch only."""
    out = np.full_like(signal, np.nan)
    width = signal.shape[0] // len(columns)
    for c, leads in enumerate(columns):
        out[c * width : (c + 1) * width, leads] = signal[c * width : (c + 1) * width, leads]
    return out


@pytest.mark.parametrize(
    "columns",
    [[list(range(6)), list(range(6, 12))], [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]],
    ids=["6x2", "3x4 without strip"],
)
@pytest.mark.parametrize("why", ["AFIB", "IMI", "NORM"])
def test_a_page_without_a_rhythm_strip_gives_the_whole_records_heart_rate(
    columns: list[list[int]], why: str
) -> None:
    """Lead II alone holds 5 s (6x2) or 2.5 s (3x4) of the record: the other columns' leads
    give the beats of the rest (atrial fibrillation's rate over the first 5 s alone is 12 bpm
    off), and every lead gets beats for its median beat."""
    full = record(why)
    page = ECGRecord(signal=without_rhythm_strip(full.signal, columns), fs=full.fs)
    m = measure(page)
    assert m.heart_rate_bpm == pytest.approx(measured(why).heart_rate_bpm, abs=2)
    assert m.beats >= measured(why).beats - len(columns)  # a beat may fall on a column's edge
    assert (analyze_beats(page).mb.counts > 0).all()


def test_stray_spikes_on_a_lone_rhythm_strip_cost_no_beats() -> None:
    """A digitised photo's strip can carry a few tall artefacts (a crease, a label): detectors that
    set their threshold from the tallest peaks then miss the real beats, and must not out-vote
    NeuroKit's."""
    full = record("NORM")
    strip = np.full_like(full.signal, np.nan)
    t = np.arange(full.signal.shape[0])
    strip[:, 1] = full.signal[:, 1]
    for at in (700, 1400, 2600):
        strip[:, 1] += 3.5 * np.exp(-0.5 * ((t - at) / 8) ** 2)
    m = measure(ECGRecord(signal=strip, fs=full.fs))
    assert m.beats == measured("NORM").beats
    assert m.heart_rate_bpm == pytest.approx(measured("NORM").heart_rate_bpm, abs=2)


def test_rows_read_out_of_step_do_not_add_or_drop_beats() -> None:
    """On a photo the rows' time axes can disagree (perspective left in the page): here each
    column's leads run 80 ms late against the rhythm strip, past the tolerance within which two
    leads' beats count as one. The strip's own beats are regular and stay; the columns' beats,
    out of step, must not replace them (they did: 8 beats where the record has 10)."""
    full = record("LVH")
    late = np.full_like(full.signal, np.nan)
    column, shift = 1250, 40
    for c in range(4):
        moved = np.clip(np.arange(c * column, (c + 1) * column) - shift, 0, None)
        late[c * column : (c + 1) * column, 3 * c : 3 * c + 3] = full.signal[moved, 3 * c : 3 * c + 3]
    late[:, 1] = full.signal[:, 1]
    m = measure(ECGRecord(signal=late, fs=full.fs))
    assert m.beats == measured("LVH").beats
    assert m.heart_rate_bpm == pytest.approx(measured("LVH").heart_rate_bpm, abs=1)


def lead_ii_alone(signal: np.ndarray) -> np.ndarray:
    out = np.full_like(signal, np.nan)
    out[:, 1] = signal[:, 1]
    return out


def test_beats_the_detectors_vote_down_in_a_gap_are_searched_back() -> None:
    """Lead II of the left bundle branch block record holds small, notched QRS complexes: one of
    the three detectors finds a beat the other two miss, and the vote dropped it (86 bpm where
    the record beats at 93). In a gap of twice the usual RR a beat shaped and sized like the kept
    ones is kept."""
    full = record("CLBBB")
    m = measure(ECGRecord(signal=lead_ii_alone(full.signal), fs=full.fs))
    assert m.beats == measured("CLBBB").beats
    assert m.heart_rate_bpm == pytest.approx(measured("CLBBB").heart_rate_bpm, abs=1)


def test_search_back_keeps_a_beat_shaped_and_sized_like_the_others_and_nothing_else() -> None:
    """_search_back on the normal record's lead II, its fifth beat dropped by the vote and found by
    one detector: kept, at its R peak. The same candidate where the beat is a quarter of the
    others' size (noise shaped like a QRS) or where one detector put it on a T wave is not."""
    full = record("NORM")
    cleaned = nk.ecg_clean(full.signal[:, 1], sampling_rate=500, method="neurokit")
    peaks = np.array(measured("NORM").r_peaks)
    voted = np.delete(peaks, 4)
    found = _search_back(voted, [voted, peaks], cleaned)
    assert found.size == peaks.size and abs(int(found[4]) - int(peaks[4])) <= 5

    small = cleaned.copy()
    small[peaks[4] - 60 : peaks[4] + 60] *= 0.25
    assert np.array_equal(_search_back(voted, [voted, peaks], small), voted)

    on_t_wave = np.sort(np.r_[voted, peaks[3] + 150])
    flat = cleaned.copy()
    flat[peaks[4] - 60 : peaks[4] + 60] = 0.0
    assert np.array_equal(_search_back(voted, [voted, on_t_wave], flat), voted)


def test_a_gap_hiding_two_beats_gets_both_back() -> None:
    """ecg00034's strip: two beats in a row that two detectors missed; the search back kept one
    per gap and the rate read 89 bpm where the strip beats at about 94. Each beat kept splits its
    gap, and what is left is searched again."""
    full = record("NORM")
    cleaned = nk.ecg_clean(full.signal[:, 1], sampling_rate=500, method="neurokit")
    peaks = np.array(measured("NORM").r_peaks)
    voted = np.delete(peaks, [4, 5])
    found = _search_back(voted, [voted, peaks], cleaned)
    assert found.size == peaks.size
    assert np.abs(found - peaks).max() <= 5


def test_a_detector_speaking_alone_gets_the_others_beats_searched_back() -> None:
    """ecg00038's rhythm strip as digitised (tests/data/photos_real): tremor over the whole strip,
    no two detectors agree, and the most regular one speaks alone; it missed two beats (RR gaps
    of twice the usual), and the search back looked only among its own beats: 134 bpm. Counted on
    the plot of the trace: 24-25 QRS complexes in 10 s, about 0.40 s apart."""
    strip = np.full((5000, 12), np.nan, dtype=np.float32)
    strip[:, 1] = np.load(PTBXL.parent / "photos_real" / "ecg00038_lead_ii.npy")
    m = measure(ECGRecord(signal=strip, fs=500.0))
    assert m.beats == 23  # from 0.9 s on: before its first beat the search back does not look
    assert m.heart_rate_bpm == pytest.approx(148, abs=3)


def test_a_beat_at_a_stretch_s_end_smaller_than_a_qrs_is_dropped() -> None:
    """Near a stretch's end a detector takes a P or T wave for a beat and no other lead can
    out-vote it (a 5 s strip of a 50 mm/s page read 82.5 bpm for 79.7: a P wave 0.1 s before the
    end). A beat there is dropped where it is under half the usual QRS; a QRS there is kept."""
    full = record("NORM")
    beats = np.array(measured("NORM").r_peaks)
    rr = int(np.median(np.diff(beats)))
    last = beats[6]
    for at, kept in ((last + int(0.8 * rr), False), (last, True)):
        strip = np.full_like(full.signal, np.nan)
        strip[: at + 100, 1] = full.signal[: at + 100, 1]
        peaks = np.r_[beats[:7], at] if not kept else beats[:7]
        trimmed = _trim_edges(prepare(ECGRecord(signal=strip, fs=full.fs)), 1, peaks)
        assert (trimmed[-1] == at) == kept
        assert np.array_equal(trimmed[:6], beats[:6])


def peaks(*samples: int) -> np.ndarray:
    return np.array(samples, dtype=np.int64)


def test_two_detectors_that_agree_vote_when_the_third_is_thrown() -> None:
    """The three detectors' peaks on real strips (NeuroKit, Manikandan, Kalidas). A digitised
    photo's lead II (PTB-XL fold 9, a 6x2 page): the third finds noise between the beats and is
    the most numerous; it spoke alone and the rate read 98 bpm where the strip beats at 69. Now
    the two that agree vote, both finding a beat within PEAK_TOLERANCE_S."""
    digitised = [
        peaks(379, 816, 1252, 1691, 2128),
        peaks(379, 819, 1248, 1688, 2123),
        peaks(153, 317, 671, 833, 1182, 1509, 1705, 2137),
    ]
    voters, tolerance = _voting(digitised, 25)
    assert [list(v) for v in voters] == [list(v) for v in digitised[:2]]
    assert list(_detectors_agree(voters, tolerance)) == [379, 816, 1252, 1691, 2128]

    # Five seconds of a slow strip (fold 8): two agree on four beats (too few to judge a rhythm),
    # the others add one each; the pair's four stand.
    slow = [peaks(385, 954, 1527, 2067), peaks(389, 955, 1248, 1526, 2061), peaks(158, 348, 969, 1542, 2082)]
    voters, tolerance = _voting(slow, 25)
    assert list(_detectors_agree(voters, tolerance)) == [385, 954, 1527, 2067]


def test_a_pair_that_leaves_a_gap_gives_way_to_the_most_regular_detector() -> None:
    """Fold 8's lead II: NeuroKit and Kalidas agree but each puts two beats on another wave, so
    the beats both found leave a gap of three RR intervals; Manikandan's, regular, speak."""
    thrown = [
        peaks(294, 477, 835, 1013, 1282, 1645, 1917, 2191, 2463, 2735, 3005, 3275, 3545, 3813, 4081),
        peaks(46, 274, 532, 795, 1065, 1345, 1618, 1888, 2168, 2435, 2707, 2987, 3262, 3520, 3805, 4070),
        peaks(302, 483, 847, 1115, 1383, 1656, 1927, 2203, 2475, 2747, 3015, 3287, 3555, 3826, 4095),
    ]
    voters, _ = _voting(thrown, 25)
    assert len(voters) == 1 and np.array_equal(voters[0], thrown[1])


def test_the_rhythm_lead_is_the_longest_finite_stretch() -> None:
    signal = record("NORM").signal.copy()
    signal[:, 1] = np.nan  # no lead II at all
    signal[2500:, [0, 2, 3, 4, 5, 6, 7, 8, 9, 11]] = np.nan  # all but V5 only half there
    m = measure(ECGRecord(signal=signal, fs=500))
    assert m.lead_used_for_rhythm == "V5"
    assert m.heart_rate_bpm == pytest.approx(measured("NORM").heart_rate_bpm, abs=3)


def test_100_hz_agrees_with_500_hz_and_peaks_are_in_the_records_own_rate() -> None:
    m100 = measure(record("NORM", "lr"))
    m500 = measured("NORM")
    assert m100.heart_rate_bpm == pytest.approx(m500.heart_rate_bpm, abs=3)
    assert np.all(np.abs(np.array(m100.r_peaks) - np.array(m500.r_peaks) / 5) <= 2)
    assert m100.qrs_ms == pytest.approx(m500.qrs_ms, abs=20)


def test_another_sampling_rate_is_resampled() -> None:
    full = record("NORM")
    t_new = np.arange(0, 10, 1 / 360)
    resampled = np.stack(
        [np.interp(t_new, np.arange(5000) / 500, full.signal[:, lead]) for lead in range(12)], 1
    )
    m = measure(ECGRecord(signal=resampled.astype(np.float32), fs=360))
    assert m.heart_rate_bpm == pytest.approx(measured("NORM").heart_rate_bpm, abs=1)
    assert max(m.r_peaks) < 3600


@pytest.mark.parametrize(
    ("signal", "fs", "code"),
    [
        (np.full((5000, 12), np.nan, dtype=np.float32), 500, "no_usable_lead"),
        (np.zeros((5000, 12), dtype=np.float32), 500, "no_usable_lead"),
        (np.zeros((50, 12), dtype=np.float32), 5, "invalid_sampling_rate"),
    ],
)
def test_nothing_to_measure_gives_nones_and_a_reason(signal: np.ndarray, fs: float, code: str) -> None:
    m = measure(ECGRecord(signal=signal, fs=fs))
    assert m.notes["record"] == code
    assert m.rhythm == "unknown"
    assert m.heart_rate_bpm is m.pr_ms is m.qrs_ms is m.qt_ms is m.qtc_bazett_ms is None
    assert m.r_peaks == () and m.beats == 0


def test_to_dict_is_plain_json() -> None:
    out = measured("1AVB").to_dict()
    assert json.loads(json.dumps(out)) == out
    assert set(out) >= {
        "heart_rate_bpm", "rr_mean_ms", "rr_sdnn_ms", "rmssd_ms", "rhythm", "pr_ms", "qrs_ms", "qt_ms",
        "qtc_bazett_ms", "qtc_fridericia_ms", "lead_used_for_rhythm", "r_peaks", "beats", "notes",
    }  # fmt: skip
    assert all(isinstance(out[k], float) for k in ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms"))
