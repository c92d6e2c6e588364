"""Fuzzing the ECG readers (a bounded run; bench/fuzz_parsers.py runs longer): structured hostile
files of every format and mutations of the real fixtures are read or refused with UnreadableECG,
never another exception, each within a time cap and a memory cap. Below them, the regression
tests of what fuzzing and the size probes found: files that claimed little and made the reader
allocate gigabytes."""

import io

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecg_ml.errors import UnreadableECG
from ecg_ml.io import read_record
from tests.ecg_ml import fuzz_inputs
from tests.ecg_ml.fuzz_inputs import read_checked, within_limits, zip_of, zipped_zeros
from tests.ecg_ml.test_io import aecg_document, aecg_time, ecg_dicom, ptbxl_adc

# Deterministic examples: `make test` fails only for a change in the code, never by luck.
BOUNDED = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def read_or_refuse(data: bytes, filename: str | None = None) -> None:
    read_checked(data, filename)


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom and wfdb warn about the garbage


@BOUNDED
@given(fuzz_inputs.wfdb_records())
def test_fuzz_wfdb_zipped_header_and_signal(data: bytes) -> None:
    read_or_refuse(data, "record.zip")


@BOUNDED
@given(fuzz_inputs.dicom_waveforms())
def test_fuzz_dicom_waveforms(data: bytes) -> None:
    read_or_refuse(data, "ecg.dcm")


@BOUNDED
@given(fuzz_inputs.aecg_documents())
def test_fuzz_hl7_aecg_xml(data: bytes) -> None:
    read_or_refuse(data, "ecg.xml")


@BOUNDED
@given(fuzz_inputs.csv_tables())
def test_fuzz_csv_tables(data: bytes) -> None:
    read_or_refuse(data, "ecg.csv")


@BOUNDED
@given(fuzz_inputs.mutated_fixtures())
def test_fuzz_mutated_real_files(data: bytes) -> None:
    read_or_refuse(data)


@BOUNDED
@given(st.binary(max_size=2048), st.sampled_from([b"", b"PK\x03\x04", bytes(128) + b"DICM", b"<", b"I,II\n"]))
def test_fuzz_random_bytes_behind_each_magic(rest: bytes, prefix: bytes) -> None:
    read_or_refuse(prefix + rest)


# ---------------------------------------------------------------- what the fuzzing found

MIB = 2**20


def refused_within(data: bytes, code: str, memory_cap_bytes: int) -> None:
    with within_limits(memory_cap_bytes=memory_cap_bytes), pytest.raises(UnreadableECG) as refused:
        read_record(data, "upload.zip")
    assert refused.value.code == code, refused.value


def test_a_wfdb_header_claiming_millions_of_signals_is_refused_before_wfdb_parses_it() -> None:
    """wfdb sized its lists by the signal count: this 60-byte zip took 560 MB."""
    refused_within(zip_of({"r.hea": b"r 30000000 500\n"}), "corrupt_file", 4 * MIB)
    refused_within(zip_of({"r.hea": b"r/99999999 1 500\n"}), "unsupported_format", 4 * MIB)
    padded = zip_of({"r.hea": b"r 2 500\n" + b"# padding\n" * 200_000})
    refused_within(padded, "unsafe_archive", 16 * MIB)


def test_a_zipped_wfdb_record_of_many_channels_is_refused_before_it_is_unpacked() -> None:
    """60 signals of 1.6 M samples each passed the per-lead length check: a 93 KB upload took
    1.1 GB before the reader found no standard lead in it."""
    signals = "".join(f"r.dat 80 200/mV 8 0 0 0 0 X{i}\n" for i in range(60))
    refused_within(zipped_zeros(f"r 60 500 1600000\n{signals}", 60 * 1_600_000), "too_long", 8 * MIB)


def test_wfdb_samples_per_frame_and_skew_count_against_the_limit() -> None:
    """90 samples per frame (614 MB from 88 KB), a skew of 10^8 samples (400 MB from 4 KB)."""
    frames = "r 1 500 1000000\nr.dat 80x90 200/mV 8 0 0 0 0 I\n"
    refused_within(zipped_zeros(frames, 90 * 1_000_000), "too_long", 8 * MIB)
    unsized = "r 1 500\nr.dat 8x50 200/mV 8 0 0 0 0 I\n"  # no length: the file's size decides
    refused_within(zipped_zeros(unsized, 50_000_000), "too_long", 120 * MIB)
    skewed = "r 2 500 10\nr.dat 16:100000000 200 16 0 0 0 0 I\nr.dat 16 200 16 0 0 0 0 II\n"
    refused_within(zipped_zeros(skewed, 4000), "too_long", 4 * MIB)


def test_an_aecg_lead_of_millions_of_digits_is_refused_before_they_become_strings() -> None:
    """45 million digits in one lead took 1 GB (a Python string per digit) before the length
    check; the digits are now split at most as many times as one lead may hold."""
    digits = "12 " * 3_000_000
    lead = (
        '<component><sequence><code code="MDC_ECG_LEAD_I"/><value xsi:type="SLIST_PQ">'
        f'<origin value="0" unit="uV"/><scale value="1" unit="uV"/><digits>{digits}</digits>'
        "</value></sequence></component>"
    )
    document = aecg_document([aecg_time() + lead])
    refused_within(zip_of({"ecg.xml": document}), "too_long", 160 * MIB)


def test_a_wide_csv_is_parsed_a_chunk_at_a_time() -> None:
    """2,000 columns of which one is a lead: every cell became a Python string (1.3 GB for 76 MB
    of text); now only the used columns are parsed, a chunk of lines at a time."""
    header = "I," + ",".join(f"x{i}" for i in range(999)) + "\n"
    row = ",".join(["1"] * 1000) + "\n"
    data = zip_of({"wide.csv": ("# fs=500\n" + header + row * 5000).encode()})
    with within_limits(memory_cap_bytes=64 * MIB):
        record = read_record(data, "wide.zip")
    assert record.signal.shape == (5000, 12)
    assert np.all(record.signal[:, 0] == 1)


def test_dicom_channels_times_samples_count_against_the_limit() -> None:
    """60 channels of 400,000 8-bit samples: 24 MB of waveform data became 190 MB of floats per
    copy; the channels times the samples are now bounded before decoding."""
    adc, fs = ptbxl_adc("00001_lr")
    dataset = pydicom.dcmread(io.BytesIO(ecg_dicom(adc, fs)))
    group = dataset.WaveformSequence[1]
    definition = group.ChannelDefinitionSequence[0]
    group.ChannelDefinitionSequence = pydicom.Sequence([definition] * 60)
    group.NumberOfWaveformChannels = 60
    group.NumberOfWaveformSamples = 400_000
    group.WaveformBitsAllocated = 8
    group.WaveformSampleInterpretation = "SB"
    group.WaveformData = bytes(60 * 400_000)
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    with within_limits(memory_cap_bytes=120 * MIB), pytest.raises(UnreadableECG) as refused:
        read_record(buffer.getvalue())
    assert refused.value.code == "too_long"
