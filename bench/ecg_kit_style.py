"""Printouts in a second, independent style: the page geometry of ecg-image-kit's generator (the
toolkit that made the 2024 PhysioNet Challenge's images), drawn here with matplotlib. Our own
renderer (ecg_photo_render.py) copies GE / Philips carts, and the digitiser was tuned on it; this
one checks that nothing we read depends on that one style.

What differs from ecg_photo_render.py (as the toolkit's documentation and plotting code lay a page
out; written here from that description):
- US letter landscape, 11 x 8.5 in, at 200 dpi (7.9 px/mm); the grid covers the whole page.
- The trace starts at the calibration pulse's falling edge (no stub, no gap) and the columns abut
  with no separator tick; lead names sit 7 mm below the baseline at each segment's start.
- Rows spaced a sixth of the page height (36 mm), the rhythm strip 21 mm above the page's bottom
  edge, the top third of the page blank; "25mm/s" and "10mm/mV" printed under the strip.
- Line width 0.75 pt (the pulse 1.5x), grid lines 0.5 pt, in the toolkit's five paper colours
  (brown, pink, dark blue, dark green, red) or black and white; the trace dark grey.

    python bench/ecg_kit_style.py --out var/kit --records 3
"""

import argparse
import sys
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from ecg_photo_render import FS, LEAD, LEVELS, PrintSettings, Rendered, photograph, truth_of

PAGE_IN = (11.0, 8.5)
X_MAX_S = PAGE_IN[0] * 25.4 / 25.0  # the page's width in seconds at 25 mm/s
Y_MAX_MV = PAGE_IN[1] * 25.4 / 10.0  # its height in mV at 10 mm/mV
X_GAP_S = 0.4  # pulse's rising edge from the page's left edge
PULSE_S = 0.2
# (major, minor) line colours, RGB 0..1: brown, pink, dark blue, dark green, red, black and white
KIT_GRIDS = {
    "brown": ((0.427, 0.196, 0.184), (0.588, 0.420, 0.396)),
    "pink": ((1.0, 0.796, 0.866), (0.996, 0.929, 0.973)),
    "darkblue": ((0.0, 0.0, 0.4), (0.0, 0.0, 0.7)),
    "darkgreen": ((0.0, 0.3, 0.0), (0.0, 0.8, 0.3)),
    "red": ((1.0, 0.0, 0.0), (0.996, 0.875, 0.859)),
    "bw": ((0.4, 0.4, 0.4), (0.75, 0.75, 0.75)),
}
ROWS_3X4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))


def render_kit_page(signal: np.ndarray, grid: str, dpi: int = 200, grey: float = 0.1) -> np.ndarray:
    """signal [5000, 12] mV at 500 Hz -> a 3x4 page with a lead II rhythm strip (BGR uint8)."""
    fig = plt.figure(figsize=PAGE_IN, dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, X_MAX_S)
    ax.set_ylim(0, Y_MAX_MV)
    ax.set_axis_off()
    major, minor = KIT_GRIDS[grid]
    for step, colour in ((0.04, minor), (0.2, major)):
        ax.vlines(np.arange(0, X_MAX_S, step), 0, Y_MAX_MV, colors=[colour], linewidth=0.5)
    for step, colour in ((0.1, minor), (0.5, major)):
        ax.hlines(np.arange(0, Y_MAX_MV, step), 0, X_MAX_S, colors=[colour], linewidth=0.5)
    ink = (grey, grey, grey)
    row_height = Y_MAX_MV / 6
    pulse_t = np.arange(round(PULSE_S * FS) + 4) / FS
    pulse_v = np.r_[0.0, 0.0, np.ones(len(pulse_t) - 4), 0.0, 0.0]
    segment = np.arange(round(2.5 * FS)) / FS
    for r, row in enumerate(ROWS_3X4):
        baseline = (3.5 - r) * row_height  # I on top, III lowest of the three
        ax.plot(X_GAP_S + pulse_t, baseline + pulse_v, color=ink, linewidth=1.125)
        for c, lead in enumerate(row):
            start = X_GAP_S + PULSE_S + 2.5 * c
            values = signal[round(2.5 * c * FS) : round(2.5 * (c + 1) * FS), LEAD[lead]]
            ax.plot(start + segment, baseline + values, color=ink, linewidth=0.75)
            ax.text(start, baseline - 0.7, lead, fontsize=11)
    strip = row_height / 2 + 0.3
    ax.plot(X_GAP_S + pulse_t, strip + pulse_v, color=ink, linewidth=1.125)
    ax.plot(X_GAP_S + PULSE_S + np.arange(len(signal)) / FS, strip + signal[:, 1], color=ink, linewidth=0.75)
    ax.text(X_GAP_S, row_height / 2 - 0.5, "II", fontsize=11)
    ax.text(2, 0.5, "25mm/s", fontsize=11)
    ax.text(4, 0.5, "10mm/mV", fontsize=11)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    plt.close(fig)
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)


def render_kit_example(signal: np.ndarray, level: str, index: int, seed: int) -> Rendered:
    """One kit-style bench image, deterministic in (level, index, seed); its truth as the toolkit
    gives it (each column's 2.5 s, lead II's 10 s)."""
    rng = np.random.default_rng([seed, index, LEVELS.index(level), 1])
    grid = list(KIT_GRIDS)[index % len(KIT_GRIDS)]
    page = render_kit_page(signal, grid, grey=float(rng.uniform(0, 0.2)))
    settings = PrintSettings(layout="3x4+1", grid=grid, px_per_mm=200 / 25.4)
    image = page if level == "scan" and index % 2 == 0 else photograph(page, level, rng)
    return Rendered(image, truth_of(signal, settings), settings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "var" / "kit")
    parser.add_argument("--level", choices=LEVELS, default="scan")
    parser.add_argument("--records", type=int, default=3)
    parser.add_argument("--fold", type=int, default=9)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from ecg_ml.data import load_ptbxl_500

    data = load_ptbxl_500([args.fold])
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.records):
        rendered = render_kit_example(data.x[i], args.level, i, args.seed)
        stem = args.out / f"{args.level}_{i:03d}_{data.ecg_id[i]}"
        cv2.imwrite(f"{stem}.png", rendered.image)
        np.savez_compressed(f"{stem}.npz", truth=rendered.truth)
        print(stem, rendered.settings.grid)


if __name__ == "__main__":
    main()
