"""Paper ECG printouts rendered from real PTB-XL signals, then "photographed" at graded levels.

The evaluation set of the photo digitiser (issue 7): every image comes with its ground truth, the
record's 500 Hz signal with NaN outside the stretch of each lead that is printed (how the 2024
PhysioNet Challenge scores digitisation).

How a page is laid out (like the GE / Philips carts we copy; the digitiser relies on none of the
numbers below except the calibration-pulse convention, it measures the rest):
- A4 landscape, 297 x 210 mm; grid 1 mm minor / 5 mm major lines from x 10 to 287 mm, y 20 to 200 mm.
- Settings printed above the grid ("25 mm/s  10 mm/mV  0.05-150 Hz").
- Every row starts with a 1 mV calibration pulse, 0.2 s wide; the row's trace starts 2 mm after the
  pulse's trailing stub (`PULSE_TO_TRACE_MM`), at time 0 of the record, 16 mm from the grid's left.
- 3x4: four columns of 2.5 s (I/II/III, aVR/aVL/aVF, V1-V3, V4-V6), a short separator tick at each
  column change, then one (II) or three (II, V1, V5) 10 s rhythm strips. 6x2: I-aVF over 0-5 s on
  the left, V1-V6 over 5-10 s on the right. At 50 mm/s the page holds the first 5 s.

    python bench/ecg_photo_render.py --out var/photos --records 5 --level easy
    python bench/ecg_photo_render.py --tests   # rewrites the committed test images
"""

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from ecg_ml.record import STANDARD_LEADS

FS = 500
N_SAMPLES = 5000
PAGE_MM = (297.0, 210.0)
GRID_MM = (10.0, 20.0, 287.0, 200.0)  # left, top, right, bottom
TRACE_START_MM = GRID_MM[0] + 16.0  # x of time 0
PULSE_TO_TRACE_MM = 2.0  # gap between the pulse's trailing stub and the trace
PULSE_STUB_MM = 1.0
LEVELS = ("scan", "easy", "hard")
# The rhythm strips each layout prints (3x4+2 only in tests: the bench's set keeps its layouts).
STRIPS = {"3x4+1": ("II",), "3x4+2": ("V1", "II"), "3x4+3": ("II", "V1", "V5")}

# BGR minor / major line colours of the paper kinds we print on.
GRID_COLOURS = {
    "pink": ((205, 200, 252), (135, 130, 235)),
    "red": ((190, 190, 250), (90, 90, 220)),
    "orange": ((190, 220, 252), (90, 160, 240)),
    "green": ((205, 238, 205), (120, 200, 120)),
    "blue": ((245, 225, 205), (215, 160, 110)),
    "grey": ((215, 215, 215), (165, 165, 165)),
}

LEAD = {name: i for i, name in enumerate(STANDARD_LEADS)}
COLUMNS_3X4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))


@dataclass(frozen=True)
class PrintSettings:
    layout: str = "3x4+1"  # "3x4+1", "3x4+2", "3x4+3", "6x2"
    speed: float = 25.0  # mm/s
    gain: float = 10.0  # mm/mV
    grid: str = "pink"
    px_per_mm: float = 8.0
    trace_mm: float = 0.3  # printed line width


@dataclass
class Rendered:
    image: np.ndarray  # BGR uint8
    truth: np.ndarray  # float32 [5000, 12] mV, NaN where not printed
    settings: PrintSettings
    notes: dict[str, float] = field(default_factory=dict)


def printed_duration(speed: float) -> float:
    return 250.0 / speed  # 250 mm of trace per row


def layout_rows(layout: str, speed: float) -> list[list[tuple[str, float, float]]]:
    """Rows of (lead, start s, stop s) segments."""
    duration = printed_duration(speed)
    quarter = duration / 4
    if layout.startswith("3x4"):
        rows = [[(lead, c * quarter, (c + 1) * quarter) for c, lead in enumerate(row)] for row in COLUMNS_3X4]
        return rows + [[(lead, 0.0, duration)] for lead in STRIPS.get(layout, ())]
    if layout == "6x2":
        half = duration / 2
        return [[(STANDARD_LEADS[k], 0.0, half), (STANDARD_LEADS[6 + k], half, duration)] for k in range(6)]
    raise ValueError(layout)


def row_baselines_mm(n_rows: int) -> list[float]:
    top, bottom = GRID_MM[1], GRID_MM[3]
    spacing = (bottom - top) / n_rows
    return [top + spacing * (i + 0.72) for i in range(n_rows)]


def truth_of(signal: np.ndarray, settings: PrintSettings) -> np.ndarray:
    truth = np.full((N_SAMPLES, 12), np.nan, dtype=np.float32)
    for row in layout_rows(settings.layout, settings.speed):
        for lead, start, stop in row:
            a, b = round(start * FS), round(stop * FS)
            truth[a:b, LEAD[lead]] = signal[a:b, LEAD[lead]]
    return truth


def _poly(points_mm: np.ndarray, ppm: float) -> np.ndarray:
    return np.round(points_mm * ppm * 16).astype(np.int32).reshape(-1, 1, 2)  # 4 fractional bits


def render_page(signal: np.ndarray, settings: PrintSettings, label: str = "") -> np.ndarray:
    """signal [5000, 12] mV at 500 Hz -> the printed page (BGR uint8)."""
    ppm = settings.px_per_mm
    width, height = round(PAGE_MM[0] * ppm), round(PAGE_MM[1] * ppm)
    page = np.full((height, width, 3), 252, dtype=np.uint8)
    minor, major = GRID_COLOURS[settings.grid]
    left, top, right, bottom = GRID_MM
    thin = max(1, round(0.1 * ppm))
    for kind, colour, thickness in (("minor", minor, thin), ("major", major, max(thin, round(0.22 * ppm)))):
        for i in range(round(right - left) + 1):
            if (i % 5 == 0) == (kind == "major"):
                x = left + i
                cv2.line(
                    page, *(_pt((x, top), ppm), _pt((x, bottom), ppm)), colour, thickness, cv2.LINE_AA, 4
                )
        for j in range(round(bottom - top) + 1):
            if (j % 5 == 0) == (kind == "major"):
                y = top + j
                cv2.line(
                    page, *(_pt((left, y), ppm), _pt((right, y), ppm)), colour, thickness, cv2.LINE_AA, 4
                )

    ink = (30, 25, 25)
    font_scale = 3.0 * ppm / 22.0
    text = f"{settings.speed:g} mm/s   {settings.gain:g} mm/mV   0.05-150 Hz   {label}"
    cv2.putText(
        page,
        text,
        _px((left, 13.0), ppm),
        cv2.FONT_HERSHEY_SIMPLEX,
        font_scale,
        ink,
        max(1, round(0.25 * ppm)),
        cv2.LINE_AA,
    )

    line = max(1, round(settings.trace_mm * ppm))
    rows = layout_rows(settings.layout, settings.speed)
    t = np.arange(N_SAMPLES) / FS
    for row, baseline in zip(rows, row_baselines_mm(len(rows)), strict=True):
        pulse_end = TRACE_START_MM - PULSE_TO_TRACE_MM
        fall = pulse_end - PULSE_STUB_MM
        rise = fall - 0.2 * settings.speed
        up = baseline - settings.gain
        pulse = np.array(
            [
                (rise - PULSE_STUB_MM, baseline),
                (rise, baseline),
                (rise, up),
                (fall, up),
                (fall, baseline),
                (pulse_end, baseline),
            ]
        )
        cv2.polylines(page, [_poly(pulse, ppm)], False, ink, line, cv2.LINE_AA, 4)
        for k, (lead, start, stop) in enumerate(row):
            a, b = round(start * FS), round(stop * FS)
            xs = TRACE_START_MM + t[a:b] * settings.speed
            ys = baseline - signal[a:b, LEAD[lead]] * settings.gain
            cv2.polylines(page, [_poly(np.stack([xs, ys], 1), ppm)], False, ink, line, cv2.LINE_AA, 4)
            label_at = (TRACE_START_MM + start * settings.speed + 1.5, baseline - 9.0)
            cv2.putText(
                page, lead, _px(label_at, ppm), cv2.FONT_HERSHEY_SIMPLEX, font_scale, ink, line, cv2.LINE_AA
            )
            if k > 0:  # separator tick at the column change
                x = TRACE_START_MM + start * settings.speed
                cv2.line(
                    page,
                    _pt((x, baseline - 2.0), ppm),
                    _pt((x, baseline + 2.0), ppm),
                    ink,
                    line,
                    cv2.LINE_AA,
                    4,
                )
    return page


def _pt(p: tuple[float, float], ppm: float) -> tuple[int, int]:
    return round(p[0] * ppm * 16), round(p[1] * ppm * 16)


def _px(p: tuple[float, float], ppm: float) -> tuple[int, int]:
    return round(p[0] * ppm), round(p[1] * ppm)


# ------------------------------------------------------------------ photograph-like distortions


@dataclass(frozen=True)
class Distortion:
    margin: float  # background around the page, fraction of the page size
    corner_jitter: float  # perspective: corner displacement, fraction of the page size
    rotation_deg: float
    curvature: float  # page curl: sinusoidal displacement, fraction of the page height
    light_low: float  # darkest point of the uneven light (1 = even)
    shadow: float  # darkening inside a soft shadow (0 = none)
    cast: float  # per-channel colour cast
    blur_px: float
    noise: float  # grey levels
    jpeg: int
    crease: bool


DISTORTIONS = {
    "scan": Distortion(0.0, 0.0, 0.4, 0.0, 0.97, 0.0, 0.02, 0.4, 1.5, 92, False),
    "easy": Distortion(0.12, 0.03, 5.0, 0.0, 0.8, 0.0, 0.06, 0.7, 3.0, 85, False),
    "hard": Distortion(0.12, 0.07, 10.0, 0.004, 0.55, 0.35, 0.12, 1.2, 6.0, 65, True),
}


def photograph(page: np.ndarray, level: str, rng: np.random.Generator) -> np.ndarray:
    """The page as a phone (or a scanner) would see it, JPEG-encoded and decoded back."""
    d = DISTORTIONS[level]
    h, w = page.shape[:2]
    if d.curvature > 0:  # a page that does not lie flat: rows bow up or down
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        phase = rng.uniform(0, 2 * math.pi)
        bow = d.curvature * h * np.sin(math.pi * xs / w + phase).astype(np.float32)
        page = cv2.remap(page, xs, ys + bow, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    out_w, out_h = round(w * (1 + 2 * d.margin)), round(h * (1 + 2 * d.margin))
    centre = np.array([out_w / 2, out_h / 2])
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64) - [w / 2, h / 2]
    angle = math.radians(rng.uniform(-d.rotation_deg, d.rotation_deg))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    fit = 1.0 / (abs(math.cos(angle)) + abs(math.sin(angle)) * h / w) if d.margin > 0 else 1.0
    dst = corners @ rot.T * fit + rng.uniform(-d.corner_jitter, d.corner_jitter, (4, 2)) * [w, h] + centre
    if d.margin == 0:
        dst = corners @ rot.T + centre  # a scan: page fills the image, slightly skewed
    matrix = cv2.getPerspectiveTransform(
        np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32), dst.astype(np.float32)
    )
    background = _background(out_h, out_w, rng) if d.margin > 0 else np.full((out_h, out_w, 3), 250, np.uint8)
    photo = cv2.warpPerspective(
        page, matrix, (out_w, out_h), dst=background, borderMode=cv2.BORDER_TRANSPARENT
    )

    img = photo.astype(np.float32)
    ys, xs = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = (xs * math.cos(direction) + ys * math.sin(direction)) / math.hypot(out_w, out_h) + 0.5
    light = d.light_low + (1 - d.light_low) * np.clip(ramp, 0, 1)
    if d.shadow > 0:  # a soft shadow (a hand or the phone) over a part of the page
        mask = np.zeros((out_h, out_w), np.float32)
        cx, cy = rng.uniform(0.2, 0.8) * out_w, rng.uniform(0.2, 0.8) * out_h
        axes = (int(rng.uniform(0.15, 0.35) * out_w), int(rng.uniform(0.15, 0.35) * out_h))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.05 * out_w)
        light *= 1 - d.shadow * mask
    img *= light[..., None]
    img *= 1 + rng.uniform(-d.cast, d.cast, 3)[None, None, :]
    if d.crease:
        x0 = rng.uniform(0.3, 0.7) * out_w
        cv2.line(
            img,
            (int(x0), 0),
            (int(x0 + rng.uniform(-0.1, 0.1) * out_w), out_h),
            (170, 170, 170),
            3,
            cv2.LINE_AA,
        )
    if d.blur_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), d.blur_px)
    img += rng.normal(0, d.noise, img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, d.jpeg])
    assert ok
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A table: a dull colour with a smooth texture."""
    base = rng.uniform(40, 140, 3)
    texture = cv2.resize(
        rng.normal(0, 18, (12, 16, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    return np.clip(base + texture, 0, 255).astype(np.uint8)


def level_settings(
    level: str, index: int, rng: np.random.Generator, px_per_mm: float | None = None
) -> PrintSettings:
    """The printout kinds of the bench: mostly the standard 3x4+1 at 25 mm/s, 10 mm/mV; every few
    records another layout, speed or gain, and a spread of grid colours."""
    layouts = ("3x4+1", "3x4+1", "3x4+3", "6x2")
    variant = index % 8
    speed = 50.0 if variant == 5 else 25.0
    gain = 5.0 if variant == 6 else 20.0 if variant == 7 else 10.0
    default_ppm = {"scan": 8.0, "easy": 9.0, "hard": 8.0}[level]
    return PrintSettings(
        layout=layouts[index % 4],
        speed=speed,
        gain=gain,
        grid=list(GRID_COLOURS)[int(rng.integers(len(GRID_COLOURS)))],
        px_per_mm=px_per_mm or default_ppm,
    )


def render_example(
    signal: np.ndarray, level: str, index: int, seed: int, px_per_mm: float | None = None
) -> Rendered:
    """One bench image: deterministic in (level, index, seed)."""
    rng = np.random.default_rng([seed, index, LEVELS.index(level)])
    settings = level_settings(level, index, rng, px_per_mm)
    page = render_page(signal, settings, label=f"#{index}")
    return Rendered(photograph(page, level, rng), truth_of(signal, settings), settings)


# ------------------------------------------------------------------ test images (committed)

TEST_DATA = REPO_ROOT / "tests" / "data" / "photos"


def _wfdb_signal(ecg_id: int) -> np.ndarray:
    import wfdb

    signal, _ = wfdb.rdsamp(str(REPO_ROOT / "tests" / "data" / "ptbxl" / f"{ecg_id:05d}_hr"))
    return signal.astype(np.float32)


def write_test_images(out: Path = TEST_DATA) -> None:
    """The small committed set of tests/ecg_ml/test_digitize.py: good images per level and the bad
    photos that must be refused with their reason codes."""
    out.mkdir(parents=True, exist_ok=True)
    cases = [  # name, ecg_id, level, index (picks layout/speed/gain), px/mm
        ("scan_3x4_norm", 1, "scan", 0, 8.0),
        ("scan_6x2_lvh", 30, "scan", 3, 8.0),
        ("easy_3x4r3_sbrad", 2, "easy", 2, 8.0),
        ("hard_3x4_imi", 210, "hard", 0, 8.0),
    ]
    for name, ecg_id, level, index, ppm in cases:
        rendered = render_example(_wfdb_signal(ecg_id), level, index, seed=7, px_per_mm=ppm)
        cv2.imwrite(str(out / f"{name}.jpg"), rendered.image, [cv2.IMWRITE_JPEG_QUALITY, 88])
        np.savez_compressed(out / f"{name}.npz", truth=rendered.truth)
    for name, image in bad_photos(_wfdb_signal(1)).items():
        cv2.imwrite(str(out / f"bad_{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 80])


def bad_photos(signal: np.ndarray, seed: int = 11) -> dict[str, np.ndarray]:
    """Photos that must be refused, named by the reason code the digitiser should give."""
    rng = np.random.default_rng(seed)
    settings = PrintSettings(px_per_mm=6.0)
    page = render_page(signal, settings)
    good = photograph(page, "easy", np.random.default_rng(seed))
    h, w = good.shape[:2]
    blank = np.full_like(page, 250)
    no_grid = _without_grid(signal, settings)
    glare = good.copy()
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 5, h // 7), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), w / 60)[..., None]
    glare = np.clip(glare * (1 - mask) + 255 * mask, 0, 255).astype(np.uint8)
    scene = cv2.resize(
        rng.uniform(0, 255, (6, 8, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    cv2.circle(scene, (w // 3, h // 2), h // 4, (40, 160, 60), -1)
    return {
        "too_dark": (good * 0.12).astype(np.uint8),
        "too_blurry": cv2.GaussianBlur(good, (0, 0), 7.0),
        "paper_cut_off": good[:, : int(w * 0.55)].copy(),
        "no_grid": photograph(no_grid, "easy", np.random.default_rng(seed)),
        "not_an_ecg": np.clip(scene, 0, 255).astype(np.uint8),
        "blank_paper": photograph(blank, "easy", np.random.default_rng(seed)),
        "glare": glare,
    }


def _without_grid(signal: np.ndarray, settings: PrintSettings) -> np.ndarray:
    """The same printout on plain white paper (a screenshot or a plain-paper print)."""
    page = render_page(signal, settings)
    ink = page.max(axis=2) < 120  # keep only the black ink
    out = np.full_like(page, 252)
    out[ink] = page[ink]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", action="store_true", help="rewrite tests/data/photos")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "var" / "photos")
    parser.add_argument("--level", choices=LEVELS, default="easy")
    parser.add_argument("--records", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--px-per-mm", type=float, default=None)
    args = parser.parse_args()
    if args.tests:
        write_test_images()
        return
    from ecg_ml.data import load_ptbxl_500

    data = load_ptbxl_500([10])
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.records):
        rendered = render_example(data.x[i], args.level, i, args.seed, args.px_per_mm)
        stem = args.out / f"{args.level}_{i:03d}_{data.ecg_id[i]}"
        cv2.imwrite(f"{stem}.jpg", rendered.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        np.savez_compressed(f"{stem}.npz", truth=rendered.truth, fs=FS, leads=np.array(STANDARD_LEADS))
        print(stem, rendered.settings)


if __name__ == "__main__":
    main()
