"""The ECG classifier on PTB-XL fold 10, the test fold that nothing else reads: the committed weights
of ours (xresnet1d) beside the anchor (resnet1d_wang), full 10 s records and the printout view.

    python bench/ecg_eval.py [--json out.json] [--resamples 1000] [--seed 20261125]

Prints superclass macro-AUC with a bootstrap 95 % interval (records resampled with replacement,
fixed seed; the same resamples for both models, so their difference has an interval too), AUC per
label with its number of positives, the macro-AUC of the twelve statements, AFIB's AUC, and the
expected calibration error (15 bins) before and after temperature scaling. The 500 Hz path
(classify_batch resampling to 100 Hz) is checked on the fold-10 records staged at 500 Hz.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ecg_ml.classify import ANCHOR_MODEL, DEFAULT_MODEL, combine_windows, read_classifier, window_logits
from ecg_ml.data import TEST_FOLD, load_ptbxl, load_ptbxl_500, printout_view
from ecg_ml.model import LABELS, SUPERCLASSES
from ecg_ml.train import expected_calibration_error, per_label_auc

SUPER = list(range(len(SUPERCLASSES)))
STATEMENT_COLUMNS = list(range(len(SUPERCLASSES), len(LABELS)))
AFIB = LABELS.index("AFIB")


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_aucs(y: np.ndarray, p: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """[resamples, labels] AUC of each label in each resample (NaN where a class is absent)."""
    return np.array([per_label_auc(y[idx], p[idx]) for idx in draws])


def summarise(y: np.ndarray, p: np.ndarray, draws: np.ndarray) -> dict[str, object]:
    auc = per_label_auc(y, p)
    boot = bootstrap_aucs(y, p, draws)
    with np.errstate(all="ignore"):
        boot_super = np.nanmean(boot[:, SUPER], axis=1)
        boot_statements = np.nanmean(boot[:, STATEMENT_COLUMNS], axis=1)
    return {
        "superclass_macro_auc": float(np.nanmean(auc[SUPER])),
        "superclass_macro_auc_ci": interval(boot_super),
        "statement_macro_auc": float(np.nanmean(auc[STATEMENT_COLUMNS])),
        "statement_macro_auc_ci": interval(boot_statements),
        "afib_auc": float(auc[AFIB]),
        "afib_auc_ci": interval(boot[:, AFIB]),
        "per_label": {
            label: {"auc": float(auc[k]), "ci": interval(boot[:, k]), "positives": int(y[:, k].sum())}
            for k, label in enumerate(LABELS)
        },
        "_boot_super": boot_super,
    }


def evaluate(name: str, x: np.ndarray, y: np.ndarray, draws: np.ndarray) -> dict[str, object]:
    clf = read_classifier(name)
    out: dict[str, object] = {"version": clf.version, "temperature": clf.temperature}
    for view_name, signals in (("full", x), ("printout", printout_view(x))):
        started = time.perf_counter()
        logits, owner = window_logits(clf, signals)
        raw = combine_windows(logits, owner, len(y), clf.spec, 1.0)
        scaled = combine_windows(logits, owner, len(y), clf.spec, clf.temperature)
        summary = summarise(y, scaled, draws)
        summary["ece_before_temperature"] = expected_calibration_error(y, raw)
        summary["ece_after_temperature"] = expected_calibration_error(y, scaled)
        summary["ece_superclasses_after_temperature"] = expected_calibration_error(
            y[:, SUPER], scaled[:, SUPER]
        )
        summary["seconds"] = time.perf_counter() - started
        out[view_name] = summary
    return out


def fmt(value: float, ci: tuple[float, float] | None = None) -> str:
    return f"{value:.3f}" if ci is None else f"{value:.3f} ({ci[0]:.3f}–{ci[1]:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    test = load_ptbxl([TEST_FOLD])
    draws = bootstrap_indices(len(test), args.resamples, args.seed)
    print(
        f"PTB-XL fold {TEST_FOLD}: {len(test)} records at 100 Hz; "
        f"bootstrap {args.resamples} x, seed {args.seed}"
    )
    results = {name: evaluate(name, test.x, test.y, draws) for name in (DEFAULT_MODEL, ANCHOR_MODEL)}

    print("\n## Headline (temperature-scaled probabilities)\n")
    print(
        "| model | view | superclass macro-AUC (95% CI) | 12 statements macro-AUC | AFIB AUC "
        "| ECE before → after T |"
    )
    print("|---|---|---|---|---|---|")
    for name, result in results.items():
        for view_name in ("full", "printout"):
            r = result[view_name]
            print(
                f"| {name} | {view_name} | {fmt(r['superclass_macro_auc'], r['superclass_macro_auc_ci'])} | "
                f"{fmt(r['statement_macro_auc'], r['statement_macro_auc_ci'])} | "
                f"{fmt(r['afib_auc'], r['afib_auc_ci'])} | "
                f"{r['ece_before_temperature']:.3f} → {r['ece_after_temperature']:.3f} "
                f"(T = {result['temperature']}) |"
            )
    print("\n## Ours minus anchor, superclass macro-AUC (paired bootstrap)\n")
    for view_name in ("full", "printout"):
        ours, anchor = results[DEFAULT_MODEL][view_name], results[ANCHOR_MODEL][view_name]
        diff = ours["_boot_super"] - anchor["_boot_super"]
        point = ours["superclass_macro_auc"] - anchor["superclass_macro_auc"]
        print(f"- {view_name}: {point:+.3f} (95% CI {interval(diff)[0]:+.3f} to {interval(diff)[1]:+.3f})")

    print("\n## Per label, AUC (95% CI); positives in fold 10 of", len(test), "\n")
    print("| label | positives | ours, 10 s | ours, printout | anchor, 10 s | anchor, printout |")
    print("|---|---|---|---|---|---|")
    for label in LABELS:
        cells = []
        for name in (DEFAULT_MODEL, ANCHOR_MODEL):
            for view_name in ("full", "printout"):
                entry = results[name][view_name]["per_label"][label]
                cells.append(fmt(entry["auc"], entry["ci"]))
        positives = results[DEFAULT_MODEL]["full"]["per_label"][label]["positives"]
        few = " (few)" if positives < 20 else ""
        print(f"| {label} | {positives}{few} | " + " | ".join(cells) + " |")

    print("\n## The 500 Hz path: classify_batch resampling 500 -> 100 Hz, fold-10 records staged at 500 Hz\n")
    high = load_ptbxl_500([TEST_FOLD])
    clf = read_classifier(DEFAULT_MODEL)
    index = {ecg: k for k, ecg in enumerate(test.ecg_id)}
    rows = np.array([index[e] for e in high.ecg_id])
    from ecg_ml.classify import record_probabilities, resample

    p500 = record_probabilities(clf, resample(high.x, 500, clf.spec.fs))
    p100 = record_probabilities(clf, test.x[rows])
    auc500 = per_label_auc(high.y, p500)
    auc100 = per_label_auc(high.y, p100)
    print(
        f"{len(high)} records: superclass macro-AUC {np.nanmean(auc500[SUPER]):.3f} from 500 Hz input, "
        f"{np.nanmean(auc100[SUPER]):.3f} from the staged 100 Hz rows; "
        f"median |difference| of probabilities {np.median(np.abs(p500 - p100)):.4f}"
    )
    results["path_500hz"] = {
        "records": len(high),
        "superclass_macro_auc_500": float(np.nanmean(auc500[SUPER])),
        "superclass_macro_auc_100": float(np.nanmean(auc100[SUPER])),
    }
    if args.json:
        for result in results.values():
            for view_name in ("full", "printout"):
                if isinstance(result, dict) and view_name in result:
                    result[view_name].pop("_boot_super", None)
        args.json.write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
