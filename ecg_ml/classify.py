"""Multi-label ECG classification with the committed weights: five PTB-XL superclasses and twelve
SCP statements (ecg_ml.model.LABELS), as temperature-scaled probabilities.

Signals of any rate and length are resampled to the model's 100 Hz and cut into the model's
windows (10 s for ours; longer records are read in half-overlapping windows whose probabilities are
averaged; shorter ones are padded with "not recorded"). NaN marks what was not recorded, as in a
printout photo where each lead shows only its 2.5 s column. The weights are loaded once per process.
"""

import itertools
import json
import os
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample_poly
from torch import nn

from ecg_ml.model import build_model, masked_input, standardised_input
from ecg_ml.record import STANDARD_LEADS

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "xresnet1d"
ANCHOR_MODEL = "resnet1d_wang"
_CHUNK = 256  # windows per forward pass: bounds memory for long records and large batches


@dataclass(frozen=True)
class InputSpec:
    """How signals become network input (kept with the weights in their JSON)."""

    kind: str  # "masked": centred mV + availability masks; "standardised": the benchmark's scaling
    fs: int
    window: int  # samples at fs
    stride: int  # samples between window starts for longer records
    aggregate: str  # how window probabilities combine into a record's: "mean" or "max"
    mean: float = 0.0
    std: float = 1.0


@dataclass
class Classifier:
    name: str
    model: nn.Module
    spec: InputSpec
    labels: tuple[str, ...]
    temperature: float
    version: str
    meta: dict[str, object]


def torch_threads() -> int:
    configured = os.environ.get("CARDIOALERT_TORCH_THREADS")
    return int(configured) if configured else min(4, os.cpu_count() or 1)


def read_classifier(name: str, weights_dir: Path = WEIGHTS_DIR) -> Classifier:
    """Builds the network described by weights/<name>.json and loads weights/<name>.pt."""
    meta = json.loads((weights_dir / f"{name}.json").read_text(encoding="utf-8"))
    model = build_model(meta["architecture"], int(meta["outputs"]), **meta.get("options", {}))
    state = torch.load(weights_dir / f"{name}.pt", map_location="cpu", weights_only=True)
    model.load_state_dict({key: value.float() for key, value in state.items()})
    model.eval()
    return Classifier(
        name=name,
        model=model,
        spec=InputSpec(**meta["input"]),
        labels=tuple(meta["labels"]),
        temperature=float(meta["temperature"]),
        version=str(meta["version"]),
        meta=meta,
    )


@lru_cache(maxsize=4)
def load_classifier(name: str = DEFAULT_MODEL) -> Classifier:
    torch.set_num_threads(torch_threads())
    return read_classifier(name)


def resample(signals: np.ndarray, fs: float, target_fs: int) -> np.ndarray:
    """[b, n, 12] at fs -> [b, m, 12] at target_fs; NaN (not recorded) stays NaN where it was."""
    signals = np.asarray(signals, dtype=np.float32)
    if abs(fs - target_fs) < 1e-6:
        return signals
    ratio = Fraction(target_fs / fs).limit_denominator(1000)
    available = np.isfinite(signals)
    complete = bool(available.all())
    if complete:
        filled = signals
    else:
        # Centre each lead before zero-filling its gaps so the filter sees no step at a gap's edge.
        with np.errstate(all="ignore"):
            median = np.nan_to_num(np.nanmedian(np.where(available, signals, np.nan), axis=1, keepdims=True))
        filled = np.where(available, signals - median, 0.0).astype(np.float32)
    out = resample_poly(filled, ratio.numerator, ratio.denominator, axis=1).astype(np.float32)
    if not complete:
        source = np.minimum(
            (np.arange(out.shape[1]) * fs / target_fs).round().astype(int), signals.shape[1] - 1
        )
        out = np.where(available[:, source, :], out + median, np.nan).astype(np.float32)
    return out


def split_windows(x: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, np.ndarray]:
    """[b, n, 12] at the model's rate -> windows [w, window, 12] and the record each belongs to.
    Short records are padded with NaN; the last window of a long one ends at its end."""
    b, n, leads = x.shape
    if n < spec.window:
        padded = np.full((b, spec.window, leads), np.nan, dtype=np.float32)
        padded[:, :n] = x
        return padded, np.arange(b)
    starts = _window_starts(n, spec)
    windows = np.stack([x[:, s : s + spec.window] for s in starts], axis=1)
    return windows.reshape(b * len(starts), spec.window, leads), np.repeat(np.arange(b), len(starts))


def network_input(windows: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """Windows [w, window, 12] mV (NaN = not recorded) -> the exact tensor the network reads."""
    if spec.kind == "masked":
        return masked_input(windows)
    if spec.kind == "standardised":
        return standardised_input(windows, spec.mean, spec.std)
    raise ValueError(f"unknown input kind {spec.kind!r}")


def model_and_input(
    signals: np.ndarray, fs: float, name: str = DEFAULT_MODEL
) -> tuple[Classifier, torch.Tensor, np.ndarray]:
    """For explainers: the loaded classifier, the network input [w, channels, window] that
    classify_batch feeds it for these signals ([b, n, 12] mV), and each window's record index."""
    clf = load_classifier(name)
    x = resample(_as_batch(signals), fs, clf.spec.fs)
    windows, owner = split_windows(x, clf.spec)
    return clf, network_input(torch.from_numpy(windows), clf.spec), owner


def window_logits(clf: Classifier, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits [w, len(labels)] of every window of x ([b, n, 12] at the model's rate), untempered."""
    windows, owner = split_windows(x, clf.spec)
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(windows), _CHUNK):
            chunk = torch.from_numpy(windows[start : start + _CHUNK])
            outputs.append(clf.model(network_input(chunk, clf.spec))[:, : len(clf.labels)].numpy())
    return np.concatenate(outputs), owner


def record_probabilities(clf: Classifier, x: np.ndarray, temperature: float | None = None) -> np.ndarray:
    """[b, n, 12] at the model's rate -> probabilities [b, len(labels)] (windows combined)."""
    logits, owner = window_logits(clf, x)
    return combine_windows(
        logits, owner, len(x), clf.spec, clf.temperature if temperature is None else temperature
    )


def combine_windows(
    logits: np.ndarray, owner: np.ndarray, b: int, spec: InputSpec, temperature: float
) -> np.ndarray:
    """Window logits -> record probabilities: temperature, sigmoid, then the spec's mean or max."""
    probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64) / temperature))
    if spec.aggregate == "max":
        out = np.full((b, probs.shape[1]), -np.inf)
        np.maximum.at(out, owner, probs)
    else:
        out = np.zeros((b, probs.shape[1]))
        np.add.at(out, owner, probs)
        out /= np.bincount(owner, minlength=b)[:, None]
    return out.astype(np.float32)


def classify_batch(signals: np.ndarray, fs: float, name: str = DEFAULT_MODEL) -> tuple[np.ndarray, list[str]]:
    """signals float32 [b, n, 12] in mV (STANDARD_LEADS order, NaN where not recorded), any fs and
    length -> (probabilities float32 [b, k], the k label names). Probabilities are per label
    (multi-label), temperature-scaled on PTB-XL fold 9."""
    clf = load_classifier(name)
    x = resample(_as_batch(signals), fs, clf.spec.fs)
    return record_probabilities(clf, x), list(clf.labels)


def saliency(signal: np.ndarray, fs: float, label: str, steps: int = 8, bins: int = 50) -> np.ndarray:
    """Where in which lead the evidence for `label` lies, see saliency_maps."""
    return saliency_maps(signal, fs, [label], steps, bins)[label]


def saliency_maps(
    signal: np.ndarray, fs: float, labels: list[str], steps: int = 8, bins: int = 50
) -> dict[str, np.ndarray]:
    """Where in which lead the evidence for each label lies: integrated gradients (zero-signal
    baseline, `steps` points, masks kept) of the label's logit, |attribution| summed per lead in
    `bins` equal stretches of the record, scaled to 0..1. signal [n, 12] mV at fs -> per label
    float32 [12, bins]. One forward pass serves every label; each label costs one backward pass."""
    if not labels:
        return {}
    clf = load_classifier(DEFAULT_MODEL)
    x = resample(_as_batch(signal), fs, clf.spec.fs)
    windows, _ = split_windows(x, clf.spec)
    starts = _window_starts(x.shape[1], clf.spec)
    inputs = network_input(torch.from_numpy(windows), clf.spec)
    leads = windows.shape[2]
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    scaled = inputs[None].repeat(steps, 1, 1, 1)
    scaled[:, :, :leads] *= alphas[:, None, None, None]
    scaled = scaled.reshape(-1, *inputs.shape[1:]).requires_grad_(True)
    logits = clf.model(scaled)
    n = max(x.shape[1], 1)
    edges = np.linspace(0, n, bins + 1).round().astype(int)
    maps = {}
    for position, label in enumerate(labels):
        k = clf.labels.index(label)
        last = position == len(labels) - 1
        (grad,) = torch.autograd.grad(logits[:, k].sum(), scaled, retain_graph=not last)
        grad = grad.reshape(steps, *inputs.shape).mean(0)
        attribution = (grad[:, :leads] * inputs[:, :leads]).abs().detach().numpy()  # [w, 12, window]
        total = np.zeros((leads, max(n, clf.spec.window)), dtype=np.float64)
        count = np.zeros(max(n, clf.spec.window), dtype=np.float64)
        for w, start in enumerate(starts):
            total[:, start : start + clf.spec.window] += attribution[w]
            count[start : start + clf.spec.window] += 1
        per_sample = (total / np.maximum(count, 1))[:, :n]
        binned = np.array(
            [
                per_sample[:, a:b].sum(axis=1) if b > a else np.zeros(leads)
                for a, b in itertools.pairwise(edges)
            ]
        ).T
        peak = binned.max()
        maps[label] = (binned / peak if peak > 0 else binned).astype(np.float32)
    return maps


def _window_starts(n: int, spec: InputSpec) -> list[int]:
    if n < spec.window:
        return [0]
    starts = list(range(0, n - spec.window + 1, spec.stride))
    if starts[-1] + spec.window < n:
        starts.append(n - spec.window)
    return starts


def _as_batch(signals: np.ndarray) -> np.ndarray:
    signals = np.asarray(signals, dtype=np.float32)
    if signals.ndim == 2:
        signals = signals[None]
    if signals.ndim != 3 or signals.shape[2] != len(STANDARD_LEADS):
        raise ValueError(f"signals must be [b, n, 12] (or [n, 12]), got {signals.shape}")
    return signals
