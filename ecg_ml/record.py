"""The ECG record every part of ecg_ml works on: twelve standard leads in millivolts."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

_LEAD_ALIASES = {
    "I": "I",
    "LEAD_I": "I",
    "LEADI": "I",
    "DI": "I",
    "II": "II",
    "LEAD_II": "II",
    "LEADII": "II",
    "DII": "II",
    "III": "III",
    "LEAD_III": "III",
    "LEADIII": "III",
    "DIII": "III",
    "AVR": "aVR",
    "LEAD_AVR": "aVR",
    "AVL": "aVL",
    "LEAD_AVL": "aVL",
    "AVF": "aVF",
    "LEAD_AVF": "aVF",
    **{f"V{n}": f"V{n}" for n in range(1, 7)},
    **{f"LEAD_V{n}": f"V{n}" for n in range(1, 7)},
    **{f"C{n}": f"V{n}" for n in range(1, 7)},  # European chest-lead names
}


def standard_lead_name(name: str) -> str | None:
    """'Lead II', 'MDC_ECG_LEAD_II', 'avr', 'C1' → the standard name; None when not one of the 12."""
    key = name.strip().upper().replace(" ", "_").replace("MDC_ECG_", "")
    key = key.removeprefix("LEAD_") if key.removeprefix("LEAD_") in _LEAD_ALIASES else key
    return _LEAD_ALIASES.get(key)


@dataclass
class ECGRecord:
    """signal: float32 [n, 12] in mV, columns in STANDARD_LEADS order, NaN where a lead (or a
    stretch of one) was not recorded; fs in Hz; metadata: what the source told (format, original
    lead names, units, patient age and sex when given, ...)."""

    signal: np.ndarray
    fs: float
    leads: tuple[str, ...] = STANDARD_LEADS
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.signal.ndim != 2 or self.signal.shape[1] != len(STANDARD_LEADS):
            raise ValueError(f"signal must be [n, 12], got {self.signal.shape}")
        if tuple(self.leads) != STANDARD_LEADS:
            raise ValueError("leads must be the 12 standard leads in order")
        self.signal = np.asarray(self.signal, dtype=np.float32)

    @property
    def duration_s(self) -> float:
        return self.signal.shape[0] / self.fs if self.fs > 0 else 0.0
