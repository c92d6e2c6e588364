"""ECG machine learning as a plain library: readers, photo digitisation, measurements,
classification and recommendations. It imports nothing from the web side (no FastAPI, no
database); the API and the worker call its public functions:

- `read_record(path_or_bytes, filename=None) -> ECGRecord`
- `digitize_image(data) -> DigitizedECG`
- `classify_batch(signals, fs) -> (probabilities, labels)`
- `analyze(record, risk_category=None) -> Analysis`

They load lazily (PEP 562): importing `ecg_ml.errors` or `ecg_ml.record` does not pull in torch.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecg_ml.analysis import Analysis, Finding, analyze
    from ecg_ml.classify import classify_batch
    from ecg_ml.digitize import DigitizedECG, digitize_image
    from ecg_ml.errors import ECGError, NotInterpretable, UnreadableECG
    from ecg_ml.io import read_record
    from ecg_ml.record import STANDARD_LEADS, ECGRecord

_EXPORTS = {
    "read_record": "ecg_ml.io",
    "digitize_image": "ecg_ml.digitize",
    "DigitizedECG": "ecg_ml.digitize",
    "classify_batch": "ecg_ml.classify",
    "analyze": "ecg_ml.analysis",
    "Analysis": "ecg_ml.analysis",
    "Finding": "ecg_ml.analysis",
    "ECGRecord": "ecg_ml.record",
    "STANDARD_LEADS": "ecg_ml.record",
    "ECGError": "ecg_ml.errors",
    "UnreadableECG": "ecg_ml.errors",
    "NotInterpretable": "ecg_ml.errors",
}

__all__ = [
    "STANDARD_LEADS",
    "Analysis",
    "DigitizedECG",
    "ECGError",
    "ECGRecord",
    "Finding",
    "NotInterpretable",
    "UnreadableECG",
    "analyze",
    "classify_batch",
    "digitize_image",
    "read_record",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ecg_ml' has no attribute {name!r}")
    return getattr(import_module(module), name)
