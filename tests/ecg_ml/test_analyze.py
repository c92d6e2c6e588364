"""ecg_ml.analyze end to end on real PTB-XL records read from their WFDB files: a reading with
measurements, findings, triage and advice; bad signals refused with their reason code and nothing
else; the batch command line; the public names of the package."""

import ast
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ecg_ml
from ecg_ml import quality
from ecg_ml.analysis import PHOTO_PROBLEMS, PHOTO_PROBLEMS_NOT_SHOWN
from ecg_ml.data import printout_view
from ecg_ml.recommend import QUALITY_TEXTS, RECOMMENDATION_TEXTS, TRIAGE_TEXTS
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


def photo(source: ECGRecord, problems: list[str]) -> ECGRecord:
    """A record as a photo's digitiser hands it over (DigitizedECG.record)."""
    metadata = {"format": "photo", "photo_problems": problems}
    return ECGRecord(signal=source.signal, fs=source.fs, metadata=metadata)


def test_a_photos_reading_problems_are_warnings_without_its_internal_ones(normal: ecg_ml.Analysis) -> None:
    reading = ecg_ml.analyze(photo(record(1), ["glare", "trace_start_not_at_convention"]))
    assert reading.interpretable and reading.reason is None
    assert reading.quality["problems"] == [*normal.quality["problems"], "photo_glare"]
    assert not any("trace_start" in code for code in reading.quality["problems"])
    assert reading.triage == normal.triage and reading.probabilities == normal.probabilities


def test_a_refused_photo_keeps_its_reading_problems_once_each() -> None:
    refused = damaged("too_short")
    problems = ["leads_not_read", "row_shorter_than_printed", "leads_not_read", "an_unknown_code"]
    reading = ecg_ml.analyze(photo(refused, problems))
    assert not reading.interpretable and reading.reason == "too_short"
    assert reading.quality["problems"] == [
        "too_short",
        "photo_leads_not_read",
        "photo_row_shorter_than_printed",
    ]


def _strings_in(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def signal_quality_codes() -> set[str]:
    """Every code ecg_ml.quality can add, read from its source: the first argument of `.add(...)`."""
    tree = ast.parse((ROOT / "ecg_ml" / "quality.py").read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def digitiser_problem_codes() -> set[str]:
    """Every code the digitiser can put in its problems, read from its source: the strings
    appended or added to anything named problems (`problems.append("x")`,
    `quality["problems"] += ["x"]`)."""
    found: set[str] = set()
    for path in sorted((ROOT / "ecg_ml" / "digitize").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("append", "extend")
                and ast.unparse(node.func.value).endswith("problems")
            ):
                found |= set().union(*(_strings_in(arg) for arg in node.args))
            elif isinstance(node, ast.AugAssign) and "problems" in ast.unparse(node.target):
                found |= _strings_in(node.value)
    return found


def test_every_quality_problem_the_reading_can_carry_has_a_text() -> None:
    signal_codes = signal_quality_codes()
    assert set(quality.REFUSING) <= signal_codes  # the reading of the source found the codes
    digitiser_codes = digitiser_problem_codes()
    assert "glare" in digitiser_codes
    # Each of the digitiser's codes is either told (under its photo_ code) or left out on purpose.
    assert digitiser_codes == set(PHOTO_PROBLEMS) | PHOTO_PROBLEMS_NOT_SHOWN
    photo_codes = set(PHOTO_PROBLEMS.values())
    assert not photo_codes & signal_codes
    assert set(QUALITY_TEXTS) == signal_codes | photo_codes


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
