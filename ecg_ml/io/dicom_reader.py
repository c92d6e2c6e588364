"""DICOM waveform objects (12-lead ECG, General ECG, Ambulatory ECG Waveform Storage).

A waveform object holds multiplex groups (WaveformSequence items): typically the rhythm strip
(ORIGINAL) and the median beat (DERIVED). We read the rhythm: an ORIGINAL group before a
DERIVED one, then the longest. Channel labels come from the ChannelSourceSequence code meaning
('Lead I (Einthoven)', 'aVR, augmented voltage, right', 'Lead V1'), else the channel label, else
the SCPECG / MDC code value. Physical value = stored value x ChannelSensitivity x
ChannelSensitivityCorrectionFactor + ChannelBaseline (PS3.3 C.10.9.1.4.3), in the units of
ChannelSensitivityUnitsSequence (UCUM uV / mV). The stored samples are decoded here, with the byte
order of the transfer syntax; pydicom only parses the file."""

import io
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from ecg_ml.errors import UnreadableECG
from ecg_ml.io.common import (
    CORRUPT_FILE,
    NO_STANDARD_LEADS,
    NO_WAVEFORM,
    UNSUPPORTED_FORMAT,
    Channel,
    Found,
    age_years,
    check_length,
    check_sampling_rate,
    check_values,
    lead_name,
    sex_code,
    unit_name,
)

_EXPLICIT_VRS = {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB", b"OD",
    b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI",
    b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
}  # fmt: skip

# Stored sample types we decode; mu-law (MB) and A-law (AB) are not used by ECG carts.
_SAMPLE_TYPES = {
    (8, "SB"): "i1",
    (8, "UB"): "u1",
    (16, "SS"): "i2",
    (16, "US"): "u2",
    (32, "SL"): "i4",
    (32, "UL"): "u4",
    (64, "SV"): "i8",
    (64, "UV"): "u8",
}

# SCPECG ('5.6.3-9-N') and MDC ('2:N') lead codes share the numbering N.
_LEAD_CODE_NUMBERS = {
    1: "I", 2: "II", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF",
    3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6",
}  # fmt: skip


def looks_like_dicom(data: bytes) -> bool:
    """A DICOM file (preamble + 'DICM'), or a bare data set that starts with a group 0002 or 0008
    element (as some archives store them)."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return True
    if len(data) < 8 or data[1:2] != b"\x00" or data[0:1] not in (b"\x02", b"\x08"):
        return False
    return data[2:4] in (b"\x00\x00", b"\x01\x00", b"\x05\x00", b"\x08\x00", b"\x10\x00", b"\x16\x00") and (
        data[4:6] in _EXPLICIT_VRS or data[6:8] == b"\x00\x00"
    )


def read(data: bytes) -> Found:
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
        groups = list(dataset.get("WaveformSequence") or [])
    except Exception as exc:  # pydicom raises many types on damaged files
        raise UnreadableECG(CORRUPT_FILE, f"DICOM unreadable: {type(exc).__name__}") from exc
    if not groups:
        sop_class = str(dataset.get("SOPClassUID", "unknown"))
        raise UnreadableECG(NO_WAVEFORM, f"DICOM object without waveform (SOP class {sop_class})")
    try:
        little_endian = _is_little_endian(dataset)
        candidates = [(index, group) for index, group in enumerate(groups) if _has_standard_lead(group)]
        if not candidates:
            raise UnreadableECG(NO_STANDARD_LEADS, "no multiplex group holds a standard ECG lead")
        index, group = max(candidates, key=lambda item: _rhythm_rank(item[1]))
        fs = float(group.SamplingFrequency)
        check_sampling_rate(fs)
        channels = _decode(group, little_endian, fs)
        metadata = _metadata(dataset, group, index)
    except UnreadableECG:
        raise
    except Exception as exc:
        raise UnreadableECG(CORRUPT_FILE, f"DICOM waveform unreadable: {type(exc).__name__}") from exc
    return Found(format="dicom", fs=fs, channels=channels, metadata=metadata)


def _is_little_endian(dataset: Dataset) -> bool:
    encoding = getattr(dataset, "original_encoding", None)
    if encoding and encoding[1] is not None:
        return bool(encoding[1])
    syntax = dataset.get("file_meta", Dataset()).get("TransferSyntaxUID")
    return syntax != pydicom.uid.ExplicitVRBigEndian


def _label(channel: Dataset) -> str:
    source = (channel.get("ChannelSourceSequence") or [None])[0]
    meaning = str(source.get("CodeMeaning", "")) if source is not None else ""
    label = str(channel.get("ChannelLabel", ""))
    for text in (meaning, label):
        if text and lead_name(text)[0] is not None:
            return text
    code = str(source.get("CodeValue", "")) if source is not None else ""
    number = code.rsplit("-", 1)[-1].rsplit(":", 1)[-1]
    if number.isdigit() and int(number) in _LEAD_CODE_NUMBERS and ("5.6.3-9-" in code or ":" in code):
        return _LEAD_CODE_NUMBERS[int(number)]
    return meaning or label or code or "unlabelled"


def _has_standard_lead(group: Dataset) -> bool:
    return any(lead_name(_label(c))[0] is not None for c in group.get("ChannelDefinitionSequence") or [])


def _rhythm_rank(group: Dataset) -> tuple[bool, float]:
    """Original recordings before derived ones (the median beat), then the longest."""
    original = str(group.get("WaveformOriginality", "")).upper() == "ORIGINAL"
    try:
        duration = float(group.NumberOfWaveformSamples) / float(group.SamplingFrequency)
    except (AttributeError, TypeError, ValueError, ZeroDivisionError):
        duration = 0.0
    return original, duration


def _decode(group: Dataset, little_endian: bool, fs: float) -> list[Channel]:
    n_channels = int(group.NumberOfWaveformChannels)
    n_samples = int(group.NumberOfWaveformSamples)
    definitions = list(group.ChannelDefinitionSequence)
    if n_channels < 1 or n_samples < 1 or len(definitions) != n_channels:
        raise UnreadableECG(CORRUPT_FILE, f"{len(definitions)} channel definitions for {n_channels} channels")
    check_length(n_samples, fs)
    check_values(n_samples * n_channels)
    kind = (int(group.WaveformBitsAllocated), str(group.WaveformSampleInterpretation))
    if kind not in _SAMPLE_TYPES:
        raise UnreadableECG(UNSUPPORTED_FORMAT, f"waveform sample type {kind} is not supported")
    dtype = np.dtype(_SAMPLE_TYPES[kind]).newbyteorder("<" if little_endian else ">")
    raw_bytes = bytes(group.WaveformData)
    needed = n_samples * n_channels * dtype.itemsize
    if len(raw_bytes) < needed:
        raise UnreadableECG(CORRUPT_FILE, f"waveform data holds {len(raw_bytes)} bytes, {needed} expected")
    # Samples are interleaved: channel 1..n of sample 1, then of sample 2, ...
    raw = np.frombuffer(raw_bytes[:needed], dtype=dtype).reshape(n_samples, n_channels)
    padding = group.get("WaveformPaddingValue")
    pad_value = _padding_value(padding, dtype) if padding is not None else None

    channels = []
    for column, definition in enumerate(definitions):
        values = raw[:, column].astype(np.float64)
        if pad_value is not None:
            values[raw[:, column] == pad_value] = np.nan  # padding marks samples not recorded
        sensitivity = float(definition.get("ChannelSensitivity", 1.0) or 1.0)
        correction = float(definition.get("ChannelSensitivityCorrectionFactor", 1.0) or 1.0)
        baseline = float(definition.get("ChannelBaseline", 0.0) or 0.0)
        units = (definition.get("ChannelSensitivityUnitsSequence") or [None])[0]
        unit = "unknown"
        if units is not None:
            unit = unit_name(str(units.get("CodeValue", "")))
            if unit == "unknown":
                unit = unit_name(str(units.get("CodeMeaning", "")))
        channels.append(
            Channel(label=_label(definition), values=values * sensitivity * correction + baseline, unit=unit)
        )
    return channels


def _padding_value(padding: Any, dtype: np.dtype) -> int | None:
    """WaveformPaddingValue arrives as raw bytes (OB/OW) or a number; read it in the sample type."""
    if isinstance(padding, bytes | bytearray):
        if len(padding) < dtype.itemsize:
            return None
        return int(np.frombuffer(bytes(padding[: dtype.itemsize]), dtype=dtype)[0])
    try:
        return int(padding)
    except (TypeError, ValueError):
        return None


def _metadata(dataset: Dataset, group: Dataset, index: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "sop_class": str(dataset.get("SOPClassUID", "")),
        "waveform_group": index,
        "waveform_group_label": str(group.get("MultiplexGroupLabel", "")),
    }
    age = str(dataset.get("PatientAge", "") or "")
    if len(age) == 4 and age[:3].isdigit():
        years = age_years(float(age[:3]), age[3])
        if years is not None:
            metadata["age"] = years
    sex = sex_code(str(dataset.get("PatientSex", "") or ""))
    if sex is not None:
        metadata["sex"] = sex
    for key, keyword in (("manufacturer", "Manufacturer"), ("model", "ManufacturerModelName")):
        value = str(dataset.get(keyword, "") or "").strip()
        if value:
            metadata[key] = value
    return metadata
