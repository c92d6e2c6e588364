"""Validate ecg_ml.measure and ecg_ml.quality against PTB-XL's cardiologist statements.

    .venv/bin/python bench/ecg_measure_validation.py [--limit N] [--skip-100hz] [--skip-neurokit]
        [--plots DIR --plot-ids 1,2,...]

Data: the staged PTB-XL subset under $CARDIOALERT_DATA_DIR/ptbxl (default ../shared/data, next
to the repository). PTB-XL has no numeric intervals, but its statements imply ranges (SBRAD: HR
< 60, 1AVB: PR > 200 ms, CLBBB: QRS >= 120 ms, AFIB: irregular, ...); for each statement this
prints the share of its records whose measurement agrees, for three views of the data: the
500 Hz records, the same records as a 3x4 printout (each lead only in its 2.5 s column, NaN
elsewhere, lead II whole as the rhythm strip), and the 100 Hz records. Then NORM distributions,
the cost of the printout's gaps (paired differences), NeuroKit's delineators on the same
median beats, the quality checks on real and damaged records, and the time per record (one
process, one core). Prints only; --plots writes PNGs for hand checks."""

import argparse
import ast
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import neurokit2 as nk
import pandas as pd
from tqdm import tqdm

from ecg_ml import measure as m
from ecg_ml.quality import assess
from ecg_ml.record import STANDARD_LEADS, ECGRecord

DATA = Path(os.environ.get("CARDIOALERT_DATA_DIR", ROOT.parent / "shared" / "data")) / "ptbxl"

# Records whose rhythm labels say nothing irregular: sinus rhythm without ectopy or arrhythmia.
IRREGULAR_LABELS = ("SARRH", "SVARR", "PVC", "PAC", "BIGU", "TRIGU")


# ------------------------------------------------------------------------------------------ data


def load(fs: int, ids: pd.Index | None) -> tuple[np.ndarray, pd.DataFrame]:
    """(X in mV [n, samples, 12], metadata: ecg_id index, strat_fold, codes (dict), extra_beats
    and noise notes) for every staged record at `fs`, or for `ids`."""
    staged = pd.read_csv(DATA / "staged_records.csv", index_col="ecg_id")
    database = pd.read_csv(DATA / "ptbxl_database.csv", index_col="ecg_id")
    column, row_column = (f"file{fs}", f"row{fs}")
    staged = staged[staged[column].notna()]
    if ids is not None:
        staged = staged.loc[ids]
    arrays = {}
    for name in tqdm(sorted(staged[column].unique()), desc=f"loading {fs} Hz", leave=False):
        arrays[name] = np.load(DATA / name)["X"]
    x = np.stack([arrays[f][int(r)] for f, r in zip(staged[column], staged[row_column], strict=True)])
    meta = staged[["strat_fold"]].copy()
    meta["codes"] = staged.scp_codes.apply(ast.literal_eval)
    meta["extra_beats"] = database.loc[staged.index, "extra_beats"].notna()
    meta["noise"] = database.loc[staged.index, ["static_noise", "burst_noise"]].notna().any(axis=1)
    meta["noise_all"] = (
        database.loc[staged.index, ["static_noise", "burst_noise"]]
        .fillna("")
        .apply(lambda r: any("alles" in v for v in r), axis=1)
    )
    return x.astype(np.float32) / 1000.0, meta


def printout_view(x: np.ndarray, fs: float) -> np.ndarray:
    """A 3x4 printout: I, II, III in 0-2.5 s; aVR, aVL, aVF in 2.5-5 s; V1-V3 in 5-7.5 s; V4-V6
    in 7.5-10 s; NaN elsewhere; lead II whole (the rhythm strip)."""
    out = np.full_like(x, np.nan)
    column = round(2.5 * fs)
    for c in range(4):
        out[c * column : (c + 1) * column, 3 * c : 3 * c + 3] = x[
            c * column : (c + 1) * column, 3 * c : 3 * c + 3
        ]
    out[:, STANDARD_LEADS.index("II")] = x[:, STANDARD_LEADS.index("II")]
    return out


def swap_arms(x: np.ndarray) -> np.ndarray:
    """Left and right arm electrodes exchanged: I -> -I, II <-> III, aVR <-> aVL, aVF kept."""
    i, ii, iii, avr, avl = (STANDARD_LEADS.index(n) for n in ("I", "II", "III", "aVR", "aVL"))
    out = x.copy()
    out[:, i] = -x[:, i]
    out[:, ii], out[:, iii] = x[:, iii], x[:, ii]
    out[:, avr], out[:, avl] = x[:, avl], x[:, avr]
    return out


# ------------------------------------------------------------------------------------------ runs


def run_measure(
    x: np.ndarray, meta: pd.DataFrame, fs: float, view: Callable | None, desc: str
) -> pd.DataFrame:
    rows, times = [], []
    for k in tqdm(range(len(x)), desc=desc, leave=False):
        signal = view(x[k], fs) if view else x[k]
        started = time.perf_counter()
        result = m.measure(ECGRecord(signal=signal, fs=fs))
        times.append((time.perf_counter() - started) * 1000)
        rows.append(
            {
                "hr": result.heart_rate_bpm,
                "rhythm": result.rhythm,
                "pr": result.pr_ms,
                "qrs": result.qrs_ms,
                "qt": result.qt_ms,
                "qtc": result.qtc_bazett_ms,
                "beats": result.beats,
            }
        )
    out = pd.DataFrame(rows, index=meta.index)
    out.attrs["ms"] = np.array(times)
    return out


STATEMENTS: list[tuple[str, str, str, Callable[[pd.Series], pd.Series]]] = [
    # (label, statement or group, column, test)
    ("SBRAD: HR < 60", "SBRAD", "hr", lambda v: v < 60),
    ("STACH: HR > 100", "STACH", "hr", lambda v: v > 100),
    ("SR and NORM: HR 60-100", "SR+NORM", "hr", lambda v: (v >= 60) & (v <= 100)),
    ("SR and NORM: HR 50-100", "SR+NORM", "hr", lambda v: (v >= 50) & (v <= 100)),
    ("1AVB: PR > 200", "1AVB", "pr", lambda v: v > 200),
    ("SR and NORM: PR <= 200", "SR+NORM", "pr", lambda v: v <= 200),
    ("CLBBB: QRS >= 120", "CLBBB", "qrs", lambda v: v >= 120),
    ("CRBBB: QRS >= 120", "CRBBB", "qrs", lambda v: v >= 120),
    ("IVCD: QRS >= 110", "IVCD", "qrs", lambda v: v >= 110),
    ("IVCD: QRS >= 120", "IVCD", "qrs", lambda v: v >= 120),
    ("SR and NORM: QRS < 120", "SR+NORM", "qrs", lambda v: v < 120),
    ("LNGQT: QTc (Bazett) > 460", "LNGQT", "qtc", lambda v: v > 460),
    ("SR and NORM: QTc <= 460", "SR+NORM", "qtc", lambda v: v <= 460),
    ("AFIB: irregular", "AFIB", "rhythm", lambda v: v == "irregular"),
    ("SR: regular", "SR", "rhythm", lambda v: v == "regular"),
    ("SR, no ectopy/arrhythmia label: regular", "SR-clean", "rhythm", lambda v: v == "regular"),
]


def group(meta: pd.DataFrame, name: str) -> pd.Series:
    codes = meta.codes
    if name == "SR+NORM":
        return codes.apply(lambda d: "SR" in d and "NORM" in d)
    if name == "SR-clean":
        return (
            codes.apply(lambda d: "SR" in d and not any(c in d for c in IRREGULAR_LABELS)) & ~meta.extra_beats
        )
    return codes.apply(lambda d: name in d)


def statement_table(
    results: dict[str, pd.DataFrame], meta: pd.DataFrame, folds: tuple[int, int] | None
) -> None:
    views = list(results)
    keep = meta.strat_fold.between(*folds) if folds else pd.Series(True, index=meta.index)
    head = "| statement | " + " | ".join(f"{v}: agree (measured/n)" for v in views) + " |"
    print(head)
    print("|" + "---|" * (len(views) + 1))
    for label, name, column, test in STATEMENTS:
        cells = []
        for view in views:
            df = results[view]
            members = group(meta, name) & keep & meta.index.isin(df.index)
            values = df.loc[members[members].index, column]
            measured = values.dropna() if column != "rhythm" else values[values != "unknown"]
            if len(members[members]) == 0:
                cells.append("-")
                continue
            share = float(test(measured).mean() * 100) if len(measured) else float("nan")
            cells.append(f"{share:.1f}% ({len(measured)}/{int(members.sum())})")
        print(f"| {label} | " + " | ".join(cells) + " |")


def distributions(results: dict[str, pd.DataFrame], meta: pd.DataFrame) -> None:
    norm = group(meta, "SR+NORM")
    print("| view | " + " | ".join(["HR bpm", "PR ms", "QRS ms", "QT ms", "QTc Bazett ms"]) + " |")
    print("|---|---|---|---|---|---|")
    for view, df in results.items():
        cells = []
        for column in ("hr", "pr", "qrs", "qt", "qtc"):
            v = df.loc[norm[norm].index.intersection(df.index), column].dropna()
            cells.append(f"{v.median():.0f} ({v.quantile(0.25):.0f}-{v.quantile(0.75):.0f}), n={len(v)}")
        print(f"| {view} | " + " | ".join(cells) + " |")


def paired(a: pd.DataFrame, b: pd.DataFrame, label: str) -> None:
    common = a.index.intersection(b.index)
    cells = []
    for column in ("hr", "pr", "qrs", "qt", "qtc"):
        d = (b.loc[common, column] - a.loc[common, column]).dropna().abs()
        both = len(d)
        within = {"hr": 3, "pr": 20, "qrs": 12, "qt": 20, "qtc": 20}[column]
        cells.append(
            f"median {d.median():.1f}, p90 {d.quantile(0.9):.1f}, "
            f"within {within}: {(d <= within).mean() * 100:.0f}% (n={both})"
        )
    print(f"| {label} | " + " | ".join(cells) + " |")


# ------------------------------------------------------------------------------ NeuroKit comparison


def _nk_on_curve(curve: np.ndarray, r_index: int, rr: int, method: str) -> dict[str, float]:
    """NeuroKit's delineator on one median-beat curve: 4 copies of one RR back to back (a
    perfectly regular rhythm), padded to its 4 s minimum; the third copy read back."""
    first = max(0, r_index - int(0.4 * rr))
    beat = curve[first : first + rr]
    tiles = 4
    tiled = np.r_[np.tile(beat, tiles), np.zeros(max(0, int(4.2 * m.FS) - tiles * beat.size))]
    rpeaks = np.arange(tiles) * beat.size + (r_index - first)
    try:
        _, waves = nk.ecg_delineate(tiled, rpeaks, sampling_rate=m.FS, method=method)
    except (ValueError, IndexError, KeyError, ZeroDivisionError):  # NeuroKit fails on a few beats
        return {}
    out = {}
    for key in ("ECG_P_Onsets", "ECG_R_Onsets", "ECG_R_Offsets", "ECG_T_Offsets"):
        values = waves.get(key, [])
        if len(values) == tiles and np.isfinite(values[2]):
            out[key] = float(values[2]) - 2 * beat.size
    return out


def _intervals(points: dict[str, float]) -> dict[str, float | None]:
    ms = 1000.0 / m.FS
    on, off = points.get("ECG_R_Onsets"), points.get("ECG_R_Offsets")
    p_on, t_end = points.get("ECG_P_Onsets"), points.get("ECG_T_Offsets")
    return {
        "pr": (on - p_on) * ms if on is not None and p_on is not None else None,
        "qrs": (off - on) * ms if on is not None and off is not None else None,
        "qt": (t_end - on) * ms if on is not None and t_end is not None else None,
    }


def neurokit_comparison(x: np.ndarray, meta: pd.DataFrame) -> None:
    """Ours against NeuroKit's four delineators on the same median beats (their spatial
    magnitude), and NeuroKit's usual use: 'dwt' on the whole lead II, median over beats."""
    wanted = ["1AVB", "CLBBB", "CRBBB", "IVCD", "LNGQT"]
    held_out = meta.strat_fold >= 9
    chosen = meta.index[held_out & meta.codes.apply(lambda d: any(c in d for c in wanted))]
    norm = meta.index[held_out & group(meta, "SR+NORM")][:150]
    ids = chosen.union(norm)
    methods = ["ours", "dwt", "cwt", "peak", "prominence", "dwt, lead II, per beat"]
    rows: dict[str, list[dict]] = {k: [] for k in methods}
    times: dict[str, list[float]] = {k: [] for k in methods}
    for ecg_id in tqdm(ids, desc="NeuroKit delineators", leave=False):
        signal = x[meta.index.get_loc(ecg_id)]
        ba = m.analyze_beats(ECGRecord(signal=signal, fs=500))
        if ba.mb is None or ba.r is None:
            continue
        curves = m.spatial_curves(ba.mb)
        if curves is None:
            continue
        magnitude = curves[1]
        f = ba.fid
        ours = {"ECG_P_Onsets": f.p_onset, "ECG_R_Onsets": f.qrs_onset, "ECG_R_Offsets": f.qrs_offset}
        ours["ECG_T_Offsets"] = f.t_end
        rows["ours"].append({"id": ecg_id, **_intervals({k: v for k, v in ours.items() if v is not None})})
        for method in ("dwt", "cwt", "peak", "prominence"):
            started = time.perf_counter()
            points = _nk_on_curve(magnitude, ba.mb.r_index, ba.mb.rr, method)
            times[method].append((time.perf_counter() - started) * 1000)
            rows[method].append({"id": ecg_id, **_intervals(points)})
        started = time.perf_counter()
        per_beat = _nk_lead_ii(ba)
        times["dwt, lead II, per beat"].append((time.perf_counter() - started) * 1000)
        rows["dwt, lead II, per beat"].append({"id": ecg_id, **per_beat})
    print(f"{len(ids)} records of folds 9-10 at 500 Hz: every 1AVB/CLBBB/CRBBB/IVCD/LNGQT, 150 SR+NORM")
    print(
        "| delineator | 1AVB PR > 200 | NORM PR <= 200 | CLBBB+CRBBB QRS >= 120 | NORM QRS < 120 "
        "| IVCD QRS >= 110 | NORM QRS median (IQR) | NORM QT median | ms/record |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    sub = meta.loc[ids]
    for method in methods:
        df = pd.DataFrame(rows[method]).set_index("id")

        def agree(name: str, column: str, test: Callable, df: pd.DataFrame = df) -> str:
            members = [i for i in sub.index[group(sub, name)] if i in df.index]
            v = df.loc[members, column].dropna()
            return f"{test(v).mean() * 100:.0f}% ({len(v)}/{len(members)})" if members else "-"

        bbb = [i for i in sub.index[group(sub, "CLBBB") | group(sub, "CRBBB")] if i in df.index]
        v = df.loc[bbb, "qrs"].dropna()
        bbb_cell = f"{(v >= 120).mean() * 100:.0f}% ({len(v)}/{len(bbb)})"
        normal = [i for i in sub.index[group(sub, "SR+NORM")] if i in df.index]
        q = df.loc[normal, "qrs"].dropna()
        qt = df.loc[normal, "qt"].dropna()
        cost = f"{np.median(times[method]):.1f}" if times[method] else "(in measure)"
        print(
            f"| {method} | {agree('1AVB', 'pr', lambda s: s > 200)} "
            f"| {agree('SR+NORM', 'pr', lambda s: s <= 200)} "
            f"| {bbb_cell} | {agree('SR+NORM', 'qrs', lambda s: s < 120)} "
            f"| {agree('IVCD', 'qrs', lambda s: s >= 110)} "
            f"| {q.median():.0f} ({q.quantile(0.25):.0f}-{q.quantile(0.75):.0f}) "
            f"| {qt.median():.0f} | {cost} |"
        )


def _nk_lead_ii(ba: m.BeatAnalysis) -> dict[str, float | None]:
    assert ba.prep is not None and ba.r is not None
    lead = STANDARD_LEADS.index("II")
    signal = nk.ecg_clean(ba.prep.raw[:, lead], sampling_rate=m.FS)
    peaks = nk.ecg_findpeaks(signal, sampling_rate=m.FS)["ECG_R_Peaks"]
    try:
        _, waves = nk.ecg_delineate(signal, peaks, sampling_rate=m.FS, method="dwt")
    except (ValueError, IndexError, KeyError, ZeroDivisionError):  # NeuroKit fails on a few records
        return {"pr": None, "qrs": None, "qt": None}
    beats = [
        _intervals(
            {
                k: float(waves[k][i])
                for k in waves
                if k.endswith(("Onsets", "Offsets")) and np.isfinite(waves[k][i])
            }
        )
        for i in range(len(peaks))
    ]
    out: dict[str, float | None] = {}
    for column in ("pr", "qrs", "qt"):
        values = [b[column] for b in beats if b[column] is not None]
        out[column] = float(np.median(values)) if values else None
    return out


# ------------------------------------------------------------------------------------------ quality


def quality_run(
    x: np.ndarray, meta: pd.DataFrame, fs: float, desc: str, transform: Callable | None = None
) -> pd.DataFrame:
    rows, times = [], []
    for k in tqdm(range(len(x)), desc=desc, leave=False):
        signal = transform(x[k]) if transform else x[k]
        started = time.perf_counter()
        q = assess(ECGRecord(signal=signal, fs=fs))
        times.append((time.perf_counter() - started) * 1000)
        sqis = [v for v in q.sqi.values() if v is not None]
        rows.append(
            {
                "interpretable": q.interpretable,
                "reason": q.reason,
                "problems": ",".join(q.problems),
                "sqi_median": float(np.median(sqis)) if sqis else np.nan,
            }
        )
    out = pd.DataFrame(rows, index=meta.index)
    out.attrs["ms"] = np.array(times)
    return out


def quality_report(q: pd.DataFrame, meta: pd.DataFrame, label: str) -> None:
    n = len(q)
    counts: dict[str, int] = {}
    for problems in q.problems:
        for code in filter(None, problems.split(",")):
            counts[code] = counts.get(code, 0) + 1
    reasons = q.reason.value_counts().to_dict()
    print(f"{label}: interpretable {q.interpretable.mean() * 100:.1f}% of {n}; refused for {reasons}")
    print(f"  problems flagged (records): {dict(sorted(counts.items()))}")
    noisy, clean = q.loc[meta.noise_all, "sqi_median"], q.loc[~meta.noise, "sqi_median"]
    print(
        f"  median SQI: records without a noise note {clean.median():.3f} (p5 {clean.quantile(0.05):.3f}); "
        f"noise noted on all leads ('alles', n={len(noisy)}) {noisy.median():.3f} "
        f"(p5 {noisy.quantile(0.05):.3f}); 'noisy' flagged: "
        f"{q.loc[meta.noise_all, 'problems'].str.contains('noisy').mean() * 100:.0f}% of the noted, "
        f"{q.loc[~meta.noise, 'problems'].str.contains('noisy').mean() * 100:.0f}% of the others"
    )


def damaged_inputs(x: np.ndarray, fs: float) -> None:
    rng = np.random.default_rng(0)
    cases: list[tuple[str, Callable[[np.ndarray], tuple[np.ndarray, float]]]] = [
        ("x 1000 (microvolts as mV)", lambda s: (s * 1000, fs)),
        ("x 0.001 (volts as mV)", lambda s: (s * 0.001, fs)),
        ("white noise 0.1 mV added", lambda s: (s + rng.normal(0, 0.1, s.shape).astype(np.float32), fs)),
        ("white noise 0.3 mV added", lambda s: (s + rng.normal(0, 0.3, s.shape).astype(np.float32), fs)),
        ("white noise 1 mV added", lambda s: (s + rng.normal(0, 1.0, s.shape).astype(np.float32), fs)),
        ("noise only (0.5 mV)", lambda s: (rng.normal(0, 0.5, s.shape).astype(np.float32), fs)),
        ("V1-V6 removed", lambda s: (np.where(np.arange(12) >= 6, np.nan, s).astype(np.float32), fs)),
        ("V2 flat (0)", lambda s: (np.where(np.arange(12) == 7, 0.0, s).astype(np.float32), fs)),
        ("II and V2 clipped at +-0.5 mV", lambda s: (_clip(s), fs)),
        ("first 1.5 s only", lambda s: (s[: int(1.5 * fs)], fs)),
        ("printout view", lambda s: (printout_view(s, fs), fs)),
    ]
    print("| damage | interpretable | refused for | most frequent problem sets |")
    print("|---|---|---|---|")
    for label, damage in cases:
        results = []
        for k in range(len(x)):
            signal, rate = damage(x[k])
            results.append(assess(ECGRecord(signal=signal, fs=rate)))
        interpretable = np.mean([r.interpretable for r in results]) * 100
        reasons = pd.Series([r.reason for r in results if r.reason]).value_counts().to_dict()
        sets = pd.Series([",".join(r.problems) or "-" for r in results]).value_counts().head(3).to_dict()
        print(f"| {label} | {interpretable:.0f}% | {reasons or '-'} | {sets} |")


def _clip(s: np.ndarray) -> np.ndarray:
    out = s.copy()
    for name in ("II", "V2"):
        lead = STANDARD_LEADS.index(name)
        out[:, lead] = np.clip(out[:, lead], -0.5, 0.5)
    return out


# ------------------------------------------------------------------------------------------ plots


def plot(ecg_id: int, signal: np.ndarray, fs: float, codes: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    record = ECGRecord(signal=signal, fs=fs)
    result = m.measure(record)
    ba = m.analyze_beats(record)
    fig, axes = plt.subplots(3, 1, figsize=(20, 11), gridspec_kw={"height_ratios": [2, 2, 3]})
    t = np.arange(signal.shape[0]) / fs
    for ax, name in zip(axes[:2], ("II", "V2"), strict=True):
        lead = STANDARD_LEADS.index(name)
        ax.plot(t, signal[:, lead], lw=0.8, color="k")
        ax.set_xticks(np.arange(0, t[-1] + 0.2, 0.2), minor=True)
        ax.set_xticks(np.arange(0, t[-1] + 1, 1.0))
        ax.grid(which="both", alpha=0.3)
        ax.set_ylabel(f"{name} (mV)")
        peaks = np.array(result.r_peaks)
        if peaks.size:
            ax.plot(peaks / fs, signal[peaks, lead], "rv", ms=8)
            for i, p in enumerate(peaks):
                ax.annotate(str(i + 1), (p / fs, np.nanmax(signal[:, lead])), color="r", fontsize=9)
        if ba.mb is not None:
            marks = {"g": ba.fid.p_onset, "b": ba.fid.qrs_onset, "r": ba.fid.qrs_offset, "m": ba.fid.t_end}
            for p in peaks / fs * m.FS:
                for colour, point in marks.items():
                    if point is not None:
                        ax.axvline((p + point - ba.mb.r_index) / m.FS, color=colour, lw=0.6, alpha=0.7)
    axes[0].set_title(
        f"PTB-XL {ecg_id} {codes}  |  HR {result.heart_rate_bpm} bpm, {result.beats} beats, {result.rhythm}, "
        f"PR {result.pr_ms}, QRS {result.qrs_ms}, QT {result.qt_ms}, QTcB {result.qtc_bazett_ms}"
    )
    ax = axes[2]
    if ba.mb is not None:
        tb = (np.arange(ba.mb.beats.shape[0]) - ba.mb.r_index) / m.FS * 1000
        for lead in range(12):
            ax.plot(tb, ba.mb.beats[:, lead], lw=0.7, label=STANDARD_LEADS[lead])
        curves = m.spatial_curves(ba.mb)
        if curves is not None:
            ax.plot(tb, curves[1], "k", lw=1.5, label="spatial magnitude")
        for colour, point, label in (
            ("g", ba.fid.p_onset, "P onset"),
            ("b", ba.fid.qrs_onset, "QRS onset"),
            ("r", ba.fid.qrs_offset, "QRS offset"),
            ("m", ba.fid.t_end, "T end"),
        ):
            if point is not None:
                ax.axvline((point - ba.mb.r_index) / m.FS * 1000, color=colour, label=label)
        ax.set_xlabel("ms from R")
        ax.grid(alpha=0.3)
        ax.legend(ncol=8, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


# ------------------------------------------------------------------------------------------ main


def timing(label: str, ms: np.ndarray) -> None:
    print(f"| {label} | {np.median(ms):.1f} | {np.percentile(ms, 95):.1f} | {ms.max():.1f} | {len(ms)} |")


def main() -> None:  # noqa: PLR0915 - one report, section after section
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, help="a random sample of this many records per rate")
    parser.add_argument("--skip-100hz", action="store_true")
    parser.add_argument("--skip-neurokit", action="store_true")
    parser.add_argument("--plots", type=Path, help="write hand-check PNGs here")
    parser.add_argument("--plot-ids", default="", help="ecg_ids to plot (500 Hz), comma separated")
    args = parser.parse_args()
    if not (DATA / "staged_records.csv").exists():
        sys.exit(f"no PTB-XL data under {DATA} (set CARDIOALERT_DATA_DIR)")
    print(
        f"ECG measurement validation, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    print(f"data: {DATA}")

    plot_ids = [int(i) for i in args.plot_ids.split(",") if i]
    ids = None
    if args.limit:
        staged = pd.read_csv(DATA / "staged_records.csv", index_col="ecg_id")
        with_500 = staged.index[staged.file500.notna()]
        ids = with_500.to_series().sample(n=min(args.limit, len(with_500)), random_state=0).index
        ids = ids.union(pd.Index(plot_ids).intersection(with_500)).sort_values()
    x500, meta500 = load(500, ids)
    results = {
        "500 Hz": run_measure(x500, meta500, 500, None, "measure 500 Hz"),
        "printout (500 Hz, 3x4 + II)": run_measure(x500, meta500, 500, printout_view, "measure printout"),
    }
    if not args.skip_100hz:
        x100, meta100 = load(100, ids)
        results["100 Hz"] = run_measure(x100, meta100, 100, None, "measure 100 Hz")
        meta_all = meta100
    else:
        meta_all = meta500

    counts = "; ".join(f"{view}: {len(frame):,} records" for view, frame in results.items())
    print(f"\n## Agreement with the PTB-XL statements, all folds ({counts})")
    statement_table(results, meta_all, None)
    print("\n## The same, folds 9-10 only (not looked at while choosing thresholds)")
    statement_table(results, meta_all, (9, 10))
    print("\n## SR+NORM distributions: median (IQR)")
    distributions(results, meta_all)
    print(
        "\n## What the printout's gaps and 100 Hz cost: |difference| to the 500 Hz full record, same records"
    )
    print("| view | HR bpm | PR ms | QRS ms | QT ms | QTc ms |")
    print("|---|---|---|---|---|---|")
    paired(results["500 Hz"], results["printout (500 Hz, 3x4 + II)"], "printout")
    if "100 Hz" in results:
        paired(results["500 Hz"], results["100 Hz"], "100 Hz")

    if not args.skip_neurokit:
        print("\n## Delineators compared (same R peaks, same median beats)")
        neurokit_comparison(x500, meta500)

    print("\n## Quality")
    q500 = quality_run(x500, meta500, 500, "assess 500 Hz")
    quality_report(q500, meta500, "500 Hz records")
    if "100 Hz" in results:
        q100 = quality_run(x100, meta100, 100, "assess 100 Hz")
        quality_report(q100, meta100, "100 Hz records")
    swapped = quality_run(x500, meta500, 500, "assess LA/RA swapped", swap_arms)
    flagged = q500.problems.str.contains("lead_reversal")
    caught = swapped.problems.str.contains("lead_reversal")
    afib = group(meta500, "AFIB")
    print(
        f"LA/RA swap: flagged in {caught.mean() * 100:.1f}% of {len(caught)} swapped records "
        f"({caught[~afib].mean() * 100:.1f}% without AFIB, {caught[afib].mean() * 100:.1f}% with); "
        f"false alarms on the originals: {flagged.mean() * 100:.2f}% ({int(flagged.sum())})"
    )
    sample = x500[:: max(1, len(x500) // 100)][:100]
    print(f"\nDamaged inputs ({len(sample)} records at 500 Hz, every {max(1, len(x500) // 100)}th):")
    damaged_inputs(sample, 500)

    print("\n## Time per record (ms, one process), measure() and assess()")
    print("| what | median | p95 | max | records |")
    print("|---|---|---|---|---|")
    for view, df in results.items():
        timing(f"measure, {view}", df.attrs["ms"])
    timing("assess, 500 Hz", q500.attrs["ms"])
    if "100 Hz" in results:
        timing("assess, 100 Hz", q100.attrs["ms"])
    both = results["500 Hz"].attrs["ms"] + q500.attrs["ms"]
    timing("measure + assess, 500 Hz", both)

    if args.plots:
        args.plots.mkdir(parents=True, exist_ok=True)
        for ecg_id in plot_ids:
            k = meta500.index.get_loc(ecg_id)
            plot(ecg_id, x500[k], 500, meta500.codes[ecg_id], args.plots / f"ptbxl_{ecg_id}.png")
            plot(
                ecg_id,
                printout_view(x500[k], 500),
                500,
                meta500.codes[ecg_id],
                args.plots / f"ptbxl_{ecg_id}_printout.png",
            )
        print(f"\nplots: {args.plots}")


if __name__ == "__main__":
    main()
