"""ecg_ml.quality.assess: every problem code produced on a damaged copy of a real record, and the
real PTB-XL records (tests/data/ptbxl, 500 Hz and 100 Hz) coming out interpretable."""

import csv
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecg_ml.quality import Quality, assess
from ecg_ml.record import STANDARD_LEADS, ECGRecord

PTBXL = Path(__file__).resolve().parents[1] / "data" / "ptbxl"
RECORDS = {row["why"]: int(row["ecg_id"]) for row in csv.DictReader((PTBXL / "records.csv").open())}
LEAD = {name: i for i, name in enumerate(STANDARD_LEADS)}


@cache
def signal(why: str = "NORM", rate: str = "hr") -> tuple[np.ndarray, float]:
    values, fields = wfdb.rdsamp(str(PTBXL / f"{RECORDS[why]:05d}_{rate}"))
    values.flags.writeable = False
    return values.astype(np.float32), float(fields["fs"])


def check(values: np.ndarray, fs: float = 500.0) -> Quality:
    return assess(ECGRecord(signal=np.asarray(values, dtype=np.float32), fs=fs))


def norm() -> np.ndarray:
    return signal()[0].copy()


def refused(q: Quality, code: str) -> None:
    assert not q.interpretable
    assert q.reason == code
    assert code in q.problems


def warned(q: Quality, code: str, leads: list[str] | None = None) -> None:
    assert q.interpretable, q
    assert q.reason is None
    assert code in q.problems
    if leads is not None:
        assert q.problem_leads[code] == leads


@pytest.mark.parametrize("why", sorted(RECORDS))
def test_real_records_are_interpretable(why: str) -> None:
    q = check(*signal(why))
    assert q.interpretable and q.reason is None, q
    assert all(value is not None and 0.0 <= value <= 1.0 for value in q.sqi.values())


def test_a_clean_record_has_no_problems_and_high_sqi() -> None:
    q = check(norm())
    assert q.problems == []
    assert min(q.sqi.values()) > 0.85


def test_ptbxl_100_hz_stays_interpretable() -> None:
    values, fs = signal("NORM", "lr")
    assert fs == 100
    q = check(values, fs)
    assert q.interpretable and q.problems == []


def test_all_missing() -> None:
    refused(check(np.full((5000, 12), np.nan)), "all_missing")


def test_flat_line_on_every_lead_is_refused() -> None:
    refused(check(np.zeros((5000, 12))), "flat_line")
    refused(
        check(np.full((5000, 12), 0.3) + np.random.default_rng(1).normal(0, 0.002, (5000, 12))), "flat_line"
    )


def test_flat_line_on_one_lead_is_a_warning() -> None:
    values = norm()
    values[:, LEAD["V2"]] = 0.0
    warned(check(values), "flat_line", ["V2"])
    values[:, LEAD["V2"]] = np.random.default_rng(2).normal(0, 0.003, 5000)  # an electrode off: tiny noise
    warned(check(values), "flat_line", ["V2"])


def test_missing_leads_is_a_warning_until_fewer_than_two_are_left() -> None:
    values = norm()
    values[:, LEAD["V1"] :] = np.nan
    warned(check(values), "missing_leads", ["V1", "V2", "V3", "V4", "V5", "V6"])
    values[:, 1:] = np.nan
    refused(check(values), "missing_leads")


def test_too_short() -> None:
    refused(check(norm()[:750]), "too_short")  # 1.5 s
    values = norm()
    values[1250:, :] = np.nan  # 2.5 s everywhere: one printout column is enough
    assert "too_short" not in check(values).problems


@pytest.mark.parametrize("factor", [1000.0, 0.001])
def test_wrong_units_give_implausible_amplitude(factor: float) -> None:
    refused(check(norm() * factor), "implausible_amplitude")


@pytest.mark.parametrize("fs", [5.0, 50.0, 50_000.0, float("nan")])
def test_invalid_sampling_rate(fs: float) -> None:
    refused(check(norm(), fs), "invalid_sampling_rate")


def test_clipping_is_saturated() -> None:
    values = norm()
    for lead in ("II", "V2"):  # the amplifier's range at 60 % of the R waves
        x = values[:, LEAD[lead]]
        values[:, LEAD[lead]] = np.clip(x, 0.6 * x.min(), 0.6 * x.max())
    warned(check(values), "saturated", ["II", "V2"])


def test_left_and_right_arm_swapped_is_lead_reversal() -> None:
    original = norm()
    swapped = original.copy()
    swapped[:, LEAD["I"]] = -original[:, LEAD["I"]]
    swapped[:, LEAD["II"]], swapped[:, LEAD["III"]] = original[:, LEAD["III"]], original[:, LEAD["II"]]
    swapped[:, LEAD["aVR"]], swapped[:, LEAD["aVL"]] = original[:, LEAD["aVL"]], original[:, LEAD["aVR"]]
    warned(check(swapped), "lead_reversal", ["I", "aVR"])
    assert "lead_reversal" not in check(original).problems


def test_noise_only_is_refused_as_noisy() -> None:
    noise = np.random.default_rng(3).normal(0, 0.5, (5000, 12))
    q = check(noise)
    refused(q, "noisy")
    # Noise gives no repeating beats: no lead earns an SQI that would call it clean.
    assert all(v is None or v < 0.5 for v in q.sqi.values())


def test_noisy_leads_are_a_warning() -> None:
    values = norm()
    values[:, LEAD["V1"] : LEAD["V3"] + 1] += np.random.default_rng(4).normal(0, 1.0, (5000, 3))
    q = check(values)
    warned(q, "noisy")
    assert set(q.problem_leads["noisy"]) <= {"V1", "V2", "V3"}
    assert q.sqi["V5"] > 0.9


def test_heavy_noise_everywhere_is_refused() -> None:
    values = norm() + np.random.default_rng(5).normal(0, 1.0, (5000, 12))
    refused(check(values), "noisy")


def test_a_printout_with_nan_gaps_is_interpretable() -> None:
    values = norm()
    out = np.full_like(values, np.nan)
    for c in range(4):
        out[c * 1250 : (c + 1) * 1250, 3 * c : 3 * c + 3] = values[
            c * 1250 : (c + 1) * 1250, 3 * c : 3 * c + 3
        ]
    out[:, LEAD["II"]] = values[:, LEAD["II"]]
    q = check(out)
    assert q.interpretable and q.problems == [], q


def test_to_dict_is_plain_json() -> None:
    out = check(norm()).to_dict()
    assert json.loads(json.dumps(out)) == out
    assert set(out) == {"sqi", "problems", "interpretable", "reason", "problem_leads"}
