"""The photo digitiser on the real photos and scans of paper ECGs in ../shared/data (no
ground-truth signal): read or refused with its reason, the layout, speed and gain it found, the
heart rate from digitised lead II, two measures of reading error (aVR + aVL + aVF, zero as
printed; the agreement of the two readings of a lead printed twice), and an overlay per read image
(the trace as read drawn over the page) for a person to check against the paper.

    python bench/ecg_photo_real.py                        # overlays in var/photo_real/
    python bench/ecg_photo_real.py --turned               # each read image turned 90, 180, 270 degrees
    CARDIOALERT_DATA_DIR=/path/to/data python bench/ecg_photo_real.py

--turned: every image read as it is, then turned (as a photo taken on its side or upside down
without an EXIF orientation): whether each turned photo gives the same signal as the upright one,
the turn the digitiser undid, and the median time per photo at each turn.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from ecg_photo_eval import heart_rate, limb_residual_mv

from ecg_ml.digitize import digitize_image
from ecg_ml.digitize.pipeline import TURNS, turned
from ecg_ml.errors import UnreadablePhoto

DATA = Path(os.environ.get("CARDIOALERT_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
IMAGES = DATA / "ecg_images_real" / "ecg-image-kit_sample"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def turned_check() -> None:
    same = dict.fromkeys(TURNS, 0)
    times: dict[int, list[float]] = {0: [], **{d: [] for d in TURNS}}
    upright = 0
    for path in sorted(p for p in IMAGES.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        image = cv2.imread(str(path))
        readings: dict[int, object] = {}
        for degrees in (0, *TURNS):
            data = cv2.imencode(".png", turned(image, degrees))[1]
            started = time.perf_counter()
            try:
                result = digitize_image(data.tobytes())
                readings[degrees] = (np.nan_to_num(result.signal), result.quality["turned_deg"])
            except UnreadablePhoto as error:
                readings[degrees] = error.code
            times[degrees].append(time.perf_counter() - started)
            if degrees == 0 and isinstance(readings[0], str):
                break
        if isinstance(readings[0], str):
            print(f"{path.name:14s} refused {readings[0]}", flush=True)
            continue
        upright += 1
        line = []
        for degrees in TURNS:
            reading = readings[degrees]
            if isinstance(reading, str):
                line.append(f"{degrees}: refused {reading}")
                continue
            alike = bool(np.allclose(reading[0], readings[0][0], atol=1e-4))
            same[degrees] += alike
            line.append(f"{degrees}: turned {reading[1]}, {'same' if alike else 'DIFFERENT'}")
        print(f"{path.name:14s} " + "; ".join(line), flush=True)
    print(f"read upright {upright}; the same signal turned: {same}")
    print("median s per photo:", {d: round(float(np.median(t)), 2) for d, t in times.items()})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turned", action="store_true")
    if parser.parse_args().turned:
        turned_check()
        return
    out = REPO_ROOT / "var" / "photo_real"
    out.mkdir(parents=True, exist_ok=True)
    read, reasons = 0, {}
    residuals: list[float] = []
    agreements: list[float] = []
    for path in sorted(p for p in IMAGES.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        started = time.perf_counter()
        try:
            result = digitize_image(path.read_bytes(), overlay=True)
        except UnreadablePhoto as error:
            reasons[error.code] = reasons.get(error.code, 0) + 1
            print(f"{path.name:14s} refused  {error.code}", flush=True)
            continue
        read += 1
        hr = heart_rate(result.signal)
        residual = limb_residual_mv(result.signal)
        if residual is not None:
            residuals.append(residual)
        agreements += result.quality["printed_twice_agreement_db"]
        leads = int(np.isfinite(result.signal).any(axis=0).sum())
        assert result.overlay is not None
        cv2.imwrite(str(out / f"{path.stem}.png"), result.overlay)
        print(
            f"{path.name:14s} read     {result.layout} {result.paper_speed:g} mm/s {result.gain:g} mm/mV, "
            f"strips {','.join(result.quality['rhythm_strips']) or '-'}, "
            f"{leads} leads, quality {result.quality['score']}, HR II "
            f"{'-' if hr is None else f'{hr:.0f}'} bpm, aVR+aVL+aVF "
            f"{'-' if residual is None else f'{residual:.3f}'} mV, printed twice agree "
            f"{result.quality['printed_twice_agreement_db'] or '-'} dB, "
            f"{time.perf_counter() - started:.2f} s",
            flush=True,
        )
    print(f"read {read}, refused {sum(reasons.values())} {reasons}; overlays in {out}")
    if residuals:
        each = [round(r, 3) for r in residuals]
        print(f"aVR+aVL+aVF (mV RMS, 0 if read perfectly): median {np.median(residuals):.3f}, each {each}")
    if agreements:
        print(f"leads printed twice, their two readings' agreement: median {np.median(agreements):.1f} dB")


if __name__ == "__main__":
    main()
