"""Hypothesis strategies for hostile ECG files, shared by the bounded fuzz tests
(tests/ecg_ml/test_io_fuzz.py, tests/services/studies/test_intake_fuzz.py) and the long run
(bench/fuzz_parsers.py).

Each strategy writes one format the way a careless or hostile writer would: structurally close
enough to get past the format sniffing (so the parser itself is exercised, not only the "unknown
format" refusal), with the fields that size allocations, name files or pick code paths drawn from
the edge cases. `mutated_fixtures` flips, cuts and splices the real files of tests/data."""

import io
import logging
import signal
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pydicom
from hypothesis import assume
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ecg_ml.errors import UnreadableECG
from ecg_ml.io import read_record

DATA = Path(__file__).resolve().parents[1] / "data"
logging.getLogger("pydicom").setLevel(logging.ERROR)  # it warns of every garbled value we write
LEAD_LABELS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]

# Labels as files write them, and ones that must not be taken for leads.
labels = st.one_of(
    st.sampled_from(LEAD_LABELS),
    st.sampled_from(["-aVR", "Lead II", "MDC_ECG_LEAD_V1", "II_uV", "II (mV)", "C3", "DII", "V3R"]),
    st.text(max_size=12),
)
# Numbers as text, including the ones parsers choke on.
number_texts = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "-", "1e999", "-0", "0x10", "1,5", " 7 ", "NaN", "inf", "1_000", "٣"]),
)


def zip_of(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def zipped_zeros(header: str, dat_bytes: int) -> bytes:
    """A WFDB record whose .dat is `dat_bytes` of zeros, zipped a megabyte at a time (a few KB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("r.hea", header)
        with archive.open("r.dat", "w") as dat:
            for start in range(0, dat_bytes, 2**20):
                dat.write(bytes(min(2**20, dat_bytes - start)))
    return buffer.getvalue()


def size_bombs() -> dict[str, bytes]:
    """Small uploads that claim (or unpack to) the most a reader will take: what the fuzzing
    and the size probes found, for bench/fuzz_parsers.py --bombs to measure peak memory on."""
    channels = "".join(f"r.dat 80 200/mV 8 0 0 0 0 X{i}\n" for i in range(60))
    aecg_lead = (
        '<component><sequence><code code="MDC_ECG_LEAD_I"/><value xsi:type="SLIST_PQ">'
        '<origin value="0" unit="uV"/><scale value="1" unit="uV"/><digits>' + "12 " * 20_000_000 + "</digits>"
        "</value></sequence></component>"
    )
    aecg = (
        '<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<component><series><code code="RHYTHM"/><component><sequenceSet><component><sequence>'
        '<code code="TIME_RELATIVE"/><value xsi:type="GLIST_PQ"><head value="0" unit="s"/>'
        '<increment value="0.002" unit="s"/></value></sequence></component>'
        f"{aecg_lead}</sequenceSet></component></series></component></AnnotatedECG>"
    )
    wide = "I," + ",".join(f"x{i}" for i in range(1999)) + "\n" + (",".join(["1"] * 2000) + "\n") * 9_000
    longest = "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6\n" + "1,1,1,1,1,1,1,1,1,1,1,1\n" * 1_600_000
    return {
        "wfdb: header claiming 30 million signals (60 B zip)": zip_of({"r.hea": b"r 30000000 500\n"}),
        "wfdb: 60 signals x 1.6 M samples of zeros (zip)": zipped_zeros(
            f"r 60 500 1600000\n{channels}", 60 * 1_600_000
        ),
        "wfdb: 90 samples per frame x 1 M (zip)": zipped_zeros(
            "r 1 500 1000000\nr.dat 80x90 200/mV 8 0 0 0 0 I\n", 90 * 1_000_000
        ),
        "wfdb: skew of 10^8 samples (zip)": zipped_zeros(
            "r 2 500 10\nr.dat 16:100000000 200 16 0 0 0 0 I\nr.dat 16 200 16 0 0 0 0 II\n", 4000
        ),
        "aecg: one lead of 20 M digits (zip)": zip_of({"ecg.xml": aecg.encode()}),
        "csv: 2,000 columns x 9,000 lines (zip)": zip_of({"wide.csv": ("# fs=500\n" + wide).encode()}),
        "csv: 12 leads x 1.6 M lines, the longest accepted (zip)": zip_of(
            {"long.csv": ("# fs=500\n" + longest).encode()}
        ),
    }


# ---------------------------------------------------------------- WFDB


WFDB_FORMATS = ["8", "16", "24", "32", "61", "80", "160", "212", "310", "311", "508", "516", "0", "999", "x"]
WFDB_FILE_NAMES = ["r.dat", "r.dat", "r.dat", "s.dat", "../r.dat", "/etc/hostname", "sub/r.dat", "r.hea", ""]


@st.composite
def wfdb_signal_line(draw: st.DrawFn) -> str:
    """One signal line; half of them well formed, so the reading itself is reached."""
    if draw(st.booleans()):
        fmt = draw(st.sampled_from(["16", "212", "8", "80", "24", "32"]))
        gain = draw(st.sampled_from(["200/mV", "1000/mV", "1/uV", "200(0)/mV"]))
        return f"r.dat {fmt} {gain} 16 0 0 0 0 {draw(st.sampled_from(LEAD_LABELS))}"
    file_name = draw(st.sampled_from(WFDB_FILE_NAMES))
    fmt = draw(st.sampled_from(WFDB_FORMATS))
    if draw(st.booleans()):
        fmt += "x" + draw(st.sampled_from(["1", "2", "0", "1000", "99999999"]))
    if draw(st.integers(0, 4)) == 0:
        fmt += ":" + draw(st.sampled_from(["1", "-5", "100000"]))
    if draw(st.integers(0, 4)) == 0:
        fmt += "+" + draw(st.sampled_from(["0", "7", "100000000", "-3"]))
    gain = draw(st.sampled_from(["200", "1000", "0", "-1", "1e300", "nan", "inf", "2.5"]))
    if draw(st.booleans()):
        gain += "(" + draw(st.sampled_from(["0", "-32768", "99999999999"])) + ")"
    if draw(st.booleans()):
        gain += "/" + draw(st.sampled_from(["mV", "uV", "V", "µV", "mmHg", ""]))
    rest = draw(st.lists(st.sampled_from(["16", "0", "-5", "0", "12345", "0"]), max_size=5))
    return " ".join([file_name, fmt, gain, *rest, draw(labels).replace("\n", " ")]).strip()


@st.composite
def wfdb_records(draw: st.DrawFn) -> bytes:
    """A zipped .hea with a short .dat: the header's claims (signals, rate, length, formats,
    files, offsets) drawn freely, the signal file no longer than a few KB."""
    n_signals = draw(st.integers(0, 14))
    count = str(n_signals) if draw(st.integers(0, 9)) else draw(st.sampled_from(["-1", "x", "9" * 12]))
    first = ["r", count]
    if draw(st.integers(0, 5)):
        rates = ["500", "100", "0", "-5", "1e9", "nan", "inf", "500/2", "250(0)", "49"]
        first.append(draw(st.one_of(st.sampled_from(["500", "250"]), st.sampled_from(rates))))
        if draw(st.integers(0, 3)):
            lengths = ["0", "10", "100", "500", "5000", "1000000", str(2**31), str(2**63), "-1"]
            first.append(draw(st.one_of(st.sampled_from(["10", "100"]), st.sampled_from(lengths))))
    lines = [" ".join(first)]
    lines += [draw(wfdb_signal_line()) for _ in range(draw(st.integers(0, n_signals + 1)))]
    lines += draw(st.lists(st.sampled_from(["# Age: 56", "# Sex: F", "#<age>: 999", "# Age: x"]), max_size=3))
    header = "\n".join(lines) + "\n"
    files = {"r.hea": header.encode("utf-8", "surrogatepass")}
    if draw(st.integers(0, 5)):
        files["r.dat"] = draw(st.binary(min_size=draw(st.sampled_from([0, 400, 4000])), max_size=4096))
    if draw(st.integers(0, 5)) == 0:
        files["s.dat"] = draw(st.binary(max_size=512))
    if draw(st.sampled_from(range(16))) == 5:
        files["other.hea"] = b"o 1 500 10\no.dat 16 200 16 0 0 0 0 I\n"
    return zip_of(files, draw(st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])))


# ---------------------------------------------------------------- DICOM


SAMPLE_KINDS = [
    (8, "SB"),
    (8, "UB"),
    (16, "SS"),
    (16, "US"),
    (32, "SL"),
    (32, "UL"),
    (64, "SV"),
    (12, "SS"),
    (16, "MB"),
]


@st.composite
def dicom_waveforms(draw: st.DrawFn) -> bytes:
    """A waveform object built with pydicom: channel and sample counts, sample type, rate,
    sensitivities, padding and transfer syntax drawn; waveform data of any length."""
    groups = []
    for _ in range(draw(st.integers(0, 3))):
        group = Dataset()
        n_channels = draw(st.integers(0, 14))
        group.NumberOfWaveformChannels = draw(st.one_of(st.just(n_channels), st.integers(0, 2**16 - 1)))
        group.NumberOfWaveformSamples = draw(st.sampled_from([0, 1, 10, 500, 5000, 2**31, 2**32 - 1]))
        group.SamplingFrequency = draw(st.sampled_from(["500", "0", "-1", "1e12", "NaN", "49.9", "10000"]))
        bits, interpretation = draw(st.sampled_from(SAMPLE_KINDS))
        group.WaveformBitsAllocated = bits
        group.WaveformSampleInterpretation = interpretation
        group.WaveformOriginality = draw(st.sampled_from(["ORIGINAL", "DERIVED", ""]))
        definitions = []
        for _ in range(draw(st.integers(0, n_channels + 1))):
            definition = Dataset()
            source = Dataset()
            source.CodeValue = draw(
                st.sampled_from(["2:1", "2:61", "5.6.3-9-64", "2:x", "", "2:999999999999"])
            )
            source.CodeMeaning = draw(labels)
            definition.ChannelSourceSequence = Sequence([source])
            definition.ChannelSensitivity = draw(st.sampled_from(["1", "0", "-2.5", "1e308", "NaN", "inf"]))
            definition.ChannelBaseline = draw(st.sampled_from(["0", "100", "-1e308"]))
            definition.ChannelSensitivityCorrectionFactor = draw(st.sampled_from(["1", "0", "2"]))
            if draw(st.booleans()):
                units = Dataset()
                units.CodeValue = draw(st.sampled_from(["uV", "mV", "V", "mm[Hg]", ""]))
                definition.ChannelSensitivityUnitsSequence = Sequence([units])
            definitions.append(definition)
        group.ChannelDefinitionSequence = Sequence(definitions)
        group.add_new(0x54001010, "OB", draw(st.binary(max_size=4096)))
        if draw(st.booleans()):
            group.add_new(0x5400100A, "OB", draw(st.binary(max_size=8)))
        groups.append(group)
    syntax = draw(st.sampled_from([ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.9.1.1"
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = syntax
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.PatientAge = draw(st.sampled_from(["056Y", "999D", "abcY", "", "012M"]))
    dataset.WaveformSequence = Sequence(groups)
    buffer = io.BytesIO()
    try:
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    except (ValueError, TypeError, OverflowError, OSError, struct.error):
        assume(False)  # a value pydicom itself will not write: no input to test
    return buffer.getvalue()


# ---------------------------------------------------------------- HL7 aECG


@st.composite
def aecg_time_sequence(draw: st.DrawFn) -> str:
    relative = draw(st.booleans())
    kind, code = ("GLIST_PQ", "TIME_RELATIVE") if relative else ("GLIST_TS", "TIME_ABSOLUTE")
    head = draw(
        st.sampled_from(
            ["20240101120000", "20240101120000.5", "0", "1e308", "-1e308", "nan", "inf", "99999999", "2024"]
        )
    )
    head_unit = draw(st.sampled_from(['unit="s"', 'unit="ms"', 'unit="h"', ""]))
    increment = draw(st.sampled_from(["0.002", "2", "0", "-0.002", "1e-300", "nan", "inf", "x", "0.0001"]))
    increment_unit = draw(st.sampled_from(["s", "ms", "us", "min"]))
    return (
        f'<component><sequence><code code="{code}"/><value xsi:type="{kind}">'
        f'<head value="{head}" {head_unit}/><increment value="{increment}" unit="{increment_unit}"/>'
        "</value></sequence></component>"
    )


@st.composite
def aecg_lead_sequence(draw: st.DrawFn) -> str:
    code = draw(
        st.sampled_from([f"MDC_ECG_LEAD_{lead.upper()}" for lead in LEAD_LABELS] + ["MDC_ECG_LEAD_X", ""])
    )
    value_type = draw(st.sampled_from(["SLIST_PQ", "SLIST_PQ", "SLIST_INT", "v3:SLIST_PQ"]))
    unit = draw(st.sampled_from(["uV", "mV", "V", "mmHg", ""]))
    origin_unit = draw(st.sampled_from([unit, "uV", "mV", "V"]))
    digits = " ".join(draw(st.lists(number_texts, max_size=300)))
    return (
        f'<component><sequence><code code="{code}"/><value xsi:type="{value_type}">'
        f'<origin value="{draw(number_texts)}" unit="{origin_unit}"/>'
        f'<scale value="{draw(number_texts)}" unit="{unit}"/><digits>{digits}</digits>'
        "</value></sequence></component>"
    )


@st.composite
def aecg_documents(draw: st.DrawFn) -> bytes:
    sets = []
    for _ in range(draw(st.integers(0, 4))):
        parts = [draw(aecg_time_sequence()) for _ in range(draw(st.integers(0, 2)))]
        parts += [draw(aecg_lead_sequence()) for _ in range(draw(st.integers(0, 4)))]
        sets.append(
            "<component><sequenceSet>" + "".join(draw(st.permutations(parts))) + "</sequenceSet></component>"
        )
    prolog = draw(
        st.sampled_from(
            [
                '<?xml version="1.0" encoding="UTF-8"?>',
                "",
                "<!-- c --><?pi x?>",
                '<?xml version="1.0"?><!DOCTYPE AnnotatedECG [<!ENTITY a "aaaa">]>',
                '<?xml version="1.0" encoding="UTF-16"?>',
            ]
        )
    )
    series_code = draw(st.sampled_from(["RHYTHM", "REPRESENTATIVE_BEAT", ""]))
    text = (
        f'{prolog}<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<component><series><code code="{series_code}"/>{"".join(sets)}</series></component></AnnotatedECG>'
    )
    return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- CSV


@st.composite
def csv_tables(draw: st.DrawFn) -> bytes:
    separator = draw(st.sampled_from([",", ";", "\t"]))
    names = draw(
        st.lists(
            st.one_of(
                labels,
                st.sampled_from(["time", "time_ms", "t", "II_uV", "V1 (mV)", "I [uV]", '"II"']),
            ),
            min_size=1,
            max_size=14,
        )
    )
    comments = draw(
        st.lists(
            st.sampled_from(["# fs=500", "# fs=0", "# fs=1,5e3", "# fs=.", "# units=uV", "# units=V", "# x"]),
            max_size=3,
        )
    )
    width = len(names)
    rows = draw(
        st.lists(
            st.lists(number_texts, min_size=max(width - 1, 0), max_size=width + 1),
            max_size=60,
        )
    )
    lines = [*comments, separator.join(n.replace("\n", " ") for n in names)]
    lines += [separator.join(row) for row in rows]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    return "\n".join(lines).encode(encoding, "replace")


# ---------------------------------------------------------------- images


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@st.composite
def png_headers(draw: st.DrawFn) -> bytes:
    """A PNG whose IHDR claims any size, with a few random chunks after it."""
    width = draw(st.one_of(st.integers(0, 5000), st.sampled_from([2**31 - 1, 2**32 - 1, 100_000])))
    height = draw(st.one_of(st.integers(0, 5000), st.sampled_from([2**31 - 1, 2**32 - 1, 100_000])))
    bit_depth = draw(st.sampled_from([1, 8, 16, 3]))
    colour = draw(st.sampled_from([0, 2, 3, 4, 6, 7]))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, draw(st.sampled_from([0, 1])))
    chunks = [png_chunk(b"IHDR", ihdr)]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from([b"IDAT", b"PLTE", b"tEXt", b"zTXt", b"iCCP", b"IEND", b"acTL"]))
        chunks.append(png_chunk(kind, draw(st.binary(max_size=256))))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


@st.composite
def jpeg_headers(draw: st.DrawFn) -> bytes:
    """A JPEG start with a frame header (SOF0/SOF2) of any size, then random bytes."""
    height = draw(st.sampled_from([0, 1, 299, 300, 4000, 65535]))
    width = draw(st.sampled_from([0, 1, 299, 300, 4000, 65535]))
    components = draw(st.sampled_from([1, 3, 4, 0, 255]))
    marker = draw(st.sampled_from([b"\xff\xc0", b"\xff\xc2", b"\xff\xc3"]))
    frame = struct.pack(">BHHB", 8, height, width, components) + bytes(3 * min(components, 4))
    segment = marker + struct.pack(">H", len(frame) + 2) + frame
    return b"\xff\xd8" + segment + draw(st.binary(max_size=512))


def heif_prefix(brand: bytes) -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x00\x00" + b"mif1heic"


image_bytes = st.one_of(
    png_headers(),
    jpeg_headers(),
    st.builds(
        lambda brand, rest: heif_prefix(brand) + rest,
        st.sampled_from([b"heic", b"mif1"]),
        st.binary(max_size=512),
    ),
    st.builds(
        lambda prefix, rest: prefix + rest,
        st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"]),
        st.binary(max_size=512),
    ),
)


# ---------------------------------------------------------------- mutations of real files


def fixture_files() -> dict[str, bytes]:
    """Small real files of every format (the PTB-XL record zipped, as the app sends it)."""
    record = DATA / "ptbxl" / "00001_lr"
    return {
        "wfdb_zip": zip_of({f"00001_lr{s}": record.with_suffix(s).read_bytes() for s in (".hea", ".dat")}),
        "dicom": (DATA / "dicom" / "ptbxl_00001_lr_ecg2dcm.dcm").read_bytes(),
        "aecg": (DATA / "aecg" / "hl7_aecg_example_1s.xml").read_bytes(),
        "wfdb_header": record.with_suffix(".hea").read_bytes(),
    }


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """Bytes flipped, a piece cut out, a piece repeated, or the file truncated."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "set", "cut", "repeat", "truncate"]))
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        if operation == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif operation == "set":
            data[position] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x30, 0x39]))
        elif operation == "cut":
            del data[position : position + draw(st.integers(1, 64))]
        elif operation == "repeat":
            piece = data[position : position + draw(st.integers(1, 64))]
            data[position:position] = piece * draw(st.integers(1, 8))
        else:
            del data[position:]
    return bytes(data)


def mutated_fixtures() -> st.SearchStrategy[bytes]:
    return st.sampled_from(sorted(fixture_files().items())).flatmap(lambda item: mutated(item[1]))


def any_ecg_file() -> st.SearchStrategy[bytes]:
    return st.one_of(wfdb_records(), dicom_waveforms(), aecg_documents(), csv_tables(), mutated_fixtures())


# ---------------------------------------------------------------- the limits every read keeps


TIME_CAP_S = 5.0  # per input; the inputs here are a few KB, a read takes milliseconds
MEMORY_CAP_BYTES = 64 * 1024 * 1024  # traced peak per input of at most a few hundred KB


class LimitBroken(AssertionError):
    pass


@dataclass
class Usage:
    seconds: float = 0.0
    peak_bytes: int = 0


@contextmanager
def within_limits(
    time_cap_s: float = TIME_CAP_S, memory_cap_bytes: int = MEMORY_CAP_BYTES
) -> Iterator[Usage]:
    """Fail when the block runs longer than the time cap (SIGALRM interrupts Python code; a
    C loop that never returns would still hang, which is why the long run watches from another
    process) or allocates more than the memory cap (tracemalloc sees NumPy's buffers too)."""

    def expire(_signum: int, _frame: object) -> None:
        raise LimitBroken(f"a read took more than {time_cap_s} s")

    usage = Usage()
    previous = signal.signal(signal.SIGALRM, expire)
    already_tracing = tracemalloc.is_tracing()
    if not already_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, time_cap_s)
    try:
        yield usage
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        usage.seconds = time.perf_counter() - started
        usage.peak_bytes = tracemalloc.get_traced_memory()[1] - baseline
        if not already_tracing:
            tracemalloc.stop()
    if usage.peak_bytes > memory_cap_bytes:
        raise LimitBroken(f"a read allocated {usage.peak_bytes / 2**20:.0f} MiB")


def read_checked(data: bytes, filename: str | None = None, usage: Usage | None = None) -> str:
    """Read `data` within the limits: 'read', or the refusal code. Anything else raises: another
    exception, a broken limit, or a refusal that hides a MemoryError (read_record's catch-all
    would otherwise turn an allocation of gigabytes into a polite 'corrupt_file')."""
    with within_limits() as measured:
        try:
            read_record(data, filename)
            outcome = "read"
        except UnreadableECG as refused:
            if isinstance(refused.__cause__, MemoryError):
                raise LimitBroken("a refusal hid a MemoryError") from refused
            outcome = refused.code
    if usage is not None:
        usage.seconds, usage.peak_bytes = measured.seconds, measured.peak_bytes
    return outcome
