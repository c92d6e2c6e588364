"""Fuzz the file parsers for a time budget: the ECG readers (WFDB header + signal zipped, DICOM
waveforms, HL7 aECG XML, CSV, mutations of the real fixtures) and the upload intake (photo
headers told by magic bytes, mutated real photos, any ECG file), with the strategies of
tests/ecg_ml/fuzz_inputs.py, random seeds and many more examples than `make test` runs.

    .venv/bin/python bench/fuzz_parsers.py [--minutes 10] [--examples-per-round 400]
    .venv/bin/python bench/fuzz_parsers.py --bombs [CODE_ROOT]

Every input must be read or refused with the library's refusal (UnreadableECG; IntakeRefused at
intake), within 5 s and 64 MiB traced allocation, and no refusal may hide a MemoryError. Each
round runs in a child process under a wall-clock watchdog (a hang in C code is killed and the
input it was reading is kept) and an address-space limit of 4 GiB. Findings are saved, shrunk by
Hypothesis, under var/fuzz-findings/; the summary prints per target: examples, outcomes, the
slowest input and the largest allocation.

`--bombs` measures instead the size bombs of tests/ecg_ml/fuzz_inputs.py (small uploads that
claim or unpack to the most a reader takes), each read once in a fresh process: outcome, time,
peak resident memory. With CODE_ROOT, the ecg_ml of another checkout is measured (before/after).
"""

import argparse
import collections
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FINDINGS = ROOT / "var" / "fuzz-findings"
TARGETS = ["wfdb", "dicom", "aecg", "csv", "mutated_files", "photo_headers", "mutated_photos", "uploads"]
ADDRESS_SPACE_LIMIT = 4 * 2**30


def run_child(target: str, examples: int, seed: int) -> None:
    """One round in this process: print one JSON line of statistics and findings."""
    sys.path.insert(0, str(ROOT))
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    warnings.simplefilter("ignore")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as seed_of_round
    from hypothesis import strategies as st

    from services.studies import intake
    from tests.ecg_ml import fuzz_inputs as inputs

    photo = (inputs.DATA / "photos" / "bad_too_blurry.jpg").read_bytes()
    strategies = {
        "wfdb": inputs.wfdb_records(),
        "dicom": inputs.dicom_waveforms(),
        "aecg": inputs.aecg_documents(),
        "csv": inputs.csv_tables(),
        "mutated_files": inputs.mutated_fixtures(),
        "photo_headers": inputs.image_bytes,
        "mutated_photos": inputs.mutated(photo),
        "uploads": st.lists(inputs.any_ecg_file(), min_size=1, max_size=3),
    }
    outcomes: collections.Counter[str] = collections.Counter()
    worst = {"seconds": 0.0, "peak_bytes": 0}
    current = FINDINGS / f"current-{target}.bin"
    failing: list[bytes] = []

    def check(data: bytes | list[bytes]) -> None:
        files = data if isinstance(data, list) else [data]
        blob = b"\0--next file--\0".join(files)
        current.write_bytes(blob)  # what the watchdog keeps if this input hangs
        usage = inputs.Usage()
        try:
            if target in ("photo_headers", "mutated_photos", "uploads"):
                with inputs.within_limits() as usage:
                    try:
                        uploads = [intake.UploadedFile(f"{i}.bin", file) for i, file in enumerate(files)]
                        intake.accept(uploads, 20_000_000, 50_000_000)
                        outcome = "accepted"
                    except intake.IntakeRefused as refused:
                        outcome = refused.reason
            else:
                outcome = inputs.read_checked(files[0], usage=usage)
        except BaseException:
            failing.append(blob)
            raise
        outcomes[outcome] += 1
        worst["seconds"] = max(worst["seconds"], usage.seconds)
        worst["peak_bytes"] = max(worst["peak_bytes"], usage.peak_bytes)

    round_settings = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    finding = None
    try:
        seed_of_round(seed)(round_settings(given(strategies[target])(check)))()
    except Exception:
        shrunk = failing[-1] if failing else b""
        name = f"{target}-{hashlib.sha256(shrunk).hexdigest()[:12]}.bin"
        (FINDINGS / name).write_bytes(shrunk)
        finding = {"file": name, "error": traceback.format_exc(limit=3)[-1500:]}
    current.unlink(missing_ok=True)
    print(json.dumps({"outcomes": outcomes, "worst": worst, "finding": finding}))


def run_round(target: str, examples: int, seed: int, timeout_s: float) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", target, "--examples", str(examples), "--seed", str(seed)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        current = FINDINGS / f"current-{target}.bin"
        name = f"{target}-hang-{seed}.bin"
        if current.exists():
            current.rename(FINDINGS / name)
        return {
            "outcomes": {},
            "worst": {},
            "finding": {"file": name, "error": f"round hung over {timeout_s} s"},
        }
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        current = FINDINGS / f"current-{target}.bin"
        name = f"{target}-crash-{seed}.bin"
        if current.exists():
            current.rename(FINDINGS / name)
        error = f"child exited {done.returncode}: {done.stderr[-1500:]}"
        return {"outcomes": {}, "worst": {}, "finding": {"file": name, "error": error}}
    return json.loads(lines[-1])


# The peak is VmHWM of /proc/self/status: ru_maxrss would carry the parent's peak across fork.
MEASURE_ONE = """
import sys, time
sys.path.insert(0, sys.argv[2])
from ecg_ml.errors import UnreadableECG
from ecg_ml.io import read_record

def peak_mb():
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) // 1024

data = open(sys.argv[1], "rb").read()
before = peak_mb()
started = time.perf_counter()
try:
    outcome = "read %s" % (read_record(data, "upload.zip").signal.shape,)
except UnreadableECG as refused:
    outcome = refused.code
seconds = time.perf_counter() - started
print("%s|%.2f|%d|%d" % (outcome, seconds, before, peak_mb()))
"""


def measure_bombs(code_root: Path) -> None:
    """Each size bomb read once in a fresh process: outcome, time and peak resident memory
    (VmHWM; 'before' is the process with the input loaded, imports included)."""
    import tempfile

    sys.path.insert(0, str(ROOT))
    from tests.ecg_ml.fuzz_inputs import size_bombs

    print(f"code: {code_root}")
    print("| input | upload | outcome | time | peak RSS (before the read) |")
    print("|---|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name, data in size_bombs().items():
            path = Path(folder) / "input.bin"
            path.write_bytes(data)
            done = subprocess.run(
                [sys.executable, "-c", MEASURE_ONE, str(path), str(code_root)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                print(f"| {name} | {len(data) / 1024:,.0f} KB | crashed: {done.stderr[-200:]!r} | | |")
                continue
            outcome, seconds, before, peak = done.stdout.strip().split("|")
            size = f"{len(data) / 1024:,.0f} KB"
            print(f"| {name} | {size} | {outcome} | {float(seconds):.1f} s | {peak} MB ({before} MB) |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="time budget of the whole run")
    parser.add_argument("--examples-per-round", type=int, default=400)
    parser.add_argument("--targets", nargs="*", default=TARGETS, choices=TARGETS)
    parser.add_argument(
        "--bombs",
        nargs="?",
        const=str(ROOT),
        metavar="CODE_ROOT",
        help="instead of fuzzing, measure the size bombs (optionally against another checkout's ecg_ml)",
    )
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--examples", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bombs:
        measure_bombs(Path(args.bombs))
        return
    FINDINGS.mkdir(parents=True, exist_ok=True)
    if args.child:
        run_child(args.child, args.examples, args.seed)
        return

    deadline = time.monotonic() + args.minutes * 60
    totals = {
        t: {"rounds": 0, "outcomes": collections.Counter(), "seconds": 0.0, "peak_bytes": 0} for t in TARGETS
    }
    findings: list[tuple[str, dict[str, str]]] = []
    seed = int.from_bytes(os.urandom(4), "big")
    print(
        f"fuzzing {', '.join(args.targets)} for {args.minutes:g} min on {platform.node()} "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()}), first seed {seed}",
        flush=True,
    )
    started = time.monotonic()
    while time.monotonic() < deadline:
        for target in args.targets:
            if time.monotonic() >= deadline:
                break
            seed += 1
            result = run_round(
                target, args.examples_per_round, seed, timeout_s=args.examples_per_round * 5.0 + 60
            )
            total = totals[target]
            total["rounds"] += 1
            total["outcomes"].update(result["outcomes"])
            worst = result["worst"] or {}
            total["seconds"] = max(total["seconds"], worst.get("seconds", 0.0))
            total["peak_bytes"] = max(total["peak_bytes"], worst.get("peak_bytes", 0))
            if result["finding"]:
                findings.append((target, result["finding"]))
                print(
                    f"FINDING in {target}: {result['finding']['file']}\n{result['finding']['error']}",
                    flush=True,
                )
        elapsed = (time.monotonic() - started) / 60
        done = sum(sum(t["outcomes"].values()) for t in totals.values())
        print(f"{elapsed:5.1f} min: {done} inputs, {len(findings)} findings", flush=True)

    print("\n| target | inputs | slowest input | largest allocation | most common outcomes |")
    print("|---|---:|---:|---:|---|")
    for target in args.targets:
        total = totals[target]
        common = ", ".join(f"{code} {count}" for code, count in total["outcomes"].most_common(4))
        print(
            f"| {target} | {sum(total['outcomes'].values())} | {total['seconds'] * 1000:.0f} ms "
            f"| {total['peak_bytes'] / 2**20:.1f} MiB | {common} |"
        )
    print(f"\nfindings: {len(findings)}" + "".join(f"\n- {t}: {f['file']}" for t, f in findings))


if __name__ == "__main__":
    main()
