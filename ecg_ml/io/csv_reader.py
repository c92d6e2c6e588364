"""ECG as a CSV text file. The accepted format, exactly:

    # fs=500
    # units=uV
    time,I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6
    0.000,-115,-50,65,82,-90,7,-65,-40,-5,-35,-35,-75
    0.002,-115,-50,65,82,-90,7,-65,-40,-5,-35,-35,-75

- Text, UTF-8 (with or without BOM) or Windows-1252. At most 200 MB.
- Lines starting with '#' are comments and may carry settings, one per line:
  - `# fs=500` (also `# fs: 500`, `# sampling_rate=500`, `# fs=500 Hz`): samples per second;
  - `# units=uV` (or `mV`, `V`): the unit of every lead column without a unit of its own.
    Without it, leads are in millivolts.
- The first other line is the header: one name per column. Separator: comma, semicolon or tab
  (whichever the header uses). With a semicolon, a decimal comma (0,125) is accepted too.
- Lead columns are named I, II, III, aVR, aVL, aVF, V1 ... V6, case-insensitive; also accepted:
  'Lead II', 'LEAD_II', 'DII', 'MDC_ECG_LEAD_II', 'C1'...'C6' for V1...V6. A unit may follow the
  name: 'II_mV', 'II_uV', 'II (uV)', 'II [mV]'. Columns with other names are ignored.
- An optional time column, in seconds ('time', 't', 'time_s', 'time (s)', 'seconds') or in
  milliseconds ('time_ms', 'time (ms)', 'ms'), gives the sampling rate when no `# fs=` line does;
  its steps must be regular (within 1 %).
- One line per sample, as many values as header names. An empty cell is a missing sample.
- At least one of the twelve leads. III, aVR, aVL and aVF missing from a file that has I and II
  are computed from them.
- Sampling rate between 50 and 10,000 Hz; at most 24 h and 1.67 million samples per lead.
"""

import csv
import re

import numpy as np

from ecg_ml.errors import UnreadableECG
from ecg_ml.io.common import (
    CORRUPT_FILE,
    INCONSISTENT_LEADS,
    INVALID_SAMPLING_RATE,
    MAX_VALUES,
    NO_STANDARD_LEADS,
    TOO_LONG,
    Channel,
    Found,
    check_length,
    lead_name,
    unit_name,
)

_SEPARATORS = (",", ";", "\t")
_FS_SETTING = re.compile(
    r"^#\s*(?:fs|sampling[_ ]?(?:rate|frequency)|sample[_ ]?rate)\s*[=:]\s*([0-9.,]+)\s*(?:hz)?\s*$",
    re.IGNORECASE,
)
_UNITS_SETTING = re.compile(r"^#\s*units?\s*[=:]\s*(\S+)\s*$", re.IGNORECASE)
_UNIT_SUFFIX = re.compile(
    r"^(?P<name>.*?)[\s_]*[(\[]?\s*(?P<unit>mv|uv|µv|μv|millivolts?|microvolts?)\s*[)\]]?$", re.IGNORECASE
)
_TIME_SECONDS = {"time", "t", "times", "time_s", "time(s)", "time[s]", "seconds", "sec"}
_TIME_MILLISECONDS = {"time_ms", "time(ms)", "time[ms]", "ms", "milliseconds"}


def decode_text(data: bytes) -> str | None:
    """The bytes as text when they look like text (no NUL, few control characters), else None."""
    if b"\x00" in data[:65536]:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    sample = text[:65536]
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
    return text if control <= len(sample) // 100 else None


def looks_like_table(text: str) -> bool:
    """The first non-comment line has at least two fields and one of them names a lead or time."""
    header = _header_line(text)
    if header is None:
        return False
    separator = _separator(header)
    fields = [f.strip().strip('"') for f in header.split(separator)]
    if len(fields) < 2 and not _column(fields[0])[0]:
        return False
    return any(_column(f)[0] for f in fields) or _is_numeric_table(text, separator)


def read(data: bytes) -> Found:
    text = decode_text(data)
    if text is None:
        raise UnreadableECG(CORRUPT_FILE, "CSV is not text")
    lines = text.splitlines()
    fs_setting: float | None = None
    default_unit = "mV"
    body_start = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if match := _FS_SETTING.match(stripped):
                fs_setting = _number(match.group(1), "fs setting")
            elif match := _UNITS_SETTING.match(stripped):
                default_unit = unit_name(match.group(1))
            continue
        body_start = number
        break
    if body_start is None:
        raise UnreadableECG(NO_STANDARD_LEADS, "CSV without a header line")

    header_line = lines[body_start]
    separator = _separator(header_line)
    header = next(csv.reader([header_line], delimiter=separator))
    names = [field.strip() for field in header]
    columns = [_column(name) for name in names]
    if not any(kind == "lead" for kind, _, _ in columns):
        raise UnreadableECG(NO_STANDARD_LEADS, f"no lead among the CSV columns ({', '.join(names[:20])})")

    body = [line for line in lines[body_start + 1 :] if line.strip() and not line.lstrip().startswith("#")]
    del lines
    # Refuse by counting lines, before millions of cells become Python strings.
    check_length(len(body), fs_setting or 0.0)
    if len(body) * len(names) > 2 * MAX_VALUES:
        raise UnreadableECG(TOO_LONG, f"{len(body)} lines of {len(names)} columns")
    # Only the columns used become numbers: the first of each lead (later ones are ignored as
    # duplicates) and the time.
    used = _used_columns(columns)
    table = _parse_columns(body, separator, len(names), used)

    time_index = next((i for i, (kind, _, _) in enumerate(columns) if kind == "time"), None)
    fs = _sampling_rate(
        table[:, used.index(time_index)] if time_index is not None else None, columns, fs_setting
    )
    channels = []
    for index, (name, (kind, lead_part, unit)) in enumerate(zip(names, columns, strict=True)):
        if kind != "lead":
            continue
        # A duplicate lead's values are never read (assemble keeps the first): a view of nothing.
        values = table[:, used.index(index)] if index in used else np.broadcast_to(np.nan, len(body))
        channels.append(Channel(label=name, values=values, unit=unit or default_unit, lead_label=lead_part))
    return Found(format="csv", fs=fs, channels=channels)


def _used_columns(columns: list[tuple[str | None, str | None, str | None]]) -> list[int]:
    used: list[int] = []
    leads_seen: set[str | None] = set()
    for index, (kind, lead_part, _) in enumerate(columns):
        if kind == "time" and not any(columns[i][0] == "time" for i in used):
            used.append(index)
        elif kind == "lead":
            lead = lead_name(lead_part or "")[0]
            if lead not in leads_seen:
                leads_seen.add(lead)
                used.append(index)
    return used


CHUNK_CELLS = 500_000  # cells turned into Python strings at a time (~30 MB)


def _parse_columns(body: list[str], separator: str, width: int, used: list[int]) -> np.ndarray:
    """The `used` columns of the data lines as float64, parsed a chunk of lines at a time so the
    strings of the cells never outgrow the chunk; every line must have `width` cells."""
    table = np.empty((len(body), len(used)), dtype=np.float64)
    chunk_lines = max(1, CHUNK_CELLS // max(width, 1))
    for start in range(0, len(body), chunk_lines):
        rows = list(csv.reader(body[start : start + chunk_lines], delimiter=separator))
        ragged = next((i for i, row in enumerate(rows) if len(row) != width), None)
        if ragged is not None:
            raise UnreadableECG(
                INCONSISTENT_LEADS,
                f"data row {start + ragged + 1} has {len(rows[ragged])} values, header {width}",
            )
        cells = [row[index].strip() or "nan" for row in rows for index in used]
        if separator == ";":
            cells = [cell.replace(",", ".") for cell in cells]
        try:
            table[start : start + len(rows)] = np.array(cells, dtype=np.float64).reshape(len(rows), len(used))
        except ValueError as exc:
            raise UnreadableECG(CORRUPT_FILE, "CSV holds a value that is not a number") from exc
    return table


def _header_line(text: str) -> str | None:
    for line in text[:65536].splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped
    return None


def _separator(header: str) -> str:
    return max(_SEPARATORS, key=header.count)


def _column(name: str) -> tuple[str | None, str | None, str | None]:
    """A header name → ('lead', the part naming the lead, unit or None) / ('time', 's' or 'ms',
    None) / (None, None, None)."""
    key = name.strip().strip('"').lower().replace(" ", "")
    if key in _TIME_SECONDS:
        return "time", "s", None
    if key in _TIME_MILLISECONDS:
        return "time", "ms", None
    # The unit first: 'II (uV)' would otherwise pass as lead II with its unit dropped.
    if (match := _UNIT_SUFFIX.match(name.strip())) and lead_name(match.group("name"))[0] is not None:
        return "lead", match.group("name"), unit_name(match.group("unit"))
    if lead_name(name)[0] is not None:
        return "lead", name, None
    return None, None, None


def _is_numeric_table(text: str, separator: str) -> bool:
    """A header of unknown names over numeric rows: a table, just without ECG leads."""
    lines = [line for line in text[:65536].splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) < 2:
        return False
    header, first = lines[0].split(separator), lines[1].split(separator)
    if len(header) < 2 or len(first) != len(header):
        return False
    try:
        [float(cell.replace(",", ".") if separator == ";" else cell) for cell in first if cell.strip()]
    except ValueError:
        return False
    return True


def _number(text: str, what: str) -> float:
    try:
        return float(text.replace(",", "."))
    except ValueError as exc:
        raise UnreadableECG(INVALID_SAMPLING_RATE, f"{what} {text!r} is not a number") from exc


def _sampling_rate(
    times: np.ndarray | None,
    columns: list[tuple[str | None, str | None, str | None]],
    fs_setting: float | None,
) -> float:
    time_index = next((i for i, (kind, _, _) in enumerate(columns) if kind == "time"), None)
    if times is None or time_index is None:
        if fs_setting is None:
            raise UnreadableECG(INVALID_SAMPLING_RATE, "no '# fs=' line and no time column")
        return fs_setting
    seconds = times * (1e-3 if columns[time_index][1] == "ms" else 1.0)
    steps = np.diff(seconds)
    if steps.size == 0 or not np.isfinite(steps).all():
        if fs_setting is not None:
            return fs_setting
        raise UnreadableECG(INVALID_SAMPLING_RATE, "the time column does not give a sampling interval")
    step = float(np.median(steps))
    if not step > 0 or np.abs(steps - step).max() > 0.01 * step:
        raise UnreadableECG(INVALID_SAMPLING_RATE, "the time column is not regularly spaced")
    fs = 1.0 / step
    if fs_setting is not None and abs(fs - fs_setting) > 0.01 * fs_setting:
        raise UnreadableECG(
            INVALID_SAMPLING_RATE, f"time column gives {fs:g} Hz, '# fs=' says {fs_setting:g}"
        )
    return fs_setting if fs_setting is not None else fs
