"""ecg_ml.classify with the committed weights on the ten PTB-XL records of tests/data/ptbxl (500 Hz):
probabilities for the documented labels, the expected findings on a normal and an atrial
fibrillation/flutter record, the printout view (NaN outside each lead's column), any rate and
length, the explainer's hooks and saliency."""

import json
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy.signal import resample_poly

from ecg_ml.classify import WEIGHTS_DIR, classify_batch, model_and_input, saliency
from ecg_ml.data import printout_view
from ecg_ml.model import LABELS
from ecg_ml.record import STANDARD_LEADS

PTBXL = Path(__file__).resolve().parents[1] / "data" / "ptbxl"
IDS = (1, 2, 17, 30, 102, 103, 170, 172, 180, 210)
NORMAL, AFIB = IDS.index(1), IDS.index(17)  # 00017: AFLT 100, AFIB listed (likelihood 0)


def read(ecg_id: int) -> np.ndarray:
    signal, info = wfdb.rdsamp(str(PTBXL / f"{ecg_id:05d}_hr"))
    names = [name.upper() for name in info["sig_name"]]
    return signal[:, [names.index(lead.upper()) for lead in STANDARD_LEADS]].astype(np.float32)


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return np.stack([read(ecg_id) for ecg_id in IDS])


@pytest.fixture(scope="module")
def probabilities(batch: np.ndarray) -> np.ndarray:
    probs, labels = classify_batch(batch, 500.0)
    assert labels == list(LABELS)
    return probs


def test_probabilities_for_the_documented_labels(probabilities: np.ndarray) -> None:
    assert probabilities.shape == (len(IDS), len(LABELS)) == (10, 17)
    assert probabilities.dtype == np.float32
    assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_normal_and_atrial_fibrillation_records(probabilities: np.ndarray) -> None:
    col = {label: k for k, label in enumerate(LABELS)}
    assert probabilities[NORMAL, col["NORM"]] > 0.7
    assert probabilities[NORMAL, col["AFIB"]] < 0.1
    assert probabilities[AFIB, col["AFIB"]] > 0.5
    assert probabilities[AFIB, col["NORM"]] < 0.3


def test_printout_view_with_nan_outside_each_column(batch: np.ndarray, probabilities: np.ndarray) -> None:
    printout = printout_view(batch)
    assert np.isnan(printout).mean() > 0.6
    probs, _ = classify_batch(printout, 500.0)
    assert np.all(np.isfinite(probs))
    col = {label: k for k, label in enumerate(LABELS)}
    assert probs[NORMAL, col["NORM"]] > 0.5
    assert probs[AFIB, col["AFIB"]] > 0.4
    assert np.abs(probs - probabilities).mean() < 0.15


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_any_sampling_rate(batch: np.ndarray, probabilities: np.ndarray, fs: float) -> None:
    up, down = (1, 2) if fs == 250.0 else (2, 1)
    probs, _ = classify_batch(resample_poly(batch, up, down, axis=1).astype(np.float32), fs)
    assert probs.shape == probabilities.shape
    assert np.abs(probs - probabilities).max() < 0.1


@pytest.mark.parametrize("seconds", [5, 30])
def test_any_length(batch: np.ndarray, probabilities: np.ndarray, seconds: int) -> None:
    n = seconds * 500
    signals = np.concatenate([batch] * 3, axis=1)[:, :n] if seconds > 10 else batch[:, :n]
    probs, _ = classify_batch(signals, 500.0)
    assert probs.shape == probabilities.shape
    assert np.all(np.isfinite(probs))
    col = {label: k for k, label in enumerate(LABELS)}
    assert probs[NORMAL, col["NORM"]] > 0.5
    # 00017 is atrial flutter with fibrillation listed: on 5 s the flutter output carries it.
    assert max(probs[AFIB, col["AFIB"]], probs[AFIB, col["AFLT"]]) > 0.4


def test_one_record_and_bad_shapes(batch: np.ndarray) -> None:
    probs, _ = classify_batch(batch[NORMAL], 500.0)  # [n, 12] is one record
    assert probs.shape == (1, len(LABELS))
    with pytest.raises(ValueError):
        classify_batch(batch[:, :, :8], 500.0)


def test_explainer_hooks(batch: np.ndarray) -> None:
    clf, inputs, owner = model_and_input(batch[:2], 500.0)
    assert tuple(inputs.shape) == (2, 24, 1000)
    assert owner.tolist() == [0, 1]
    logits = clf.model(inputs)[:, : len(clf.labels)]
    assert tuple(logits.shape) == (2, len(LABELS))


def test_saliency_shape_range_and_masking(batch: np.ndarray) -> None:
    full = saliency(batch[AFIB], 500.0, "AFIB")
    assert full.shape == (12, 50)
    assert full.dtype == np.float32
    assert full.min() >= 0 and full.max() == pytest.approx(1.0)
    printout = saliency(printout_view(batch[AFIB]), 500.0, "AFIB")
    v1 = STANDARD_LEADS.index("V1")
    assert np.all(printout[v1, :24] == 0)  # V1 is only in the third column (25-37 of 50 bins)
    assert printout[v1, 26:36].max() > 0


def test_weights_are_small_and_described() -> None:
    assert sum(path.stat().st_size for path in WEIGHTS_DIR.iterdir()) <= 20 * 1024 * 1024
    for name in ("xresnet1d", "resnet1d_wang"):
        meta = json.loads((WEIGHTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert meta["labels"] == list(LABELS)
        assert meta["temperature"] > 0
        assert meta["input"]["fs"] == 100
        assert meta["version"]
