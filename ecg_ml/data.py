"""PTB-XL for training and evaluation: loading the staged subset, its labels, the printout view and
the augmentations that make the classifier work on digitised photos.

The data set is never copied into the repository: it is read from ``CARDIOALERT_DATA_DIR``
(default ``../shared/data`` next to the repository root), folder ``ptbxl``.
"""

import ast
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ecg_ml.model import LABELS, STATEMENTS, SUPERCLASSES

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN_FOLDS = (1, 2, 3, 4, 5, 6, 7, 8)
VALIDATION_FOLD = 9
TEST_FOLD = 10  # read by bench/ecg_eval.py only

# The standard 3 x 4 printout: four 2.5 s columns, three leads each, and lead II as the 10 s
# rhythm strip under them. Indices are positions in STANDARD_LEADS.
PRINTOUT_COLUMNS = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10, 11))
RHYTHM_LEAD = 1


def ptbxl_dir() -> Path:
    root = os.environ.get("CARDIOALERT_DATA_DIR")
    base = Path(root) if root else REPO_ROOT.parent / "shared" / "data"
    return base / "ptbxl"


@dataclass
class PTBXL:
    """Records of some folds: x float32 [n, samples, 12] in mV (STANDARD_LEADS order), y float32
    [n, len(LABELS)], the SCP statements of each record, and where it comes from."""

    x: np.ndarray
    y: np.ndarray
    ecg_id: np.ndarray
    fold: np.ndarray
    scp: list[dict[str, float]]
    fs: int

    def __len__(self) -> int:
        return len(self.ecg_id)


def _statement_table(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "scp_statements.csv", index_col=0)


def superclasses_of(scp: dict[str, float], statements: pd.DataFrame) -> set[str]:
    """Superclasses as the PTB-XL example code aggregates them: every key with diagnostic == 1,
    whatever its likelihood, mapped to its diagnostic_class."""
    diagnostic = statements[statements.diagnostic == 1]
    return {str(diagnostic.at[code, "diagnostic_class"]) for code in scp if code in diagnostic.index}


def label_matrix(scps: Sequence[dict[str, float]], statements: pd.DataFrame) -> np.ndarray:
    """Multi-hot [n, len(LABELS)]: the five superclasses, then the statements by presence of their SCP
    code with any likelihood (the PTB-XL benchmark's convention; rhythm codes are stored with
    likelihood 0, so a likelihood threshold would erase them)."""
    y = np.zeros((len(scps), len(LABELS)), dtype=np.float32)
    for i, scp in enumerate(scps):
        classes = superclasses_of(scp, statements)
        for j, name in enumerate(SUPERCLASSES):
            y[i, j] = name in classes
        for j, code in enumerate(STATEMENTS):
            y[i, len(SUPERCLASSES) + j] = code in scp
    return y


def code_matrix(scps: Sequence[dict[str, float]], codes: Sequence[str]) -> np.ndarray:
    """Multi-hot [n, len(codes)] by presence of each SCP code (auxiliary training targets)."""
    return np.array([[code in scp for code in codes] for scp in scps], dtype=np.float32).reshape(
        len(scps), len(codes)
    )


def load_ptbxl(folds: Iterable[int], root: Path | None = None) -> PTBXL:
    """All staged records of the folds at 100 Hz (4,345 records over ten folds; 2,330 of the rows
    were decimated from 500 Hz when the data was staged, see the data README)."""
    root = root or ptbxl_dir()
    index = pd.read_csv(root / "staged_records.csv", index_col="ecg_id")
    xs, ids, folds_of = [], [], []
    for fold in folds:
        with np.load(root / "signals100" / f"ptbxl100_fold{fold:02d}.npz") as z:
            xs.append(z["X"].astype(np.float32) / float(z["adc_gain"]))
            ids.append(z["ecg_id"].astype(np.int64))
            folds_of.append(np.full(len(z["ecg_id"]), fold, dtype=np.int64))
    ecg_id = np.concatenate(ids)
    fold_arr = np.concatenate(folds_of)
    if not np.array_equal(index.loc[ecg_id, "strat_fold"].to_numpy(), fold_arr):
        raise ValueError("staged_records.csv and the signal files disagree on folds")
    scps = [ast.literal_eval(text) for text in index.loc[ecg_id, "scp_codes"]]
    y = label_matrix(scps, _statement_table(root))
    return PTBXL(np.concatenate(xs), y, ecg_id, fold_arr, scps, 100)


def load_ptbxl_500(folds: Iterable[int], root: Path | None = None) -> PTBXL:
    """The records of the folds that are also staged at 500 Hz (x [n, 5000, 12] mV)."""
    root = root or ptbxl_dir()
    index = pd.read_csv(root / "staged_records.csv", index_col="ecg_id")
    rows = index[index.strat_fold.isin(list(folds)) & index.file500.notna()]
    xs = []
    for file_name, group in rows.groupby("file500", sort=True):
        with np.load(root / str(file_name)) as z:
            x = z["X"]
            stored = z["ecg_id"]
            picked = group.row500.astype(int).to_numpy()
            if not np.array_equal(stored[picked], group.index.to_numpy()):
                raise ValueError(f"{file_name}: rows do not match staged_records.csv")
            xs.append((group.index.to_numpy(), x[picked].astype(np.float32) / float(z["adc_gain"])))
    ecg_id = np.concatenate([ids for ids, _ in xs])
    x500 = np.concatenate([x for _, x in xs])
    order = np.argsort(ecg_id)
    ecg_id, x500 = ecg_id[order], x500[order]
    scps = [ast.literal_eval(text) for text in index.loc[ecg_id, "scp_codes"]]
    y = label_matrix(scps, _statement_table(root))
    return PTBXL(x500, y, ecg_id, index.loc[ecg_id, "strat_fold"].to_numpy(), scps, 500)


def printout_view(signals: np.ndarray) -> np.ndarray:
    """What a photo of the standard 3 x 4 printout holds: each lead only in its quarter of the
    record, lead II over the whole length as the rhythm strip, NaN elsewhere. signals [..., n, 12]."""
    out = np.full_like(signals, np.nan)
    n = signals.shape[-2]
    for column, leads in enumerate(PRINTOUT_COLUMNS):
        start, stop = column * n // 4, (column + 1) * n // 4
        for lead in leads:
            out[..., start:stop, lead] = signals[..., start:stop, lead]
    out[..., :, RHYTHM_LEAD] = signals[..., :, RHYTHM_LEAD]
    return out


@dataclass
class Augmentation:
    """Probabilities and ranges of the training augmentations (all on mV at the model's rate)."""

    printout: float = 0.4  # the printout view (with jittered column edges, sometimes no strip)
    lead_dropout: float = 0.05  # one to three whole leads missing
    truncate: float = 0.1  # only a contiguous 2.5-10 s part recorded (short records, padded)
    wander: float = 0.5  # baseline wander: two low-frequency sinusoids per lead, up to 0.4 mV
    scale: float = 0.8  # amplitude scaling, global 0.75-1.33 x and per lead 0.9-1.1 x
    noise: float = 0.5  # Gaussian noise, sd up to 0.05 mV
    powerline: float = 0.2  # a 40-50 Hz sinusoid (50/60 Hz mains after resampling to 100 Hz)
    smooth: float = 0.2  # a short moving average (the blur of a digitised trace)
    shift_s: float = 0.5  # time shift up to this many seconds (the emptied part is missing)


def augment(x: torch.Tensor, aug: Augmentation, fs: float, generator: torch.Generator) -> torch.Tensor:
    """x float32 [b, n, 12] mV (NaN = not recorded) -> an augmented copy, NaN where now missing."""
    b, n, leads = x.shape
    x = x.clone()

    def chance(p: float) -> torch.Tensor:
        return torch.rand(b, generator=generator) < p

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator)

    t = torch.arange(n, dtype=torch.float32) / fs

    scaled = chance(aug.scale)
    gain = torch.exp(uniform(math.log(0.75), math.log(1.33), b, 1, 1)) * uniform(0.9, 1.1, b, 1, leads)
    x = torch.where(scaled[:, None, None], x * gain, x)

    wander = chance(aug.wander)
    freq = uniform(0.05, 0.6, b, 2, 1, leads)
    phase = uniform(0.0, 2 * math.pi, b, 2, 1, leads)
    amp = uniform(0.0, 0.2, b, 2, 1, leads)
    drift = (amp * torch.sin(2 * math.pi * freq * t[None, None, :, None] + phase)).sum(1)
    x = x + wander[:, None, None] * drift

    noisy = chance(aug.noise)
    sd = uniform(0.0, 0.05, b, 1, 1)
    x = x + noisy[:, None, None] * sd * torch.randn(b, n, leads, generator=generator)

    mains = chance(aug.powerline)
    freq = uniform(40.0, 50.0, b, 1, 1)
    amp = uniform(0.0, 0.05, b, 1, leads)
    phase = uniform(0.0, 2 * math.pi, b, 1, leads)
    x = x + mains[:, None, None] * amp * torch.sin(2 * math.pi * freq * t[None, :, None] + phase)

    smooth = chance(aug.smooth)
    if smooth.any():
        blurred = torch.nn.functional.avg_pool1d(
            x[smooth].transpose(1, 2), kernel_size=3, stride=1, padding=1, count_include_pad=False
        ).transpose(1, 2)
        x[smooth] = blurred

    shift = torch.round(uniform(-aug.shift_s, aug.shift_s, b) * fs).long()
    for i in torch.nonzero(shift).flatten().tolist():
        s = int(shift[i])
        x[i] = torch.roll(x[i], s, dims=0)
        if s > 0:
            x[i, :s] = torch.nan
        else:
            x[i, s:] = torch.nan

    missing = torch.zeros(b, n, leads, dtype=torch.bool)
    for i in torch.nonzero(chance(aug.printout)).flatten().tolist():
        missing[i] = _printout_mask(n, fs, generator)
    for i in torch.nonzero(chance(aug.lead_dropout)).flatten().tolist():
        count = int(torch.randint(1, 4, (1,), generator=generator))
        missing[i, :, torch.randperm(leads, generator=generator)[:count]] = True
    for i in torch.nonzero(chance(aug.truncate)).flatten().tolist():
        keep = int(uniform(2.5, 10.0, 1) * fs)
        if keep < n:
            start = int(torch.randint(0, n - keep + 1, (1,), generator=generator))
            missing[i, :start] = True
            missing[i, start + keep :] = True
    return x.masked_fill(missing, torch.nan)


def _printout_mask(n: int, fs: float, generator: torch.Generator) -> torch.Tensor:
    """True where the printout view has no trace; column edges jitter by up to 0.15 s and a
    photo's cut-off edges leave short gaps; sometimes there is no rhythm strip."""
    missing = torch.ones(n, 12, dtype=torch.bool)
    jitter = int(0.15 * fs)
    edges = [0] + [
        c * n // 4 + int(torch.randint(-jitter, jitter + 1, (1,), generator=generator)) for c in (1, 2, 3)
    ]
    edges.append(n)
    for column, leads in enumerate(PRINTOUT_COLUMNS):
        start = edges[column] + int(torch.randint(0, int(0.05 * fs) + 1, (1,), generator=generator))
        stop = edges[column + 1] - int(torch.randint(0, int(0.05 * fs) + 1, (1,), generator=generator))
        missing[max(start, 0) : max(stop, 0), list(leads)] = False
    if float(torch.rand(1, generator=generator)) < 0.9:
        missing[:, RHYTHM_LEAD] = False
    return missing
