"""WFDB (PhysioNet) records: a `.hea` header with its `.dat` signal file(s) on disk, or one record
packed in a zip archive (possibly in a subfolder), as uploads arrive.

Parsing and the digital-to-physical conversion are the `wfdb` package's (`rdrecord`, the same as
`rdsamp`), so PTB-XL reads exactly as PhysioNet's own tools read it. Before `wfdb` touches the
signal files we check what the header claims (sampling rate, length, file names and sizes): a
hostile header must not make it allocate gigabytes or read files outside the record's folder."""

import io
import math
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import wfdb

from ecg_ml.errors import UnreadableECG
from ecg_ml.io.common import (
    CORRUPT_FILE,
    TOO_LONG,
    UNSAFE_ARCHIVE,
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

MAX_ARCHIVE_BYTES = 100 * 1024 * 1024
MAX_ARCHIVE_MEMBERS = 1_000
# wfdb sizes its lists by the header's signal count before reading a line of them: "r 30000000
# 500" alone took 560 MB. A 12-lead record has 12 to 16 signals; PhysioNet's largest have ~250.
MAX_SIGNALS = 256
MAX_HEADER_BYTES = 1024 * 1024  # PTB-XL's headers are 1 KB

# Bytes per sample of the WFDB storage formats (the compressed FLAC formats 5xx have no fixed size).
_BYTES_PER_SAMPLE = {
    "8": 1.0,
    "16": 2.0,
    "24": 3.0,
    "32": 4.0,
    "61": 2.0,
    "80": 1.0,
    "160": 2.0,
    "212": 1.5,
    "310": 4 / 3,
    "311": 4 / 3,
}

# First line of a header: record name (maybe '/segments'), number of signals, then optional
# sampling frequency. Enough to tell a WFDB header from other text.
_HEADER_FIRST_LINE = re.compile(rb"^[^\s#/]+(/\d+)?\s+\d+(\s+[\d.eE+-]+(/[\d.eE+-]+)?(\([^)]*\))?)?(\s|$)")
_AGE = re.compile(r"^<?age>?\s*:\s*([\d.]+)", re.IGNORECASE)
_SEX = re.compile(r"^<?sex>?\s*:\s*(\w+)", re.IGNORECASE)


def looks_like_header(data: bytes) -> bool:
    """True when the bytes read as a WFDB header (first non-comment line 'name nsig [fs ...]')."""
    for line in data[:4096].splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(b"#"):
            return bool(_HEADER_FIRST_LINE.match(stripped))
    return False


def is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def record_path(path: Path) -> Path | None:
    """The record a path names (its .hea, its .dat, or the name without extension), or None."""
    candidate = path.with_suffix("") if path.suffix.lower() in (".hea", ".dat") else path
    return candidate if candidate.with_name(candidate.name + ".hea").is_file() else None


def check_header_text(data: bytes) -> None:
    """Refuse what wfdb would size its work by before it parses: a header of megabytes, a signal
    count beyond MAX_SIGNALS, a multi-segment record (its segment count is trusted the same way)."""
    if len(data) > MAX_HEADER_BYTES:
        raise UnreadableECG(CORRUPT_FILE, f"a WFDB header of {len(data)} bytes")
    for line in data.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith(b"#"):
            continue
        if b"/" in fields[0]:
            raise UnreadableECG(UNSUPPORTED_FORMAT, "multi-segment WFDB records are not supported")
        if len(fields) > 1 and fields[1].isdigit() and int(fields[1]) > MAX_SIGNALS:
            raise UnreadableECG(CORRUPT_FILE, f"a WFDB header listing {int(fields[1])} signals")
        return


def _read_header(record: Path) -> Any:
    header_path = record.with_name(record.name + ".hea")
    if header_path.stat().st_size > MAX_HEADER_BYTES:
        raise UnreadableECG(CORRUPT_FILE, f"a WFDB header of {header_path.stat().st_size} bytes")
    check_header_text(header_path.read_bytes())
    try:
        header = wfdb.rdheader(str(record))
    except Exception as exc:  # wfdb raises many types on malformed headers
        raise UnreadableECG(CORRUPT_FILE, f"WFDB header unreadable: {type(exc).__name__}") from exc
    if isinstance(header, wfdb.MultiRecord) or getattr(header, "seg_name", None):
        raise UnreadableECG(UNSUPPORTED_FORMAT, "multi-segment WFDB records are not supported")
    if header.sig_len:
        # Before the signal files are even unpacked: what wfdb would read for the claimed length.
        check_values(_values_per_sample(header) * (int(header.sig_len) + _max_skew(header)))
    return header


def _values_per_sample(header: Any) -> int:
    """Values wfdb reads per sample time: every signal's samples per frame."""
    n_signals = int(header.n_sig or 0)
    frames = header.samps_per_frame or [1] * n_signals
    return sum(max(int(per_frame or 1), 1) for per_frame in frames[:n_signals])


def _max_skew(header: Any) -> int:
    """wfdb reads `skew` samples past the length for a skewed signal."""
    return max([int(skew or 0) for skew in (header.skew or [])] + [0])


def read_path(record: Path, *, archive: bool = False) -> Found:
    """Read the record whose header is `record` + '.hea'."""
    fault = UNSAFE_ARCHIVE if archive else CORRUPT_FILE
    header = _read_header(record)
    _check_header(header, record.parent, fault)
    try:
        signals = wfdb.rdrecord(str(record))
    except Exception as exc:
        raise UnreadableECG(CORRUPT_FILE, f"WFDB signal unreadable: {type(exc).__name__}") from exc
    p_signal = signals.p_signal
    if p_signal is None or p_signal.ndim != 2 or p_signal.shape[1] != len(signals.sig_name or []):
        raise UnreadableECG(CORRUPT_FILE, "WFDB record without a signal matrix")
    if header.sig_len and p_signal.shape[0] != header.sig_len:
        raise UnreadableECG(CORRUPT_FILE, f"{p_signal.shape[0]} samples read, header says {header.sig_len}")
    channels = [
        Channel(label=str(name), values=p_signal[:, column], unit=unit_name(unit))
        for column, (name, unit) in enumerate(zip(signals.sig_name, signals.units or [], strict=False))
    ]
    return Found(
        format="wfdb",
        fs=float(signals.fs),
        channels=channels,
        metadata={"record_name": str(signals.record_name), **_demographics(signals.comments or [])},
    )


def read_zip(data: bytes, read_other: Callable[[bytes, str], Found]) -> Found:
    """One record inside a zip: its .hea and .dat(s) are unpacked to a private temporary folder
    and read from there. A zip holding one file of another format is read as that file."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir() and not _is_junk(m.filename)]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UnreadableECG(CORRUPT_FILE, f"zip archive unreadable: {type(exc).__name__}") from exc
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise UnreadableECG(UNSAFE_ARCHIVE, f"{len(members)} files in the archive")
    for member in members:
        if not _is_safe_name(member.filename):
            raise UnreadableECG(UNSAFE_ARCHIVE, f"unsafe path in archive: {member.filename!r}")
    if sum(m.file_size for m in members) > MAX_ARCHIVE_BYTES:
        raise UnreadableECG(UNSAFE_ARCHIVE, "archive expands beyond 100 MB")

    headers = [m for m in members if m.filename.lower().endswith(".hea")]
    if len(headers) > 1:
        raise UnreadableECG(UNSAFE_ARCHIVE, f"{len(headers)} WFDB records in one archive")
    if not headers:
        if len(members) != 1:
            raise UnreadableECG(
                UNSAFE_ARCHIVE if members else UNSUPPORTED_FORMAT,
                f"archive holds {len(members)} files and no WFDB header",
            )
        inner = _read_member(archive, members[0], MAX_ARCHIVE_BYTES)
        if is_zip(inner):
            raise UnreadableECG(UNSAFE_ARCHIVE, "archive inside an archive")
        return read_other(inner, PurePosixPath(members[0].filename).name)

    header = headers[0]
    folder = PurePosixPath(header.filename).parent
    header_bytes = _read_member(archive, header, MAX_HEADER_BYTES)
    check_header_text(header_bytes)
    by_name = {m.filename: m for m in members}
    with tempfile.TemporaryDirectory(prefix="ecg_wfdb_") as tmp:
        record = Path(tmp) / PurePosixPath(header.filename).stem
        record.with_name(record.name + ".hea").write_bytes(header_bytes)
        budget = MAX_ARCHIVE_BYTES - len(header_bytes)
        for file_name in sorted(set(_signal_file_names(record))):
            if not _is_plain_name(file_name):
                raise UnreadableECG(UNSAFE_ARCHIVE, f"header names a file outside its folder: {file_name!r}")
            member = by_name.get(str(folder / file_name) if str(folder) != "." else file_name)
            if member is None:
                raise UnreadableECG(CORRUPT_FILE, f"archive lacks the signal file {file_name!r}")
            content = _read_member(archive, member, budget)
            budget -= len(content)
            (Path(tmp) / file_name).write_bytes(content)
        return read_path(record, archive=True)


def _signal_file_names(record: Path) -> list[str]:
    header = _read_header(record)
    return [str(name) for name in (getattr(header, "file_name", None) or [])]


def _check_header(header: Any, folder: Path, fault: str) -> None:
    """Refuse what the header claims before wfdb reads (and allocates for) the signal files."""
    fs = float(header.fs) if header.fs is not None else math.nan
    check_sampling_rate(fs)
    n_signals = int(header.n_sig or 0)
    if n_signals < 1:
        raise UnreadableECG(CORRUPT_FILE, "WFDB header lists no signal")
    if header.sig_len:
        check_length(int(header.sig_len) + _max_skew(header), fs)
    frames = header.samps_per_frame or [1] * n_signals
    offsets = header.byte_offset or [None] * n_signals
    frame_bytes: dict[str, float] = {}  # bytes one frame takes in each file; None-free formats only
    start_bytes: dict[str, int] = {}
    for file_name, fmt, per_frame, offset in zip(header.file_name, header.fmt, frames, offsets, strict=False):
        name = str(file_name)
        if not _is_plain_name(name):
            raise UnreadableECG(fault, f"header names a file outside its folder: {name!r}")
        path = folder / name
        if not path.is_file():
            raise UnreadableECG(CORRUPT_FILE, f"signal file {name!r} is missing")
        if path.stat().st_size > MAX_ARCHIVE_BYTES * 2:
            raise UnreadableECG(TOO_LONG, f"signal file {name!r} is larger than accepted")
        if str(fmt) in _BYTES_PER_SAMPLE:
            frame_bytes[name] = frame_bytes.get(name, 0.0) + (per_frame or 1) * _BYTES_PER_SAMPLE[str(fmt)]
            start_bytes.setdefault(name, int(offset or 0))
    values = 0
    for name, per_frame_bytes in frame_bytes.items():
        available = (folder / name).stat().st_size - start_bytes[name]
        if header.sig_len and available < math.floor(header.sig_len * per_frame_bytes):
            raise UnreadableECG(CORRUPT_FILE, f"signal file {name!r} is truncated")
        if not header.sig_len:
            # No length in the header: wfdb takes all the file holds, so that is what we bound.
            check_length(int(max(available, 0) / per_frame_bytes), fs)
            values += int(max(available, 0) / per_frame_bytes) * _values_per_sample(header)
    check_values(values)


def _demographics(comments: list[str]) -> dict[str, Any]:
    """Age and sex from header comments ('# Age: 56', '# Sex: Male', LUDB's '<age>: 51')."""
    found: dict[str, Any] = {}
    for comment in comments:
        text = comment.strip().lstrip("#").strip()
        if (match := _AGE.match(text)) and "age" not in found:
            age = age_years(float(match.group(1)))
            if age is not None:
                found["age"] = age
        elif (match := _SEX.match(text)) and "sex" not in found:
            sex = sex_code(match.group(1))
            if sex is not None:
                found["sex"] = sex
    return found


def _is_junk(name: str) -> bool:
    """Entries that archivers add and nobody means to upload (macOS resource forks, Finder files)."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts:
        return False
    return any(p == "__MACOSX" for p in parts) or parts[-1].startswith("._") or parts[-1] == ".DS_Store"


def _is_safe_name(name: str) -> bool:
    """No absolute paths, drive letters, backslash tricks or '..' components."""
    if not name or "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return False
    return ".." not in PurePosixPath(name).parts


def _is_plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: int) -> bytes:
    """Read one member, stopping once it outgrows `budget`: the sizes in a zip may lie."""
    chunks: list[bytes] = []
    total = 0
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(1 << 20):
                total += len(chunk)
                if total > budget:
                    raise UnreadableECG(UNSAFE_ARCHIVE, f"{member.filename!r} expands beyond {budget} bytes")
                chunks.append(chunk)
    except UnreadableECG:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        ValueError,
        EOFError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method.
        raise UnreadableECG(CORRUPT_FILE, f"archive member unreadable: {type(exc).__name__}") from exc
    return b"".join(chunks)
