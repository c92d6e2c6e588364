"""Photos and scans of paper 12-lead ECGs to signals: digitize_image(bytes) -> DigitizedECG, or
UnreadablePhoto with the reason code (see feedback.RETAKE_HINTS for the app's retake hints).

The pipeline loads lazily (PEP 562): the retake hints are read without importing OpenCV."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ecg_ml.digitize.feedback import RETAKE_HINTS

if TYPE_CHECKING:
    from ecg_ml.digitize.pipeline import DigitizedECG, digitize_image

__all__ = ["RETAKE_HINTS", "DigitizedECG", "digitize_image"]


def __getattr__(name: str) -> Any:
    if name in ("DigitizedECG", "digitize_image"):
        return getattr(import_module("ecg_ml.digitize.pipeline"), name)
    raise AttributeError(f"module 'ecg_ml.digitize' has no attribute {name!r}")
