"""Photos and scans of paper 12-lead ECGs to signals: digitize_image(bytes) -> DigitizedECG, or
UnreadablePhoto with the reason code (see feedback.RETAKE_HINTS for the app's retake hints)."""

from ecg_ml.digitize.feedback import RETAKE_HINTS
from ecg_ml.digitize.pipeline import DigitizedECG, digitize_image

__all__ = ["RETAKE_HINTS", "DigitizedECG", "digitize_image"]
