"""Trains the ECG classifier and its anchor on PTB-XL and writes the weights to ecg_ml/weights/.

    python -m ecg_ml.train                      # ours (xresnet1d), then the anchor (resnet1d_wang)
    python -m ecg_ml.train --only resnet1d_wang # one of them
    python -m ecg_ml.train --fresh              # ignore checkpoints of an earlier run

Folds 1-8 train, fold 9 validates (temperature, the log of design choices); fold 10 is never read
here. Every epoch is checkpointed to the work directory (CARDIOALERT_ECG_WORK_DIR, default
var/ecg_train), so a stopped run continues where it stopped, and a finished one is only re-exported.
"""

import argparse
import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn
from tqdm import tqdm

from ecg_ml.classify import (
    WEIGHTS_DIR,
    Classifier,
    InputSpec,
    combine_windows,
    network_input,
    record_probabilities,
    window_logits,
)
from ecg_ml.data import (
    PTBXL,
    REPO_ROOT,
    TRAIN_FOLDS,
    VALIDATION_FOLD,
    Augmentation,
    augment,
    code_matrix,
    load_ptbxl,
    printout_view,
)
from ecg_ml.model import LABELS, MODEL_FS, STATEMENTS, SUPERCLASSES, build_model, parameter_count

VERSION = "1.0.0"
SUPER = slice(0, len(SUPERCLASSES))
STATEMENT_COLUMNS = slice(len(SUPERCLASSES), len(LABELS))


@dataclass
class TrainConfig:
    name: str
    architecture: str
    input: dict[str, object]
    options: dict[str, object] = field(default_factory=dict)
    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-2
    weight_decay: float = 1e-2
    crop: int = 1000  # training window in samples at 100 Hz (random position)
    augmentation: Augmentation | None = field(default_factory=Augmentation)
    aux_min_count: int | None = 10  # extra targets: every SCP code with this many training positives
    ema: float | None = 0.99  # weights averaged over steps; exported instead of the last step's
    eval_every: int = 5  # epochs between fold-9 checks in the log (and the last epoch)
    seed: int = 20261125
    temperature_views: tuple[str, ...] = ("full", "printout")

    def fingerprint(self) -> str:
        text = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


CONFIGS = {
    "xresnet1d": TrainConfig(
        name="xresnet1d",
        architecture="xresnet1d",
        input={"kind": "masked", "fs": MODEL_FS, "window": 1000, "stride": 500, "aggregate": "mean"},
        epochs=60,
    ),
    # The benchmark's recipe: 2.5 s random crops, batch 128, one-cycle to 1e-2, weight decay 1e-2,
    # 50 epochs, the last epoch kept; windows of 2.5 s every 1.25 s at test, the maximum kept.
    "resnet1d_wang": TrainConfig(
        name="resnet1d_wang",
        architecture="resnet1d_wang",
        input={"kind": "standardised", "fs": MODEL_FS, "window": 250, "stride": 125, "aggregate": "max"},
        epochs=50,
        batch_size=128,
        crop=250,
        augmentation=None,
        aux_min_count=None,
        ema=None,
        temperature_views=("full",),
    ),
}
ORDER = ("xresnet1d", "resnet1d_wang")


# ---------------------------------------------------------------- metrics


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); NaN without both classes."""
    positive = np.asarray(y).astype(bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def per_label_auc(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.array([roc_auc(y[:, k], p[:, k]) for k in range(y.shape[1])])


def macro_auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.nanmean(per_label_auc(y, p)))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """ECE over every (record, label) probability: the |mean probability - positive rate| of 15
    equal-width bins, weighted by their share of the predictions."""
    y, p = np.asarray(y).ravel(), np.asarray(p).ravel()
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = which == b
        if chosen.any():
            total += chosen.mean() * abs(p[chosen].mean() - y[chosen].mean())
    return float(total)


def fit_temperature(probabilities_at: Callable[[float], np.ndarray], y: np.ndarray) -> float:
    """The temperature (one for all labels) that minimises the binary cross-entropy on fold 9,
    searched on a log grid from 0.25 to 4 and refined around the best point."""

    def loss(t: float) -> float:
        p = np.clip(probabilities_at(t), 1e-6, 1 - 1e-6)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())

    grid = np.exp(np.linspace(math.log(0.25), math.log(4.0), 25))
    best = min(grid, key=loss)
    fine = best * np.exp(np.linspace(-0.12, 0.12, 13))
    return float(min(fine, key=loss))


def view(x: np.ndarray, name: str) -> np.ndarray:
    return printout_view(x) if name == "printout" else x


def validation_report(
    clf: Classifier, val: PTBXL, temperatures: tuple[float, ...]
) -> list[dict[str, object]]:
    """Fold-9 figures per view for each temperature (the network runs once per view)."""
    reports: list[dict[str, object]] = [{} for _ in temperatures]
    for name in ("full", "printout"):
        logits, owner = window_logits(clf, view(val.x, name))
        for report, t in zip(reports, temperatures, strict=True):
            p = combine_windows(logits, owner, len(val), clf.spec, t)
            aucs = per_label_auc(val.y, p)
            report[name] = {
                "superclass_macro_auc": round(float(np.nanmean(aucs[SUPER])), 4),
                "statement_macro_auc": round(float(np.nanmean(aucs[STATEMENT_COLUMNS])), 4),
                "afib_auc": round(float(aucs[LABELS.index("AFIB")]), 4),
                "ece": round(expected_calibration_error(val.y, p), 4),
                "auc": {label: round(float(a), 4) for label, a in zip(LABELS, aucs, strict=True)},
            }
    return reports


# ---------------------------------------------------------------- training


class Run:
    """One model's training: data, network, optimiser, schedule, EMA, checkpoints."""

    def __init__(self, config: TrainConfig, train: PTBXL, work_dir: Path) -> None:
        self.config = config
        self.work_dir = work_dir / config.name
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.aux_codes = self._aux_codes(train)
        self.targets = np.concatenate([train.y, code_matrix(train.scp, self.aux_codes)], axis=1)
        self.outputs = self.targets.shape[1]
        self.train = train
        spec = dict(config.input)
        if spec["kind"] == "standardised":
            spec["mean"] = float(train.x.mean())
            spec["std"] = float(train.x.std())
        self.spec = InputSpec(**spec)  # type: ignore[arg-type]
        torch.manual_seed(config.seed)
        self.model = build_model(config.architecture, self.outputs, **config.options)
        self.ema_model = (
            build_model(config.architecture, self.outputs, **config.options) if config.ema else None
        )
        if self.ema_model is not None:
            self.ema_model.load_state_dict(self.model.state_dict())
        self.steps_per_epoch = math.ceil(len(train) / config.batch_size)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.schedule = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=config.lr, total_steps=config.epochs * self.steps_per_epoch, pct_start=0.3
        )
        self.epoch = 0
        self.history: list[dict[str, object]] = []
        self.seconds = 0.0

    def _aux_codes(self, train: PTBXL) -> list[str]:
        if self.config.aux_min_count is None:
            return []
        counts: dict[str, int] = {}
        for scp in train.scp:
            for code in scp:
                counts[code] = counts.get(code, 0) + 1
        main = set(STATEMENTS) | set(SUPERCLASSES)
        return sorted(c for c, n in counts.items() if n >= self.config.aux_min_count and c not in main)

    @property
    def checkpoint_path(self) -> Path:
        return self.work_dir / "checkpoint.pt"

    def save_checkpoint(self) -> None:
        state = {
            "fingerprint": self.config.fingerprint(),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "ema": self.ema_model.state_dict() if self.ema_model is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "history": self.history,
            "seconds": self.seconds,
        }
        partial = self.checkpoint_path.with_suffix(".partial")
        torch.save(state, partial)
        partial.replace(self.checkpoint_path)

    def resume(self) -> bool:
        if not self.checkpoint_path.exists():
            return False
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        if state["fingerprint"] != self.config.fingerprint():
            return False
        self.model.load_state_dict(state["model"])
        if self.ema_model is not None:
            self.ema_model.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        self.seconds = float(state["seconds"])
        return True

    def classifier(self, temperature: float = 1.0) -> Classifier:
        model = self.ema_model if self.ema_model is not None else self.model
        model.eval()
        return Classifier(self.config.name, model, self.spec, LABELS, temperature, VERSION, {})

    def batch(self, index: np.ndarray, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(self.train.x[index])
        n = x.shape[1]
        if self.config.crop < n:
            starts = torch.randint(0, n - self.config.crop + 1, (len(index),), generator=generator)
            x = torch.stack([x[i, s : s + self.config.crop] for i, s in enumerate(starts.tolist())])
        if self.config.augmentation is not None:
            x = augment(x, self.config.augmentation, MODEL_FS, generator)
        return network_input(x, self.spec), torch.from_numpy(self.targets[index])

    def train_epoch(self, progress: tqdm) -> float:
        config = self.config
        generator = torch.Generator().manual_seed(config.seed * 1000 + self.epoch)
        torch.manual_seed(config.seed * 1000 + self.epoch)  # dropout
        order = torch.randperm(len(self.train), generator=generator).numpy()
        self.model.train()
        losses = []
        for step in range(self.steps_per_epoch):
            index = order[step * config.batch_size : (step + 1) * config.batch_size]
            if len(index) < 2:  # BatchNorm needs two
                progress.update(1)
                continue
            inputs, targets = self.batch(index, generator)
            loss = nn.functional.binary_cross_entropy_with_logits(self.model(inputs), targets)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
            if self.ema_model is not None and config.ema is not None:
                with torch.no_grad():
                    for ema, live in zip(
                        self.ema_model.state_dict().values(), self.model.state_dict().values(), strict=True
                    ):
                        if ema.dtype.is_floating_point:
                            ema.mul_(config.ema).add_(live, alpha=1 - config.ema)
                        else:
                            ema.copy_(live)
            losses.append(loss.item())
            progress.set_postfix(epoch=self.epoch + 1, loss=f"{np.mean(losses[-20:]):.4f}", refresh=False)
            progress.update(1)
        return float(np.mean(losses))

    def validation_figures(self, val: PTBXL) -> dict[str, object]:
        clf = self.classifier()
        p_full = record_probabilities(clf, val.x)
        p_print = record_probabilities(clf, printout_view(val.x))
        return {
            "val_superclass_auc_full": round(macro_auc(val.y[:, SUPER], p_full[:, SUPER]), 4),
            "val_superclass_auc_printout": round(macro_auc(val.y[:, SUPER], p_print[:, SUPER]), 4),
            "val_statement_auc_full": round(
                macro_auc(val.y[:, STATEMENT_COLUMNS], p_full[:, STATEMENT_COLUMNS]), 4
            ),
        }

    def fit(self, val: PTBXL, progress_position: int = 0) -> None:
        total = self.config.epochs * self.steps_per_epoch
        with tqdm(
            total=total,
            initial=self.epoch * self.steps_per_epoch,
            desc=self.config.name,
            unit="batch",
            position=progress_position,
            dynamic_ncols=True,
        ) as progress:
            while self.epoch < self.config.epochs:
                started = time.perf_counter()
                loss = self.train_epoch(progress)
                self.epoch += 1
                entry: dict[str, object] = {"epoch": self.epoch, "loss": round(loss, 5)}
                if self.epoch % self.config.eval_every == 0 or self.epoch == self.config.epochs:
                    entry |= self.validation_figures(val)
                entry["seconds"] = round(time.perf_counter() - started, 1)
                self.seconds += time.perf_counter() - started
                self.history.append(entry)
                progress.write(json.dumps(entry))
                self.save_checkpoint()


def export(run: Run, val: PTBXL, weights_dir: Path) -> dict[str, object]:
    """Fits the temperature on fold 9 and writes <name>.pt and <name>.json."""
    clf = run.classifier()
    cached = [window_logits(clf, view(val.x, name)) for name in run.config.temperature_views]
    stacked_y = np.concatenate([val.y] * len(cached))

    def probabilities_at(t: float) -> np.ndarray:
        return np.concatenate([combine_windows(lo, ow, len(val), clf.spec, t) for lo, ow in cached])

    temperature = fit_temperature(probabilities_at, stacked_y)
    before, after = validation_report(clf, val, (1.0, temperature))
    model = run.ema_model if run.ema_model is not None else run.model
    weights_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights_dir / f"{run.config.name}.pt")
    config = run.config
    meta: dict[str, object] = {
        "name": config.name,
        "version": VERSION,
        "architecture": config.architecture,
        "options": config.options,
        "parameters": parameter_count(model),
        "labels": list(LABELS),
        "outputs": run.outputs,
        "auxiliary_outputs": run.aux_codes,
        "temperature": round(temperature, 4),
        "temperature_fitted_on": f"PTB-XL fold 9, views: {', '.join(config.temperature_views)}",
        "input": dataclasses.asdict(run.spec),
        "label_rule": "superclasses: SCP keys with diagnostic == 1 -> diagnostic_class; statements: key"
        " present (any likelihood)",
        "training": {
            "data": "PTB-XL staged subset, 100 Hz, strat_fold 1-8 (train), fold 9 (validation)",
            "records": len(run.train),
            "seed": config.seed,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "weight_decay": config.weight_decay,
            "crop": config.crop,
            "ema": config.ema,
            "augmentation": dataclasses.asdict(config.augmentation) if config.augmentation else None,
            "seconds": round(run.seconds),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "validation_fold9": {"before_temperature": before, "after_temperature": after},
        "history": run.history,
    }
    (weights_dir / f"{config.name}.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=ORDER, help="train one model only")
    parser.add_argument("--epochs", type=int, help="override the epochs (quick checks; not the release)")
    parser.add_argument("--work-dir", type=Path, default=None, help="checkpoints (default var/ecg_train)")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="start over, ignoring checkpoints")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    work_dir = args.work_dir or Path(
        os.environ.get("CARDIOALERT_ECG_WORK_DIR", REPO_ROOT / "var" / "ecg_train")
    )
    train = load_ptbxl(TRAIN_FOLDS)
    val = load_ptbxl([VALIDATION_FOLD])
    tqdm.write(
        f"train: {len(train)} records (folds 1-8), validation: {len(val)} (fold 9); work dir {work_dir}"
    )
    started = time.perf_counter()
    for name in [args.only] if args.only else ORDER:
        config = CONFIGS[name]
        if args.epochs is not None:
            config = dataclasses.replace(config, epochs=args.epochs)
        run = Run(config, train, work_dir)
        if not args.fresh and run.resume():
            tqdm.write(f"{name}: resuming after epoch {run.epoch} of {config.epochs}")
        run.fit(val)
        meta = export(run, val, args.weights_dir)
        after = meta["validation_fold9"]["after_temperature"]  # type: ignore[index]
        tqdm.write(
            f"{name}: {run.seconds / 60:.1f} min of training; fold 9 superclass macro-AUC "
            f"{after['full']['superclass_macro_auc']} (10 s), {after['printout']['superclass_macro_auc']} "
            f"(printout view); temperature {meta['temperature']}"
        )
    tqdm.write(f"total {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
