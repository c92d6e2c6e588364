"""Reading ECG files into `ECGRecord`s: twelve standard leads in mV, whatever the file's format.

`read_record(path_or_bytes, filename=None)` tells the format from the content (magic bytes and
structure); the file name is only a hint, used to find a WFDB record's other file on disk.

Formats:
- WFDB: a `.hea` with its `.dat` on disk (give the .hea, the .dat or the record name), or one
  record zipped (also as bytes; the record may sit in a subfolder of the zip).
- DICOM waveform (12-lead ECG, General ECG, Ambulatory ECG): the rhythm group, not the median beat.
- HL7 aECG XML (<AnnotatedECG xmlns="urn:hl7-org:v3">): the rhythm series.
- CSV with a header naming the leads: the exact format is in `ecg_ml.io.csv_reader`.
A zip holding one file of another format is read as that file.

The record's metadata: "format" ('wfdb', 'dicom', 'hl7_aecg', 'csv'), "source_leads" (every channel
label in file order), "lead_map" (label → standard lead, for those used), "units" (declared unit of
those leads: 'mV', 'uV', 'V', 'unknown' or 'mixed'), "channel_units", "fs_original", "n_samples",
"derived_leads", "missing_leads" (all NaN), "age" (years) and "sex" ('M'/'F') when the file says,
some format details ("record_name", "waveform_group", "manufacturer", "model", ...), and
"warnings", a list of codes:
- "microvolt_scaled_input_converted": amplitudes ~1000x too large for the declared unit (typical
  peak over 50 mV), taken as µV and converted;
- "derived_leads_computed": limb leads computed with the Einthoven / Goldberger relations;
- "unknown_units_assumed_mv", "inverted_lead_corrected" ('-aVR'), "duplicate_lead_ignored",
  "non_standard_channels_ignored", "sequence_sets_staggered" (aECG groups recorded one after another).

Refusals are `UnreadableECG` with `code`: "unsupported_format", "corrupt_file", "no_standard_leads",
"inconsistent_leads", "no_waveform" (a DICOM object without a waveform), "invalid_sampling_rate"
(outside 50-10,000 Hz or not given), "too_long"
(over 24 h or over 20 million values as samples x 12 leads), "unsafe_archive" (several records,
paths leaving the archive, over 100 MB unpacked). Nothing else escapes for any input bytes."""

import os
from pathlib import Path

from ecg_ml.errors import ECGError, UnreadableECG
from ecg_ml.io import aecg_reader, csv_reader, dicom_reader, wfdb_reader
from ecg_ml.io.common import CORRUPT_FILE, MAX_INPUT_BYTES, TOO_LONG, UNSUPPORTED_FORMAT, Found, assemble
from ecg_ml.record import ECGRecord

__all__ = ["read_record"]


def read_record(path_or_bytes: str | os.PathLike[str] | bytes, filename: str | None = None) -> ECGRecord:
    """Read one ECG from a file path or from the bytes of an upload (`filename`: its name, a hint).

    Raises UnreadableECG (with a stable `code`) for anything that is not a readable ECG, and
    FileNotFoundError when a path names nothing."""
    try:
        if isinstance(path_or_bytes, bytes | bytearray | memoryview):
            found = _read_bytes(bytes(path_or_bytes), filename)
        else:
            found = _read_path(Path(os.fspath(path_or_bytes)), filename)
        return assemble(found)
    except (ECGError, FileNotFoundError):
        raise
    except Exception as exc:  # the promise: hostile bytes never escape as a raw exception
        raise UnreadableECG(CORRUPT_FILE, f"unreadable ({type(exc).__name__})") from exc


def _read_path(path: Path, filename: str | None) -> Found:
    if path.is_dir():
        raise UnreadableECG(UNSUPPORTED_FORMAT, "a folder is not an ECG file")
    if not path.is_file():
        record = wfdb_reader.record_path(path)
        if record is None:
            raise FileNotFoundError(str(path))
        return wfdb_reader.read_path(record)
    record = wfdb_reader.record_path(path)
    # A .hea is read with the .dat beside it when its content is a WFDB header; a .dat is binary
    # that says nothing of itself, so its header decides.
    if record is not None and path.suffix.lower() in (".hea", ".dat"):
        with record.with_name(record.name + ".hea").open("rb") as header:
            if wfdb_reader.looks_like_header(header.read(4096)):
                return wfdb_reader.read_path(record)
    if path.stat().st_size > MAX_INPUT_BYTES:
        raise UnreadableECG(TOO_LONG, f"{path.stat().st_size} bytes is larger than accepted")
    return _read_bytes(path.read_bytes(), filename or path.name)


def _read_bytes(data: bytes, filename: str | None) -> Found:
    if not data:
        raise UnreadableECG(CORRUPT_FILE, "the file is empty")
    if len(data) > MAX_INPUT_BYTES:
        raise UnreadableECG(TOO_LONG, f"{len(data)} bytes is larger than accepted")
    if wfdb_reader.is_zip(data):
        return wfdb_reader.read_zip(data, _read_inner)
    if dicom_reader.looks_like_dicom(data):
        return dicom_reader.read(data)
    root = aecg_reader.root_element(data) if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<" else None
    if root == "AnnotatedECG":
        return aecg_reader.read(data)
    if root is not None:
        raise UnreadableECG(UNSUPPORTED_FORMAT, f"XML <{root}> is not an HL7 annotated ECG")
    if wfdb_reader.looks_like_header(data):
        raise UnreadableECG(
            UNSUPPORTED_FORMAT, "a WFDB header alone: send the .hea and .dat together in a zip archive"
        )
    text = csv_reader.decode_text(data)
    if text is not None and csv_reader.looks_like_table(text):
        return csv_reader.read(data)
    hint = f" ({filename})" if filename else ""
    raise UnreadableECG(UNSUPPORTED_FORMAT, f"not an ECG format this reader knows{hint}")


def _read_inner(data: bytes, filename: str) -> Found:
    """The one file inside a zip, read by its content like an upload."""
    return _read_bytes(data, filename)
