"""The ECG library from the command line.

python -m ecg_ml analyze PATH... [--csv OUT.csv] [--risk high]
    ECG files and photos of paper ECGs (folders are walked) through the same reading the app
    gets. Without --csv: one JSON line per input. With --csv: one row per input (file, status,
    reason, heart rate, QTc, triage, top findings with probabilities, seconds) and a progress
    bar. Exit status 0 when every input was read, 1 otherwise.

python -m ecg_ml digitize IMAGE -o OUT.npz [--overlay PAGE.png]
    A photo or scan of a paper ECG to signals: OUT.npz holds `signal` (float32 [n, 12] mV,
    NaN where a lead is not printed), `fs` and `leads`; --overlay also writes the page as the
    digitizer saw it with the trace it read drawn over it. When the photo cannot be read: exit
    status 1 and the reason code on stderr.
"""

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ecg_ml.analysis import analyze
from ecg_ml.errors import ECGError
from ecg_ml.io import read_record
from ecg_ml.io.common import image_format
from ecg_ml.record import ECGRecord

WFDB_COMPANIONS = (".dat", ".atr", ".xws", ".qrs")
CSV_COLUMNS = (
    "file",
    "status",
    "reason",
    "heart_rate_bpm",
    "qtc_bazett_ms",
    "triage",
    "top_findings",
    "seconds",
)
TOP_FINDINGS = 3


def read_input(path: Path) -> ECGRecord:
    """An ECG file, or a photo digitized into one."""
    with path.open("rb") as handle:
        head = handle.read(16)
    if image_format(head) is not None:
        from ecg_ml.digitize import digitize_image  # OpenCV loads only when a photo comes

        return digitize_image(path.read_bytes()).record()
    return read_record(path)


def inputs(paths: list[str]) -> Iterator[Path]:
    """The files named, and every file under the folders named; a WFDB record once (its .hea)."""
    for name in paths:
        path = Path(name)
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in found:
            if file.suffix.lower() in WFDB_COMPANIONS and file.with_suffix(".hea").exists():
                continue
            yield file


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def csv_row(path: Path, reading: dict[str, Any] | None, reason: str | None, seconds: float) -> dict[str, Any]:
    if reading is None:
        return {"file": str(path), "status": "unreadable", "reason": reason, "seconds": f"{seconds:.2f}"}
    measurements = reading.get("measurements") or {}
    ranked = sorted(reading.get("probabilities", {}).items(), key=lambda item: -item[1])[:TOP_FINDINGS]
    return {
        "file": str(path),
        "status": "ok" if reading["interpretable"] else "not_interpretable",
        "reason": reading.get("reason") or "",
        "heart_rate_bpm": measurements.get("heart_rate_bpm", ""),
        "qtc_bazett_ms": measurements.get("qtc_bazett_ms", ""),
        "triage": reading["triage"],
        "top_findings": ";".join(f"{label}:{p:.2f}" for label, p in ranked),
        "seconds": f"{seconds:.2f}",
    }


def analyze_command(paths: list[str], risk_category: str | None, csv_path: Path | None) -> int:
    status = 0
    files = list(inputs(paths))
    out = csv_path.open("w", newline="", encoding="utf-8") if csv_path else None
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS) if out else None
    if writer is not None:
        writer.writeheader()
    try:
        for path in tqdm(files, desc="analyze", unit="file", disable=out is None, file=sys.stderr):
            started = time.perf_counter()
            reading: dict[str, Any] | None = None
            reason = None
            try:
                reading = analyze(read_input(path), risk_category=risk_category).to_dict()
            except (ECGError, OSError) as error:
                status = 1
                reason = error.code if isinstance(error, ECGError) else "file_not_readable"
                tqdm.write(f"{path}: {reason}", file=sys.stderr)
            seconds = time.perf_counter() - started
            if writer is not None:
                writer.writerow(csv_row(path, reading, reason, seconds))
            elif reading is not None:
                print(json.dumps({"file": str(path), "ok": True, **reading}, default=_plain))  # noqa: T201
            else:
                print(json.dumps({"file": str(path), "ok": False, "reason": reason}))  # noqa: T201
    finally:
        if out is not None:
            out.close()
    return status


def digitize_command(image: Path, output: Path, overlay: Path | None = None) -> int:
    from ecg_ml.digitize import digitize_image

    try:
        digitized = digitize_image(image.read_bytes(), overlay=overlay is not None)
    except ECGError as error:
        print(error.code, file=sys.stderr)  # noqa: T201 - the reason code is the interface
        return 1
    except OSError:
        print("file_not_readable", file=sys.stderr)  # noqa: T201
        return 1
    np.savez_compressed(
        output,
        signal=digitized.signal.astype(np.float32),
        fs=np.float32(digitized.fs),
        leads=np.array(digitized.leads),
    )
    if overlay is not None and digitized.overlay is not None:
        import cv2

        cv2.imwrite(str(overlay), digitized.overlay)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ecg_ml", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    analyze_parser = commands.add_parser("analyze", help="read ECG files and photos")
    analyze_parser.add_argument("paths", nargs="+", help="files or folders")
    analyze_parser.add_argument("--csv", type=Path, help="write one row per input here")
    analyze_parser.add_argument("--risk", choices=["low_to_moderate", "high", "very_high"], default=None)
    digitize_parser = commands.add_parser("digitize", help="a photo of a paper ECG to signals")
    digitize_parser.add_argument("image", type=Path)
    digitize_parser.add_argument("-o", "--output", type=Path, required=True)
    digitize_parser.add_argument("--overlay", type=Path, help="also write the page with the trace read (PNG)")
    args = parser.parse_args(argv)
    if args.command == "analyze":
        return analyze_command(args.paths, args.risk, args.csv)
    return digitize_command(args.image, args.output, args.overlay)


if __name__ == "__main__":
    sys.exit(main())
