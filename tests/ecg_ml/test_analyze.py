"""ecg_ml.analyze end to end on real PTB-XL records read from their WFDB files: a reading with
measurements, findings, triage and advice; bad signals refused with their reason code and nothing
else; the batch command line; the public names of the package."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ecg_ml
from ecg_ml.data import printout_view
from ecg_ml.recommend import RECOMMENDATION_TEXTS, TRIAGE_TEXTS
from ecg_ml.record import STANDARD_LEADS, ECGRecord

PTBXL = Path(__file__).resolve().parents[1] / "data" / "ptbxl"
ROOT = Path(__file__).resolve().parents[2]
LEAD = {name: i for i, name in enumerate(STANDARD_LEADS)}


def record(ecg_id: int) -> ECGRecord:
    return ecg_ml.read_record(PTBXL / f"{ecg_id:05d}_hr.hea")


@pytest.fixture(scope="module")
def normal() -> ecg_ml.Analysis:
    return ecg_ml.analyze(record(1))


def test_a_normal_record_reads_as_normal(normal: ecg_ml.Analysis) -> None:
    assert normal.interpretable and normal.reason is None
    assert normal.findings[0].label == "NORM"
    assert normal.findings[0].probability > 0.7
    assert normal.probabilities["AFIB"] < 0.1
    assert normal.triage == "routine"
    assert normal.recommendations == ["routine_follow_up"]
    assert normal.measurements is not None
    assert 50 <= normal.measurements["heart_rate_bpm"] <= 80  # 00001: sinus rhythm at ~63 bpm
    assert normal.measurements["rhythm"] == "regular"
    assert normal.model_version and normal.rules_version
    assert normal.disclaimer
    assert set(normal.timings_ms) == {"quality", "measure", "classify", "explain"}


def test_the_reading_is_plain_json(normal: ecg_ml.Analysis) -> None:
    out = normal.to_dict()
    assert json.loads(json.dumps(out)) == out
    assert {"findings", "probabilities", "measurements", "quality", "triage", "recommendations"} <= set(out)


def test_atrial_flutter_record_gets_a_finding_with_its_explanation() -> None:
    reading = ecg_ml.analyze(record(17))  # PTB-XL 00017: atrial flutter, AFIB also listed
    labels = [finding.label for finding in reading.findings]
    assert {"AFIB", "AFLT"} & set(labels), reading.probabilities
    assert reading.triage in ("soon", "urgent")
    assert "see_cardiologist_soon" in reading.recommendations
    explained = reading.findings[0]
    assert explained.explanation is not None
    heat = np.array(explained.explanation)
    assert heat.shape == (12, 50) and heat.min() >= 0 and heat.max() == pytest.approx(1.0, abs=1e-3)


def test_high_risk_category_adds_advice(normal: ecg_ml.Analysis) -> None:
    reading = ecg_ml.analyze(record(1), risk_category="very_high")
    assert reading.triage == "soon"
    assert "risk_factor_control" in reading.recommendations
    assert reading.probabilities == normal.probabilities


def test_every_code_the_reading_can_carry_has_a_text(normal: ecg_ml.Analysis) -> None:
    assert normal.triage in TRIAGE_TEXTS
    assert all(code in RECOMMENDATION_TEXTS for code in normal.recommendations)


def test_a_printout_photo_view_is_read() -> None:
    source = record(1)
    printout = ECGRecord(signal=printout_view(source.signal), fs=source.fs)
    reading = ecg_ml.analyze(printout)
    assert reading.interpretable, reading.quality
    assert reading.findings and reading.findings[0].label == "NORM"
    assert reading.measurements is not None
    assert 50 <= reading.measurements["heart_rate_bpm"] <= 80


def damaged(kind: str) -> ECGRecord:
    source = record(1)
    x = source.signal.copy()
    fs = source.fs
    if kind == "flat_line":
        x[:] = 0.0
    elif kind == "all_missing":
        x[:] = np.nan
    elif kind == "missing_leads":
        x[:, [lead for lead in range(12) if lead != LEAD["V3"]]] = np.nan
    elif kind == "too_short":
        x = x[: int(2.0 * fs)]
    elif kind == "implausible_amplitude":
        x = x * 1000.0  # microvolts read as millivolts
    elif kind == "invalid_sampling_rate":
        fs = 5.0
    return ECGRecord(signal=x, fs=fs)


@pytest.mark.parametrize(
    "kind",
    [
        "flat_line",
        "all_missing",
        "missing_leads",
        "too_short",
        "implausible_amplitude",
        "invalid_sampling_rate",
    ],
)
def test_bad_signals_are_not_read(kind: str) -> None:
    reading = ecg_ml.analyze(damaged(kind))
    assert not reading.interpretable
    assert reading.reason == kind
    assert reading.triage == "not_interpretable"
    assert reading.recommendations == ["retake_ecg"]
    assert reading.findings == [] and reading.probabilities == {} and reading.measurements is None
    assert reading.model_version


def test_swapped_arm_electrodes_are_read_with_a_warning() -> None:
    source = record(1).signal
    x = source.copy()
    x[:, LEAD["I"]] = -source[:, LEAD["I"]]
    x[:, LEAD["II"]], x[:, LEAD["III"]] = source[:, LEAD["III"]], source[:, LEAD["II"]]
    x[:, LEAD["aVR"]], x[:, LEAD["aVL"]] = source[:, LEAD["aVL"]], source[:, LEAD["aVR"]]
    reading = ecg_ml.analyze(ECGRecord(signal=x, fs=500.0))
    assert reading.interpretable
    assert "lead_reversal" in reading.quality["problems"]


def test_command_line_reads_files_and_names_what_it_cannot(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not an ECG at all\n")
    run = subprocess.run(
        [sys.executable, "-m", "ecg_ml", "analyze", str(PTBXL / "00001_hr.hea"), str(junk)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["ok"] for line in lines] == [True, False]
    assert lines[0]["findings"][0]["label"] == "NORM"
    assert lines[1]["reason"] == "unsupported_format"
    assert "unsupported_format" in run.stderr


def test_public_names_and_light_imports() -> None:
    for name in ("read_record", "classify_batch", "analyze", "ECGRecord", "ECGError"):
        assert getattr(ecg_ml, name) is not None
    with pytest.raises(AttributeError):
        _ = ecg_ml.no_such_thing  # type: ignore[attr-defined]
    check = "import sys, ecg_ml.errors, ecg_ml.record; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], check=False, cwd=ROOT, timeout=60).returncode == 0


def test_batch_command_line_writes_one_csv_row_per_input(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    for ecg_id in (1, 17, 102):
        for suffix in (".hea", ".dat"):
            shutil.copy(PTBXL / f"{ecg_id:05d}_hr{suffix}", archive)
    junk = archive / "notes.txt"
    junk.write_text("not an ECG at all\n")
    out = tmp_path / "out.csv"
    run = subprocess.run(
        [sys.executable, "-m", "ecg_ml", "analyze", str(archive), "--csv", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=600,
    )
    assert run.returncode == 1, run.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    by_file = {Path(row["file"]).name: row for row in rows}
    # Every WFDB record of the folder once (by its .hea), never its .dat; the text file refused.
    assert sorted(by_file) == ["00001_hr.hea", "00017_hr.hea", "00102_hr.hea", "notes.txt"]
    assert by_file["notes.txt"]["status"] == "unreadable"
    assert by_file["notes.txt"]["reason"] == "unsupported_format"
    normal = by_file["00001_hr.hea"]
    assert normal["status"] == "ok" and normal["triage"] == "routine"
    assert 50 <= float(normal["heart_rate_bpm"]) <= 80
    assert normal["top_findings"].startswith("NORM:")
    assert float(normal["seconds"]) > 0
