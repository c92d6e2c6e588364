"""What every reader shares: lead-name and unit normalisation, the limits, and `assemble`, which
turns the channels a reader found into an `ECGRecord` (12 standard leads in mV) or refuses."""

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecg_ml.errors import UnreadableECG
from ecg_ml.record import STANDARD_LEADS, ECGRecord, standard_lead_name

# Refusal codes (UnreadableECG.code). The API maps each to a translated message.
UNSUPPORTED_FORMAT = "unsupported_format"
CORRUPT_FILE = "corrupt_file"
NO_STANDARD_LEADS = "no_standard_leads"
INCONSISTENT_LEADS = "inconsistent_leads"
INVALID_SAMPLING_RATE = "invalid_sampling_rate"
TOO_LONG = "too_long"
UNSAFE_ARCHIVE = "unsafe_archive"
NO_WAVEFORM = "no_waveform"  # a DICOM object that is not a waveform (an image, a report)

# Warning codes (metadata["warnings"]).
MICROVOLT_SCALED_INPUT_CONVERTED = "microvolt_scaled_input_converted"
DERIVED_LEADS_COMPUTED = "derived_leads_computed"
UNKNOWN_UNITS_ASSUMED_MV = "unknown_units_assumed_mv"
INVERTED_LEAD_CORRECTED = "inverted_lead_corrected"
DUPLICATE_LEAD_IGNORED = "duplicate_lead_ignored"
NON_STANDARD_CHANNELS_IGNORED = "non_standard_channels_ignored"

MIN_FS_HZ = 50.0
MAX_FS_HZ = 10_000.0
MAX_DURATION_S = 24 * 3600.0
# Counted as samples x 12 leads, the size of the float32 array we hand on (80 MB): 1.67 million
# samples per lead, 55 min at 500 Hz. It bounds memory, whatever the file claims: every reader
# also refuses a file whose channels together hold more values than this (check_values).
MAX_VALUES = 20_000_000
MAX_INPUT_BYTES = 200 * 1024 * 1024

# A QRS complex is a few mV at most; a "mV" signal whose typical peak is above this is in µV.
MICROVOLT_SUSPECT_PEAK_MV = 50.0

_UNIT_TO_MV = {"mV": 1.0, "uV": 1e-3, "V": 1e3}
_UNIT_ALIASES = {
    "mv": "mV",
    "millivolt": "mV",
    "millivolts": "mV",
    "uv": "uV",
    "µv": "uV",  # micro sign U+00B5
    "μv": "uV",  # Greek mu U+03BC
    "microvolt": "uV",
    "microvolts": "uV",
    "v": "V",
    "volt": "V",
    "volts": "V",
}


def unit_name(text: str | None) -> str:
    """'mV', 'uV', 'µV', 'μV', 'microvolt', 'V' ... → 'mV' / 'uV' / 'V'; anything else → 'unknown'."""
    if not text:
        return "unknown"
    return _UNIT_ALIASES.get(text.strip().lower(), "unknown")


_PARENTHESES = re.compile(r"\(.*?\)|\[.*?\]")


def lead_name(label: str) -> tuple[str | None, bool]:
    """A channel label as files write it → (standard lead name or None, inverted).

    Beyond `standard_lead_name` it reads the DICOM code meanings 'Lead I (Einthoven)' and
    'aVR, augmented voltage, right', and '-aVR', which is aVR upside down (so `inverted`)."""
    text = label.strip()
    inverted = text.startswith("-")
    if inverted:
        text = text[1:].strip()
    first_part = text.split(",")[0]
    for candidate in (text, first_part, _PARENTHESES.sub("", first_part)):
        name = standard_lead_name(candidate.strip()) if candidate.strip() else None
        if name is not None:
            return name, inverted
    return None, False


@dataclass
class Channel:
    """One signal as the file gave it: its label, values (float64, in `unit`) and unit;
    `lead_label` is the part of the label that names the lead, when the label says more ('II_uV')."""

    label: str
    values: np.ndarray
    unit: str  # 'mV', 'uV', 'V' or 'unknown'
    lead_label: str | None = None


@dataclass
class Found:
    """What a reader found, before normalisation."""

    format: str
    fs: float
    channels: list[Channel]
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def check_sampling_rate(fs: float) -> None:
    if not (math.isfinite(fs) and MIN_FS_HZ <= fs <= MAX_FS_HZ):
        raise UnreadableECG(
            INVALID_SAMPLING_RATE, f"sampling rate {fs!r} Hz outside {MIN_FS_HZ:g}-{MAX_FS_HZ:g} Hz"
        )


def check_length(n_samples: int, fs: float) -> None:
    """Refuse before decoding what a header claims, so a lying header cannot exhaust memory."""
    if n_samples * len(STANDARD_LEADS) > MAX_VALUES:
        raise UnreadableECG(TOO_LONG, f"{n_samples} samples per lead is more than this reader accepts")
    if fs > 0 and n_samples / fs > MAX_DURATION_S:
        raise UnreadableECG(TOO_LONG, f"{n_samples / fs / 3600:.1f} h is more than 24 h")


def check_values(n_values: int) -> None:
    """Refuse a file whose channels hold more than MAX_VALUES values in all, whatever their
    number: check_length bounds the samples of one lead, this the channels times the samples
    (extra channels, several samples per frame), so a header listing many cannot make a reader
    allocate gigabytes from a small upload."""
    if n_values > MAX_VALUES:
        raise UnreadableECG(TOO_LONG, f"{n_values} values in all is more than this reader accepts")


def age_years(value: float, unit: str = "a") -> float | None:
    """An age with its unit (UCUM 'a', 'mo', 'wk', 'd', or DICOM 'Y', 'M', 'W', 'D') → years."""
    per_year = {"a": 1.0, "y": 1.0, "mo": 12.0, "m": 12.0, "wk": 52.1775, "w": 52.1775, "d": 365.25}
    divisor = per_year.get(unit.strip().lower())
    if divisor is None or not math.isfinite(value) or not 0 <= value / divisor <= 150:
        return None
    return value / divisor


def sex_code(text: str | None) -> str | None:
    """'M', 'male', 'Male', 'F', 'female', ... → 'M' / 'F'; None when the file does not say."""
    if not text:
        return None
    key = text.strip().lower()
    if key in ("m", "male", "man"):
        return "M"
    if key in ("f", "female", "woman"):
        return "F"
    return None


def assemble(found: Found) -> ECGRecord:
    """The channels a reader found → ECGRecord, or UnreadableECG with the reason."""
    check_sampling_rate(found.fs)
    warnings = list(found.warnings)
    by_lead, lead_map, channel_units = _standard_channels(found.channels, warnings)

    lengths = {lead: values.shape[0] for lead, values in by_lead.items()}
    if len(set(lengths.values())) > 1 or any(v.ndim != 1 for v in by_lead.values()):
        raise UnreadableECG(INCONSISTENT_LEADS, f"leads differ in sample count: {lengths}")
    n_samples = next(iter(lengths.values()))
    if n_samples == 0:
        raise UnreadableECG(CORRUPT_FILE, "the leads hold no samples")
    check_length(n_samples, found.fs)

    # A lead recorded as nothing but gaps is no lead: it must not block deriving it.
    present = {lead: values for lead, values in by_lead.items() if np.isfinite(values).any()}
    if not present:
        raise UnreadableECG(NO_STANDARD_LEADS, "every standard lead is empty")

    if _typical_peak_mv(present) > MICROVOLT_SUSPECT_PEAK_MV:
        present = {lead: values / 1e3 for lead, values in present.items()}
        _add(warnings, MICROVOLT_SCALED_INPUT_CONVERTED)

    derived = _derive_limb_leads(present)
    if derived:
        _add(warnings, DERIVED_LEADS_COMPUTED)

    signal = np.full((n_samples, len(STANDARD_LEADS)), np.nan, dtype=np.float32)
    for column, lead in enumerate(STANDARD_LEADS):
        if lead in present:
            signal[:, column] = present[lead]

    units = set(channel_units.values())
    metadata: dict[str, Any] = {
        "format": found.format,
        "source_leads": [c.label for c in found.channels],
        "lead_map": lead_map,
        "units": units.pop() if len(units) == 1 else "mixed",
        "channel_units": channel_units,
        "fs_original": float(found.fs),
        "n_samples": int(n_samples),
        "derived_leads": derived,
        "missing_leads": [lead for lead in STANDARD_LEADS if lead not in present],
        **found.metadata,
        "warnings": warnings,
    }
    return ECGRecord(signal=signal, fs=float(found.fs), metadata=metadata)


def _standard_channels(
    channels: list[Channel], warnings: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """The channels that are standard leads, in mV (first of duplicates wins), with the label →
    lead map and each label's declared unit; refuses when there is none."""
    by_lead: dict[str, np.ndarray] = {}
    lead_map: dict[str, str] = {}
    channel_units: dict[str, str] = {}
    for channel in channels:
        name, inverted = lead_name(channel.lead_label or channel.label)
        if name is None:
            _add(warnings, NON_STANDARD_CHANNELS_IGNORED)
            continue
        if name in by_lead:
            _add(warnings, DUPLICATE_LEAD_IGNORED)
            continue
        values = np.asarray(channel.values, dtype=np.float64)
        # Infinities and amplitudes no float32 holds are no measurement: treat them as gaps.
        values = np.where(np.isfinite(values) & (np.abs(values) < 1e30), values, np.nan)
        if channel.unit == "unknown":
            _add(warnings, UNKNOWN_UNITS_ASSUMED_MV)
        elif channel.unit != "mV":
            # Division by the exact power of ten keeps µV integers exact in mV (0.001 is not).
            values = values * 1e3 if channel.unit == "V" else values / 1e3
        if inverted:
            values = -values
            _add(warnings, INVERTED_LEAD_CORRECTED)
        by_lead[name] = values
        lead_map[channel.label] = name
        channel_units[channel.label] = channel.unit
    if not by_lead:
        labels = ", ".join(c.label for c in channels[:20]) or "none"
        raise UnreadableECG(NO_STANDARD_LEADS, f"no standard lead among the channels ({labels})")
    return by_lead, lead_map, channel_units


def _add(warnings: list[str], code: str) -> None:
    if code not in warnings:
        warnings.append(code)


def _typical_peak_mv(leads: dict[str, np.ndarray]) -> float:
    """The median over leads of each lead's 99th percentile of |x - median|: about the QRS peak."""
    peaks = []
    for values in leads.values():
        finite = values[np.isfinite(values)]
        if finite.size:
            peaks.append(float(np.percentile(np.abs(finite - np.median(finite)), 99)))
    return float(np.median(peaks)) if peaks else 0.0


def _derive_limb_leads(leads: dict[str, np.ndarray]) -> list[str]:
    """Fill the missing limb leads from two of I, II, III (Einthoven: III = II - I) and the
    augmented ones from I and II (Goldberger); returns the names computed, in standard order."""
    computed: list[str] = []
    if "I" not in leads and "II" in leads and "III" in leads:
        leads["I"] = leads["II"] - leads["III"]
        computed.append("I")
    if "II" not in leads and "I" in leads and "III" in leads:
        leads["II"] = leads["I"] + leads["III"]
        computed.append("II")
    if "I" not in leads or "II" not in leads:
        return computed
    lead_i, lead_ii = leads["I"], leads["II"]
    formulas = {
        "III": lambda: lead_ii - lead_i,
        "aVR": lambda: -(lead_i + lead_ii) / 2,
        "aVL": lambda: lead_i - lead_ii / 2,
        "aVF": lambda: lead_ii - lead_i / 2,
    }
    for lead, formula in formulas.items():
        if lead not in leads:
            leads[lead] = formula()
            computed.append(lead)
    return [lead for lead in STANDARD_LEADS if lead in computed]


HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}


def image_format(data: bytes) -> str | None:
    """'jpeg', 'png' or 'heic' (iPhone photos) told by the first bytes; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return "heic"
    return None
