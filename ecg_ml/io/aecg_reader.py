"""HL7 annotated ECG (aECG, urn:hl7-org:v3 <AnnotatedECG>), the XML the FDA accepts.

The waveform lives in component/series (code RHYTHM) → component/sequenceSet → component/sequence.
Each sequenceSet holds one time sequence (TIME_ABSOLUTE as GLIST_TS or TIME_RELATIVE as GLIST_PQ,
whose `increment` is the sampling interval) and one sequence per lead (code MDC_ECG_LEAD_*, value
SLIST_PQ: value = origin + scale x digit, in the unit of `scale`). Derived series (the
representative beat, under `derivation/derivedSeries`) are not read.

Carts that record three leads at a time write one sequenceSet per group, each with its own start
time; those sets are laid on one time axis and the leads are NaN where they were not recorded.

XML with a document type declaration is refused: aECG needs none, and entity declarations are how
XML bombs and external-entity reads get in."""

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import numpy as np

from ecg_ml.errors import UnreadableECG
from ecg_ml.io.common import (
    CORRUPT_FILE,
    INCONSISTENT_LEADS,
    INVALID_SAMPLING_RATE,
    MAX_VALUES,
    NO_STANDARD_LEADS,
    TOO_LONG,
    UNSUPPORTED_FORMAT,
    Channel,
    Found,
    age_years,
    check_length,
    check_sampling_rate,
    check_values,
    sex_code,
    unit_name,
)

NS = "{urn:hl7-org:v3}"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_ROOT_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s/>]")
_DOCTYPE_NAME = re.compile(rb"<!DOCTYPE\s+(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)", re.IGNORECASE)
_PROLOG_ITEM = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->)", re.DOTALL)
_TIMESTAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?(\.\d+)?")
_REPORTED_AGE_LOINC = "21612-7"
WARNING_SEQUENCE_SETS_STAGGERED = "sequence_sets_staggered"
MAX_LEAD_SAMPLES = MAX_VALUES // 12  # check_length's limit for one lead


def root_element(data: bytes) -> str | None:
    """The local name of an XML document's root element, or None when the bytes are not XML."""
    rest = _after_prolog(data[:65536])
    # A DOCTYPE names the root element; without one, the first tag is the root.
    match = _DOCTYPE_NAME.match(rest) if rest[:9].upper() == b"<!DOCTYPE" else _ROOT_TAG.match(rest)
    return match.group(1).decode("ascii", "replace") if match else None


def _after_prolog(data: bytes) -> bytes:
    """The bytes after the XML declaration, comments and processing instructions at the start."""
    position = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while match := _PROLOG_ITEM.match(data, position):
        position = match.end()
    return data[position:].lstrip()


def read(data: bytes) -> Found:
    # Entities can only be declared in a DOCTYPE, and a DOCTYPE only in the prolog: refusing one
    # there leaves expat nothing to expand or fetch, which is why the stdlib parser is safe here.
    if _after_prolog(data)[:9].upper() == b"<!DOCTYPE":
        raise UnreadableECG(UNSUPPORTED_FORMAT, "XML with a document type declaration is not accepted")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DOCTYPE refused above
    except (ET.ParseError, ValueError) as exc:
        raise UnreadableECG(CORRUPT_FILE, f"XML unreadable: {type(exc).__name__}") from exc
    if root.tag != f"{NS}AnnotatedECG":
        raise UnreadableECG(UNSUPPORTED_FORMAT, f"XML root {root.tag!r} is not an HL7 AnnotatedECG")

    series_list = list(root.iter(f"{NS}series"))
    rhythm = [s for s in series_list if _code(s) == "RHYTHM"] or series_list
    if not rhythm:
        raise UnreadableECG(NO_STANDARD_LEADS, "aECG without a waveform series")
    series = rhythm[0]
    sets = [
        sequence_set
        for component in series.findall(f"{NS}component")
        for sequence_set in component.findall(f"{NS}sequenceSet")
    ]
    if not sets:
        raise UnreadableECG(NO_STANDARD_LEADS, "aECG series without a sequenceSet")

    budget = _ValueBudget()
    parsed = [_read_sequence_set(sequence_set, budget) for sequence_set in sets]
    parsed = [p for p in parsed if p["leads"]]
    if not parsed:
        raise UnreadableECG(NO_STANDARD_LEADS, "aECG without lead sequences")
    fs = parsed[0]["fs"]
    if any(abs(p["fs"] - fs) > 1e-6 * fs for p in parsed):
        raise UnreadableECG(INCONSISTENT_LEADS, "sequence sets differ in sampling rate")
    check_sampling_rate(fs)

    warnings: list[str] = []
    starts = [p["start"] for p in parsed]
    offsets = [0] * len(parsed)
    if len(parsed) > 1 and all(s is not None for s in starts) and len(set(starts)) > 1:
        first = min(s for s in starts if s is not None)
        offsets = [round((s - first) * fs) for s in starts if s is not None]
        warnings.append(WARNING_SEQUENCE_SETS_STAGGERED)
    total = max(offset + p["length"] for offset, p in zip(offsets, parsed, strict=True))
    check_length(total, fs)
    # Staggered sets are laid on one axis: every lead becomes `total` long.
    check_values(total * sum(len(p["leads"]) for p in parsed))

    channels: list[Channel] = []
    for offset, p in zip(offsets, parsed, strict=True):
        for label, values, unit in p["leads"]:
            if offset == 0 and p["length"] == total:
                placed = values
            else:
                placed = np.full(total, np.nan)
                placed[offset : offset + values.shape[0]] = values
            channels.append(Channel(label=label, values=placed, unit=unit))
    return Found(format="hl7_aecg", fs=fs, channels=channels, metadata=_metadata(root), warnings=warnings)


def _code(element: ET.Element) -> str:
    code = element.find(f"{NS}code")
    return code.get("code", "") if code is not None else ""


class _ValueBudget:
    """The numbers left to read in the whole document (MAX_VALUES): the digits of a lead are split
    at most that many times, and no more than one lead may hold (check_length's limit), so a lead
    of 50 million digits is refused before it becomes 50 million Python strings (3 GB)."""

    def __init__(self) -> None:
        self.left = MAX_VALUES

    def split(self, text: str, code: str) -> list[str]:
        limit = min(self.left, MAX_LEAD_SAMPLES)
        parts = text.split(maxsplit=limit)
        if len(parts) > limit:
            raise UnreadableECG(TOO_LONG, f"sequence {code} holds more values than this reader accepts")
        self.left -= len(parts)
        return parts


def _read_sequence_set(sequence_set: ET.Element, budget: _ValueBudget) -> dict[str, Any]:
    fs: float | None = None
    start: float | None = None
    leads: list[tuple[str, np.ndarray, str]] = []
    lengths: dict[str, int] = {}
    for component in sequence_set.findall(f"{NS}component"):
        sequence = component.find(f"{NS}sequence")
        if sequence is None:
            continue
        code = _code(sequence)
        value = sequence.find(f"{NS}value")
        if value is None:
            continue
        if code.startswith("TIME_"):
            fs, start = _timing(value)
            continue
        kind = value.get(_XSI_TYPE, "").split(":")[-1]
        if kind != "SLIST_PQ":
            continue  # SLIST_INT and friends carry no physical scale
        values, unit = _physical_values(value, code, budget)
        leads.append((code, values, unit))
        lengths[code] = values.shape[0]
    if leads and fs is None:
        raise UnreadableECG(INVALID_SAMPLING_RATE, "aECG sequence set without a sampling interval")
    if len(set(lengths.values())) > 1:
        raise UnreadableECG(INCONSISTENT_LEADS, f"leads differ in sample count: {lengths}")
    return {"fs": fs or 0.0, "start": start, "leads": leads, "length": next(iter(lengths.values()), 0)}


def _timing(value: ET.Element) -> tuple[float, float | None]:
    """(sampling rate, start in seconds or None) from a GLIST_TS / GLIST_PQ time sequence."""
    increment = value.find(f"{NS}increment")
    if increment is None:
        raise UnreadableECG(INVALID_SAMPLING_RATE, "time sequence without an increment")
    try:
        step = float(increment.get("value", ""))
    except ValueError as exc:
        raise UnreadableECG(INVALID_SAMPLING_RATE, "time increment is not a number") from exc
    step *= {"s": 1.0, "ms": 1e-3, "us": 1e-6}.get(increment.get("unit", "s"), 1.0)
    if not step > 0:
        raise UnreadableECG(INVALID_SAMPLING_RATE, f"time increment {step!r} s")
    head = value.find(f"{NS}head")
    start = _seconds(head) if head is not None else None
    return 1.0 / step, start


def _seconds(head: ET.Element) -> float | None:
    """A head value → seconds: HL7 timestamps (YYYYMMDDhhmmss.fff) or a quantity with a unit."""
    text = head.get("value", "")
    unit = head.get("unit")
    if unit in ("s", "ms"):
        try:
            return float(text) * (1e-3 if unit == "ms" else 1.0)
        except ValueError:
            return None
    match = _TIMESTAMP.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    # Only differences between heads matter; a fixed epoch keeps them free of the local time zone.
    return (moment - datetime(1970, 1, 1)).total_seconds() + float(fraction or 0.0)


def _physical_values(value: ET.Element, code: str, budget: _ValueBudget) -> tuple[np.ndarray, str]:
    scale_element = value.find(f"{NS}scale")
    origin_element = value.find(f"{NS}origin")
    digits = value.find(f"{NS}digits")
    if scale_element is None or digits is None or digits.text is None:
        raise UnreadableECG(CORRUPT_FILE, f"sequence {code} lacks its scale or digits")
    try:
        scale = float(scale_element.get("value", ""))
        origin = float(origin_element.get("value", "0")) if origin_element is not None else 0.0
        numbers = np.array(budget.split(digits.text, code), dtype=np.float64)
    except ValueError as exc:
        raise UnreadableECG(CORRUPT_FILE, f"sequence {code} holds something other than numbers") from exc
    unit = unit_name(scale_element.get("unit"))
    origin_unit = unit_name(origin_element.get("unit")) if origin_element is not None else unit
    if origin and origin_unit != unit and "unknown" not in (unit, origin_unit):
        to_mv = {"mV": 1.0, "uV": 1e-3, "V": 1e3}
        origin = origin * to_mv[origin_unit] / to_mv[unit]
    return origin + scale * numbers, unit


def _metadata(root: ET.Element) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    gender = root.find(f".//{NS}subjectDemographicPerson/{NS}administrativeGenderCode")
    if gender is not None and (sex := sex_code(gender.get("code"))):
        metadata["sex"] = sex
    for observation in root.iter(f"{NS}relatedObservation"):
        if _code(observation) != _REPORTED_AGE_LOINC:
            continue
        value = observation.find(f"{NS}value")
        try:
            age = (
                age_years(float(value.get("value", "")), value.get("unit", "a"))
                if value is not None
                else None
            )
        except ValueError:
            age = None
        if age is not None:
            metadata["age"] = age
            break
    manufacturer = root.find(f".//{NS}manufacturerOrganization/{NS}name")
    if manufacturer is not None and manufacturer.text and manufacturer.text.strip():
        metadata["manufacturer"] = manufacturer.text.strip()
    model = root.find(f".//{NS}manufacturedSeriesDevice/{NS}manufacturerModelName")
    if model is not None and model.text and model.text.strip():
        metadata["model"] = model.text.strip()
    return metadata
