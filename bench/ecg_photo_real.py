"""The photo digitiser on the real photos and scans of paper ECGs in ../shared/data (no
ground-truth signal): read or refused with its reason, the layout, speed and gain it found, the
heart rate from digitised lead II, and an overlay per read image (the trace as read drawn over the
page) for a person to check against the paper.

    python bench/ecg_photo_real.py                        # overlays in var/photo_real/
    CARDIOALERT_DATA_DIR=/path/to/data python bench/ecg_photo_real.py
"""

import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from ecg_photo_eval import heart_rate

from ecg_ml.digitize import digitize_image
from ecg_ml.errors import UnreadablePhoto

DATA = Path(os.environ.get("CARDIOALERT_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
IMAGES = DATA / "ecg_images_real" / "ecg-image-kit_sample"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def main() -> None:
    out = REPO_ROOT / "var" / "photo_real"
    out.mkdir(parents=True, exist_ok=True)
    read, reasons = 0, {}
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
        leads = int(np.isfinite(result.signal).any(axis=0).sum())
        assert result.overlay is not None
        cv2.imwrite(str(out / f"{path.stem}.png"), result.overlay)
        print(
            f"{path.name:14s} read     {result.layout} {result.paper_speed:g} mm/s {result.gain:g} mm/mV, "
            f"strips {','.join(result.quality['rhythm_strips']) or '-'}, "
            f"{leads} leads, quality {result.quality['score']}, HR II "
            f"{'-' if hr is None else f'{hr:.0f}'} bpm, {time.perf_counter() - started:.2f} s",
            flush=True,
        )
    print(f"read {read}, refused {sum(reasons.values())} {reasons}; overlays in {out}")


if __name__ == "__main__":
    main()
