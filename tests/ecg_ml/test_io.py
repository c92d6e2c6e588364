"""ecg_ml.io.read_record: every format from a path and from bytes, each checked against a reader
we did not write (wfdb.rdsamp, pydicom's waveform_array, ecg2dcm's conversions); lead names and
units; every refusal code; hostile input (random bytes, truncated and mutated files, zip bombs,
lying headers)."""

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
import wfdb
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from ecg_ml.errors import UnreadableECG
from ecg_ml.io import read_record
from ecg_ml.io.common import lead_name
from ecg_ml.record import STANDARD_LEADS, ECGRecord, standard_lead_name

DATA = Path(__file__).resolve().parents[1] / "data"
PTBXL = DATA / "ptbxl"
DICOM = DATA / "dicom"
AECG = DATA / "aecg" / "hl7_aecg_example_1s.xml"
# Present in a developer's checkout (../shared); a fresh clone runs without it.
SHARED_WFDB = Path(__file__).resolve().parents[3] / "shared" / "data" / "ptbxl" / "wfdb_sample"

ECG_12_LEAD_SOP = "1.2.840.10008.5.1.4.1.1.9.1.1"
MDC_LEAD_CODES = {
    "I": "2:1", "II": "2:2", "III": "2:61", "aVR": "2:62", "aVL": "2:63", "aVF": "2:64",
    "V1": "2:3", "V2": "2:4", "V3": "2:5", "V4": "2:6", "V5": "2:7", "V6": "2:8",
}  # fmt: skip


# --------------------------------------------------------------------------- helpers
def rdsamp_mv(record: Path) -> np.ndarray:
    """wfdb's own physical signal, in mV, laid out in STANDARD_LEADS order."""
    signal, fields = wfdb.rdsamp(str(record))
    out = np.full((signal.shape[0], 12), np.nan)
    for column, (name, unit) in enumerate(zip(fields["sig_name"], fields["units"], strict=True)):
        scale = {"mV": 1.0, "uV": 1e-3}[unit]
        out[:, STANDARD_LEADS.index(standard_lead_name(name))] = signal[:, column] * scale
    return out


def ptbxl_adc(record: str = "00001_hr") -> tuple[np.ndarray, float]:
    """Raw ADC values (µV, gain 1000/mV) of a PTB-XL record and its sampling rate."""
    raw = wfdb.rdrecord(str(PTBXL / record), physical=False)
    return raw.d_signal.astype(np.int64), float(raw.fs)


def refused(code: str, source: object, filename: str | None = None) -> UnreadableECG:
    with pytest.raises(UnreadableECG) as info:
        read_record(source, filename)  # type: ignore[arg-type]
    assert info.value.code == code, info.value
    return info.value


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def record_files(record: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (record.with_suffix(".hea"), record.with_suffix(".dat"))}


def write_wfdb(folder: Path, name: str, d_signal: np.ndarray, fs: float, **fields: object) -> Path:
    n_sig = d_signal.shape[1]
    wfdb.wrsamp(
        name,
        fs=fs,
        units=fields.get("units", ["mV"] * n_sig),
        sig_name=fields.get("sig_name", list(STANDARD_LEADS[:n_sig])),
        d_signal=d_signal.astype(np.int16),
        fmt=["16"] * n_sig,
        adc_gain=fields.get("adc_gain", [1000.0] * n_sig),
        baseline=[0] * n_sig,
        comments=fields.get("comments"),
        write_dir=str(folder),
    )
    return folder / name


def waveform_group(
    samples: np.ndarray, labels: list[str], fs: float, *, label: str, originality: str, **channel: object
) -> Dataset:
    group = Dataset()
    group.WaveformOriginality = originality
    group.MultiplexGroupLabel = label
    group.NumberOfWaveformChannels = samples.shape[1]
    group.NumberOfWaveformSamples = samples.shape[0]
    group.SamplingFrequency = fs
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    definitions = []
    for lead in labels:
        source = Dataset()
        source.CodeValue = MDC_LEAD_CODES.get(lead, "2:0")
        source.CodingSchemeDesignator = "MDC"
        source.CodeMeaning = channel.get("meaning", "Lead {}").format(lead)  # type: ignore[union-attr]
        units = Dataset()
        units.CodeValue = channel.get("units", "uV")
        units.CodingSchemeDesignator = "UCUM"
        units.CodeMeaning = "microvolt" if units.CodeValue == "uV" else "millivolt"
        definition = Dataset()
        definition.ChannelSourceSequence = Sequence([source])
        definition.ChannelSensitivity = channel.get("sensitivity", 1)
        definition.ChannelSensitivityCorrectionFactor = channel.get("correction", 1)
        definition.ChannelBaseline = channel.get("baseline", 0)
        definition.ChannelSensitivityUnitsSequence = Sequence([units])
        definition.WaveformBitsStored = 16
        definitions.append(definition)
    group.ChannelDefinitionSequence = Sequence(definitions)
    byte_order = channel.get("byte_order", "<")
    group.add_new(0x54001010, "OW", samples.astype(f"{byte_order}i2").tobytes())
    return group


def ecg_dicom(
    samples: np.ndarray,
    fs: float,
    labels: tuple[str, ...] | list[str] = STANDARD_LEADS,
    syntax: str = ExplicitVRLittleEndian,
    **channel: object,
) -> bytes:
    """A 12-lead ECG object built with pydicom's Dataset API: a median beat first, then the rhythm."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ECG_12_LEAD_SOP
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = ECG_12_LEAD_SOP
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "ECG"
    dataset.PatientAge = "056Y"
    dataset.PatientSex = "F"
    median = waveform_group(samples[:600], labels, fs, label="MEDIAN BEAT", originality="DERIVED", **channel)
    rhythm = waveform_group(samples, labels, fs, label="RHYTHM", originality="ORIGINAL", **channel)
    dataset.WaveformSequence = Sequence([median, rhythm])
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def aecg_sequence(
    code: str, digits: np.ndarray, *, unit: str = "uV", scale: str = "1", origin: str = "0"
) -> str:
    return f"""
          <component><sequence>
            <code code="{code}" codeSystem="2.16.840.1.113883.6.24"/>
            <value xsi:type="SLIST_PQ">
              <origin value="{origin}" unit="{unit}"/><scale value="{scale}" unit="{unit}"/>
              <digits>{" ".join(str(int(d)) for d in digits)}</digits>
            </value>
          </sequence></component>"""


def aecg_time(
    head: str = "20240101120000", increment: str = "0.002", unit: str = "s", relative: bool = False
) -> str:
    kind, code = ("GLIST_PQ", "TIME_RELATIVE") if relative else ("GLIST_TS", "TIME_ABSOLUTE")
    head_unit = f' unit="{unit}"' if relative else ""
    return f"""
          <component><sequence>
            <code code="{code}" codeSystem="2.16.840.1.113883.5.4"/>
            <value xsi:type="{kind}">
              <head value="{head}"{head_unit}/><increment value="{increment}" unit="{unit}"/>
            </value>
          </sequence></component>"""


def aecg_document(sequence_sets: list[str], derived: str = "") -> bytes:
    """An HL7 aECG written here (our own writer): a rhythm series with the given sequence sets."""
    sets = "".join(f"<component><sequenceSet>{s}</sequenceSet></component>" for s in sequence_sets)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <id root="1.2.3"/>
  <componentOf><timepointEvent><componentOf><subjectAssignment><subject><trialSubject>
    <subjectDemographicPerson><administrativeGenderCode code="F"/></subjectDemographicPerson>
  </trialSubject></subject></subjectAssignment></componentOf></timepointEvent></componentOf>
  <component><series>
    <code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>
    {sets}
    {derived}
  </series></component>
</AnnotatedECG>""".encode()


def ptbxl_aecg(record: str = "00001_hr", *, millivolt: bool = False, relative: bool = False) -> bytes:
    adc, _ = ptbxl_adc(record)
    time = aecg_time(increment="2", unit="ms", head="0", relative=True) if relative else aecg_time()
    leads = "".join(
        aecg_sequence(
            f"MDC_ECG_LEAD_{lead.upper()}",
            adc[:, i],
            **({"unit": "mV", "scale": "0.001"} if millivolt else {}),
        )
        for i, lead in enumerate(STANDARD_LEADS)
    )
    beat = "".join(
        aecg_sequence(f"MDC_ECG_LEAD_{lead.upper()}", adc[:300, i]) for i, lead in enumerate(STANDARD_LEADS)
    )
    derived = f"""<derivation><derivedSeries><code code="REPRESENTATIVE_BEAT"/><component><sequenceSet>
        {aecg_time(head="0", increment="2", unit="ms", relative=True)}{beat}</sequenceSet></component>
        </derivedSeries></derivation>"""
    return aecg_document([time + leads], derived)


def csv_text(
    signal_mv: np.ndarray, fs: float, header: list[str], *, sep: str = ",", time: bool = True
) -> str:
    lines = [sep.join((["time"] if time else []) + header)]
    for row_index, row in enumerate(signal_mv):
        cells = ([f"{row_index / fs:.6f}"] if time else []) + [f"{v:.3f}" for v in row]
        lines.append(sep.join(cells))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- WFDB
@pytest.mark.parametrize("header", sorted(PTBXL.glob("*.hea")), ids=lambda p: p.stem)
def test_wfdb_equals_rdsamp_exactly(header: Path) -> None:
    record = read_record(header)
    expected = rdsamp_mv(header.with_suffix(""))
    assert isinstance(record, ECGRecord)
    assert record.signal.dtype == np.float32
    assert np.array_equal(record.signal, expected.astype(np.float32))
    assert record.fs == float(wfdb.rdheader(str(header.with_suffix(""))).fs)
    assert record.metadata["format"] == "wfdb"
    assert record.metadata["units"] == "mV"
    assert record.metadata["source_leads"] == ["I", "II", "III", "AVR", "AVL", "AVF"] + [
        f"V{n}" for n in range(1, 7)
    ]
    assert record.metadata["fs_original"] == record.fs
    assert record.metadata["warnings"] == []
    assert record.leads == STANDARD_LEADS


def test_wfdb_record_named_by_hea_dat_or_bare_name() -> None:
    stem = PTBXL / "00017_hr"
    expected = read_record(stem.with_suffix(".hea")).signal
    for form in (stem.with_suffix(".dat"), stem, str(stem), str(stem.with_suffix(".hea"))):
        assert np.array_equal(read_record(form).signal, expected)


@pytest.mark.skipif(
    not SHARED_WFDB.is_dir(), reason="../shared/data/ptbxl/wfdb_sample is not in this checkout"
)
def test_wfdb_shared_ptbxl_sample_equals_rdsamp() -> None:
    headers = sorted(SHARED_WFDB.rglob("*.hea"))
    assert len(headers) == 60
    for header in headers:
        expected = rdsamp_mv(header.with_suffix("")).astype(np.float32)
        assert np.array_equal(read_record(header).signal, expected), header


def test_wfdb_zip_from_bytes_and_path(tmp_path: Path) -> None:
    record = PTBXL / "00102_hr"
    files = {f"upload/ecg/{name}": content for name, content in record_files(record).items()}
    files["__MACOSX/upload/ecg/._00102_hr.hea"] = b"resource fork junk"
    archive = zip_of(files)
    expected = rdsamp_mv(record).astype(np.float32)
    from_bytes = read_record(archive, "ecg.zip")
    assert np.array_equal(from_bytes.signal, expected)
    assert from_bytes.metadata["format"] == "wfdb"
    (tmp_path / "ecg.zip").write_bytes(archive)
    assert np.array_equal(read_record(tmp_path / "ecg.zip").signal, expected)
    flat = zip_of(record_files(record))
    assert np.array_equal(read_record(flat).signal, expected)


@pytest.mark.parametrize(("unit", "gain"), [("uV", 1.0), ("V", 1e6), ("mV", 1000.0)])
def test_wfdb_physical_units_become_millivolts(tmp_path: Path, unit: str, gain: float) -> None:
    adc, fs = ptbxl_adc()
    record = write_wfdb(tmp_path, "units", adc, fs, units=[unit] * 12, adc_gain=[gain] * 12)
    result = read_record(record.with_suffix(".hea"))
    np.testing.assert_allclose(result.signal, adc / 1000, rtol=1e-6, atol=1e-7)
    assert result.metadata["units"] == unit
    assert result.metadata["warnings"] == []


def test_wfdb_header_in_mv_with_microvolt_amplitudes_is_converted(tmp_path: Path) -> None:
    adc, fs = ptbxl_adc()
    # Gain 1 per "mV": the stored µV counts pass for millivolts, a thousand times too large.
    record = write_wfdb(tmp_path, "scaled", adc, fs, adc_gain=[1.0] * 12)
    result = read_record(record)
    assert np.array_equal(result.signal, (adc / 1000).astype(np.float32))
    assert result.metadata["warnings"] == ["microvolt_scaled_input_converted"]
    assert result.metadata["units"] == "mV"


def test_wfdb_eight_leads_get_limb_leads_derived(tmp_path: Path) -> None:
    adc, fs = ptbxl_adc()
    keep = [0, 1, 6, 7, 8, 9, 10, 11]  # I, II, V1-V6: what many carts store
    record = write_wfdb(tmp_path, "eight", adc[:, keep], fs, sig_name=[STANDARD_LEADS[i] for i in keep])
    result = read_record(record)
    recorded = adc / 1000
    lead_i, lead_ii = recorded[:, 0], recorded[:, 1]
    expected = {
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2,
        "aVF": lead_ii - lead_i / 2,
    }
    for lead, values in expected.items():
        column = STANDARD_LEADS.index(lead)
        np.testing.assert_allclose(result.signal[:, column], values, atol=1e-6)
        # PTB-XL recorded these leads too: the relations hold on them within one ADC step or so.
        assert np.abs(result.signal[:, column] - recorded[:, column]).max() < 0.002
    assert result.metadata["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    assert result.metadata["warnings"] == ["derived_leads_computed"]
    assert result.metadata["missing_leads"] == []


def test_wfdb_without_lead_ii_keeps_missing_leads_nan(tmp_path: Path) -> None:
    adc, fs = ptbxl_adc()
    keep = [0, 6, 7]  # I, V1, V2: no second limb lead, nothing to derive
    record = write_wfdb(tmp_path, "three", adc[:, keep], fs, sig_name=["I", "V1", "V2"])
    result = read_record(record)
    assert result.metadata["missing_leads"] == ["II", "III", "aVR", "aVL", "aVF", "V3", "V4", "V5", "V6"]
    assert np.isnan(result.signal[:, 1]).all()
    assert not np.isnan(result.signal[:, 0]).any()


def test_wfdb_age_and_sex_from_header_comments(tmp_path: Path) -> None:
    adc, fs = ptbxl_adc()
    record = write_wfdb(tmp_path, "demo", adc, fs, comments=["Age: 56", "Sex: Female", "Dx: 426783006"])
    metadata = read_record(record).metadata
    assert metadata["age"] == 56.0
    assert metadata["sex"] == "F"


def test_wfdb_refusals(tmp_path: Path) -> None:
    adc, _ = ptbxl_adc("00001_lr")
    fast = write_wfdb(tmp_path, "fast", adc, 20_000.0)
    refused("invalid_sampling_rate", fast)
    slow = write_wfdb(tmp_path, "slow", adc, 20.0)
    refused("invalid_sampling_rate", slow)
    others = write_wfdb(tmp_path, "others", adc[:, :2], 100.0, sig_name=["ABP", "PLETH"])
    refused("no_standard_leads", others)
    # A header claiming 28 h at 50 Hz over a 24 kB signal file: refused before anything is read.
    huge = tmp_path / "huge"
    (tmp_path / "huge.dat").write_bytes((tmp_path / "fast.dat").read_bytes())
    (tmp_path / "huge.hea").write_text(
        "huge 12 50 5000000\n" + "".join(f"huge.dat 16 1000/mV 16 0 0 0 0 {n}\n" for n in STANDARD_LEADS)
    )
    refused("too_long", huge)
    # No length in the header: the signal file's size is what is bounded (here 100,000 s at 50 Hz).
    (tmp_path / "nolen.hea").write_text("nolen 1 50\nnolen.dat 16 1000/mV 16 0 0 0 0 I\n")
    (tmp_path / "nolen.dat").write_bytes(bytes(2 * 5_000_000))
    refused("too_long", tmp_path / "nolen")
    truncated = tmp_path / "cut"
    (tmp_path / "cut.hea").write_text(
        (tmp_path / "fast.hea").read_text().replace("fast", "cut").replace(" 20000 ", " 100 ")
    )
    (tmp_path / "cut.dat").write_bytes((tmp_path / "fast.dat").read_bytes()[:5000])
    refused("corrupt_file", truncated)
    outside = tmp_path / "outside"
    (tmp_path / "outside.hea").write_text("outside 1 100 1000\n../fast.dat 16 1000/mV 16 0 0 0 0 I\n")
    refused("corrupt_file", outside)
    garbage = tmp_path / "garbage.hea"
    garbage.write_text("garbage 12 500 5000\nthis is not a signal line\n")
    refused("corrupt_file", garbage)


def test_wfdb_header_alone_is_refused_with_advice() -> None:
    error = refused("unsupported_format", (PTBXL / "00001_hr.hea").read_bytes(), "00001_hr.hea")
    assert "zip" in error.detail


# --------------------------------------------------------------------------- archives
def test_archive_refusals() -> None:
    one = record_files(PTBXL / "00001_lr")
    two = record_files(PTBXL / "00001_hr")
    refused("unsafe_archive", zip_of({**one, **two}))
    refused("unsafe_archive", zip_of({f"../{k}": v for k, v in one.items()}))
    refused("unsafe_archive", zip_of({f"/home/ecg/{k}": v for k, v in one.items()}))
    refused("unsafe_archive", zip_of({"a.csv": b"I,II\n1,2\n", "b.csv": b"I,II\n1,2\n"}))
    refused("unsafe_archive", zip_of({"inner.zip": zip_of(one)}))
    # A header pointing its signal file out of its folder: wfdb's header grammar refuses the name.
    header = one["00001_lr.hea"].replace(b"00001_lr.dat", b"../00001_lr.dat")
    refused("corrupt_file", zip_of({"rec/00001_lr.hea": header, "00001_lr.dat": one["00001_lr.dat"]}))
    refused("corrupt_file", zip_of({"00001_lr.hea": one["00001_lr.hea"]}))
    refused("corrupt_file", zip_of(one)[:300])
    refused("unsupported_format", zip_of({}))


def test_zip_bomb_is_refused_before_it_expands() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.hea", b"bomb 1 500 60000000\nbomb.dat 16 1000/mV 16 0 0 0 0 I\n")
        with archive.open("bomb.dat", "w") as member:
            zeros = bytes(1 << 20)
            for _ in range(101):
                member.write(zeros)
    assert len(buffer.getvalue()) < 1_000_000
    refused("unsafe_archive", buffer.getvalue())


def test_zip_with_lying_sizes_is_refused() -> None:
    """The directory claims 1 kB, the data inflates to 4 MB: zipfile stops at the claim, the
    checksum then fails."""
    archive = bytearray(zip_of({"ecg.csv": b"# fs=500\nI,II\n" + b"0.1,0.2\n" * 500_000}))
    struct.pack_into("<I", archive, 22, 1000)  # local header: uncompressed size
    central = archive.index(b"PK\x01\x02")
    struct.pack_into("<I", archive, central + 24, 1000)
    refused("corrupt_file", bytes(archive))


def test_zip_holding_one_file_of_another_format() -> None:
    content = AECG.read_bytes()
    assert np.array_equal(read_record(zip_of({"x/ecg.xml": content})).signal, read_record(content).signal)


# --------------------------------------------------------------------------- DICOM
def test_dicom_pydicom_sample_equals_waveform_array() -> None:
    """pydicom's test file (Mortara ELI 250): rhythm group in µV, 'Lead I (Einthoven)' labels."""
    path = DICOM / "waveform_ecg.dcm"
    dataset = pydicom.dcmread(path)
    expected = dataset.waveform_array(0) / 1000  # group 0 is the rhythm; its channels are I..V6, µV
    for record in (read_record(path), read_record(path.read_bytes(), "waveform_ecg.dcm")):
        assert record.signal.shape == (10_000, 12)  # the rhythm (10 s), not the 1.2 s median beat
        assert record.fs == 1000.0
        np.testing.assert_allclose(record.signal, expected, rtol=1e-6, atol=1e-7)
        metadata = record.metadata
        assert metadata["format"] == "dicom"
        assert metadata["waveform_group_label"] == "RHYTHM"
        assert metadata["lead_map"]["Lead I (Einthoven)"] == "I"
        assert metadata["lead_map"]["Lead aVR"] == "aVR"
        assert metadata["units"] == "uV"
        assert metadata["age"] == 42.0
        assert metadata["sex"] == "F"


def test_dicom_written_by_ecg2dcm_equals_wfdb_source() -> None:
    """ecg2dcm (an independent writer) converted PTB-XL 00001_lr; it must read back as rdsamp."""
    path = DICOM / "ptbxl_00001_lr_ecg2dcm.dcm"
    record = read_record(path)
    assert np.array_equal(record.signal, rdsamp_mv(PTBXL / "00001_lr").astype(np.float32))
    assert record.fs == 100.0
    assert record.metadata["lead_map"]["aVR, augmented voltage, right"] == "aVR"
    np.testing.assert_allclose(record.signal, pydicom.dcmread(path).waveform_array(0) / 1000, atol=1e-7)


def test_dicom_ge_teaching_file_reads_rhythm_not_median() -> None:
    path = DICOM / "guangxi_teaching_sinus_rhythm.dcm"
    dataset = pydicom.dcmread(path)
    assert [g.MultiplexGroupLabel for g in dataset.WaveformSequence] == ["Rhythm", "Median"]
    record = read_record(path.read_bytes())
    assert record.signal.shape == (5000, 12)
    np.testing.assert_allclose(record.signal, dataset.waveform_array(0) / 1000, rtol=1e-6, atol=1e-7)
    assert record.metadata["age"] == 11.0
    assert record.metadata["sex"] == "M"
    assert record.metadata["manufacturer"] == "GE Healthcare"


@pytest.mark.parametrize(
    ("channel", "offset_mv"),
    [
        ({}, 0.0),
        ({"units": "mV", "sensitivity": 0.001}, 0.0),
        ({"sensitivity": 0.5, "correction": 2}, 0.0),
        ({"baseline": 100}, 0.1),
        ({"meaning": "Lead {} (Wilson)"}, 0.0),
    ],
)
def test_dicom_built_with_pydicom_round_trips(channel: dict[str, object], offset_mv: float) -> None:
    adc, fs = ptbxl_adc()
    data = ecg_dicom(adc, fs, **channel)
    record = read_record(data)
    np.testing.assert_allclose(record.signal, adc / 1000 + offset_mv, rtol=1e-6, atol=1e-6)
    assert record.metadata["waveform_group_label"] == "RHYTHM"  # listed second, after the median
    np.testing.assert_allclose(
        record.signal,
        pydicom.dcmread(io.BytesIO(data)).waveform_array(1)
        / 1000
        * (1000 if channel.get("units") == "mV" else 1),
        rtol=1e-6,
        atol=1e-6,
    )


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian])
def test_dicom_other_transfer_syntaxes(syntax: str) -> None:
    adc, fs = ptbxl_adc("00001_lr")
    byte_order = ">" if syntax == ExplicitVRBigEndian else "<"
    record = read_record(ecg_dicom(adc, fs, syntax=syntax, byte_order=byte_order))
    np.testing.assert_allclose(record.signal, adc / 1000, atol=1e-9)


def test_dicom_lead_from_code_value_when_meaning_is_free_text() -> None:
    adc, fs = ptbxl_adc("00001_lr")
    data = ecg_dicom(adc, fs, meaning="channel {}")
    dataset = pydicom.dcmread(io.BytesIO(data))
    for group in dataset.WaveformSequence:
        for definition in group.ChannelDefinitionSequence:
            definition.ChannelSourceSequence[0].CodeMeaning = "unnamed"
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    record = read_record(buffer.getvalue())
    np.testing.assert_allclose(record.signal, adc / 1000, atol=1e-9)


def test_dicom_refusals() -> None:
    adc, _ = ptbxl_adc("00001_lr")
    refused("invalid_sampling_rate", ecg_dicom(adc, 20_000.0))
    refused("no_standard_leads", ecg_dicom(adc[:, :2], 100.0, labels=["Pressure", "SpO2"], meaning="{}"))
    complete = (DICOM / "waveform_ecg.dcm").read_bytes()
    refused("corrupt_file", complete[: len(complete) // 2])
    image = Dataset()
    image.file_meta = FileMetaDataset()
    image.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    image.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT image
    image.SOPInstanceUID = generate_uid()
    image.Rows = 2
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, image, enforce_file_format=True)
    refused("no_waveform", buffer.getvalue())


def test_dicom_huge_sample_claim_is_refused_before_decoding() -> None:
    adc, fs = ptbxl_adc("00001_lr")
    dataset = pydicom.dcmread(io.BytesIO(ecg_dicom(adc, fs)))
    dataset.WaveformSequence[1].NumberOfWaveformSamples = 50_000_000
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    refused("too_long", buffer.getvalue())


# --------------------------------------------------------------------------- HL7 aECG
def test_aecg_real_example_from_path_and_bytes() -> None:
    """The HL7 aECG example (Mortara ELI 250; first second): 12 leads in order I, II, V1-V6, III,
    aVR, aVL, aVF in the file, 2.5 µV steps, 500 Hz."""
    for record in (read_record(AECG), read_record(AECG.read_bytes(), "ecg.xml")):
        assert record.signal.shape == (500, 12)
        assert record.fs == 500.0
        assert record.metadata["format"] == "hl7_aecg"
        assert record.metadata["units"] == "uV"
        assert record.metadata["source_leads"][:3] == ["MDC_ECG_LEAD_I", "MDC_ECG_LEAD_II", "MDC_ECG_LEAD_V1"]
        assert (record.metadata["age"], record.metadata["sex"]) == (46.0, "M")
        column = {lead: record.signal[:, i].astype(np.float64) for i, lead in enumerate(STANDARD_LEADS)}
        assert column["I"][:3].tolist() == pytest.approx([-0.005, -0.005, -0.005])
        assert column["V1"][0] == pytest.approx(43 * 2.5 / 1000)
        # The file's own limb leads obey Einthoven and Goldberger: the leads landed in their columns.
        np.testing.assert_allclose(column["III"], column["II"] - column["I"], atol=1e-6)
        np.testing.assert_allclose(column["aVR"], -(column["I"] + column["II"]) / 2, atol=0.00126)
        np.testing.assert_allclose(column["aVL"], column["I"] - column["II"] / 2, atol=0.00126)
        np.testing.assert_allclose(column["aVF"], column["II"] - column["I"] / 2, atol=0.00126)
        assert record.metadata["warnings"] == []


def test_aecg_agrees_with_ecg2dcm_reading_of_the_same_file() -> None:
    """ecg2dcm's own aECG parser converted the fixture to DICOM: both roads must meet."""
    converted = DICOM / "hl7_aecg_example_1s_ecg2dcm.dcm"
    np.testing.assert_allclose(read_record(AECG).signal, read_record(converted).signal, atol=1e-7)
    np.testing.assert_allclose(
        read_record(AECG).signal, pydicom.dcmread(converted).waveform_array(0) / 1000, atol=1e-7
    )


@pytest.mark.parametrize(("millivolt", "relative"), [(False, False), (True, False), (False, True)])
def test_aecg_written_from_ptbxl_round_trips(millivolt: bool, relative: bool) -> None:
    data = ptbxl_aecg(millivolt=millivolt, relative=relative)
    record = read_record(data)
    np.testing.assert_allclose(record.signal, rdsamp_mv(PTBXL / "00001_hr"), rtol=0, atol=1e-7)
    assert record.signal.shape == (5000, 12)  # the rhythm, not the 300-sample representative beat
    assert record.metadata["sex"] == "F"
    assert record.metadata["units"] == ("mV" if millivolt else "uV")


def test_aecg_sequence_sets_recorded_one_after_another() -> None:
    adc, _ = ptbxl_adc()
    sets = []
    for group in range(4):  # a 3-channel cart: 2.5 s of three leads at a time
        leads = STANDARD_LEADS[group * 3 : group * 3 + 3]
        head = f"2024010112000{group * 2 + group // 2}.{'5' if group % 2 else '0'}"
        body = "".join(
            aecg_sequence(
                f"MDC_ECG_LEAD_{lead.upper()}",
                adc[group * 1250 : (group + 1) * 1250, STANDARD_LEADS.index(lead)],
            )
            for lead in leads
        )
        sets.append(aecg_time(head=head) + body)
    record = read_record(aecg_document(sets))
    assert record.signal.shape == (5000, 12)
    assert "sequence_sets_staggered" in record.metadata["warnings"]
    for group in range(4):
        for lead in STANDARD_LEADS[group * 3 : group * 3 + 3]:
            column = record.signal[:, STANDARD_LEADS.index(lead)]
            inside = slice(group * 1250, (group + 1) * 1250)
            np.testing.assert_allclose(
                column[inside], adc[inside, STANDARD_LEADS.index(lead)] / 1000, atol=1e-7
            )
            assert np.isnan(np.delete(column, np.arange(group * 1250, (group + 1) * 1250))).all()


def test_aecg_refusals() -> None:
    digits = np.arange(100)
    time = aecg_time()
    refused(
        "inconsistent_leads",
        aecg_document(
            [time + aecg_sequence("MDC_ECG_LEAD_I", digits) + aecg_sequence("MDC_ECG_LEAD_II", digits[:90])]
        ),
    )
    refused(
        "invalid_sampling_rate",
        aecg_document([aecg_time(increment="0.1") + aecg_sequence("MDC_ECG_LEAD_I", digits)]),
    )
    refused("invalid_sampling_rate", aecg_document([aecg_sequence("MDC_ECG_LEAD_I", digits)]))
    refused("no_standard_leads", aecg_document([time + aecg_sequence("MDC_ECG_LEAD_V3R", digits)]))
    broken = aecg_document([time + aecg_sequence("MDC_ECG_LEAD_I", digits)]).replace(
        b"<digits>0 1", b"<digits>0 x1"
    )
    refused("corrupt_file", broken)
    refused("corrupt_file", AECG.read_bytes()[:20_000])
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE AnnotatedECG [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<AnnotatedECG xmlns="urn:hl7-org:v3"><text>&d;&d;&d;&d;&d;&d;&d;&d;</text></AnnotatedECG>"""
    refused("unsupported_format", bomb)
    refused("unsupported_format", b'<?xml version="1.0"?>\n<RestingECG><MuseInfo/></RestingECG>')


# --------------------------------------------------------------------------- CSV
def test_csv_round_trip_with_time_column(tmp_path: Path) -> None:
    expected = rdsamp_mv(PTBXL / "00001_hr")
    text = csv_text(expected, 500.0, list(STANDARD_LEADS))
    path = tmp_path / "ecg.csv"
    path.write_text(text)
    for record in (read_record(path), read_record(text.encode(), "ecg.csv")):
        np.testing.assert_allclose(record.signal, expected, atol=1e-6)
        assert record.fs == pytest.approx(500.0)
        assert record.metadata["format"] == "csv"
        assert record.metadata["units"] == "mV"


def test_csv_semicolons_decimal_comma_fs_line_and_microvolt_setting() -> None:
    adc, _ = ptbxl_adc()
    lines = ["# exported by a cart", "# fs=500", "# units=uV", ";".join(STANDARD_LEADS)]
    lines += [";".join(f"{v},0" for v in row) for row in adc[:1000]]  # '123,0': decimal comma
    record = read_record("\r\n".join(lines).encode("utf-8-sig"))
    np.testing.assert_allclose(record.signal, adc[:1000] / 1000, atol=1e-9)
    assert record.fs == 500.0
    assert record.metadata["units"] == "uV"
    assert record.metadata["warnings"] == []


def test_csv_unit_suffixes_and_lead_aliases() -> None:
    adc, _ = ptbxl_adc()
    header = ["Lead I_uV", "dii (uV)", "C1 [uV]", "time_ms", "avr_uV", "Pulse"]
    rows = [f"{a},{b},{c},{i * 2},{d},0" for i, (a, b, c, d) in enumerate(adc[:500, [0, 1, 6, 3]])]
    record = read_record(",".join(header).encode() + b"\n" + "\n".join(rows).encode())
    assert record.fs == pytest.approx(500.0)
    assert record.metadata["lead_map"] == {
        "Lead I_uV": "I",
        "dii (uV)": "II",
        "C1 [uV]": "V1",
        "avr_uV": "aVR",
    }
    assert record.metadata["channel_units"] == {name: "uV" for name in record.metadata["lead_map"]}
    assert record.metadata["derived_leads"] == ["III", "aVL", "aVF"]  # aVR was given
    for lead, source in (("I", 0), ("II", 1), ("V1", 6), ("aVR", 3)):
        np.testing.assert_allclose(
            record.signal[:, STANDARD_LEADS.index(lead)], adc[:500, source] / 1000, atol=1e-9
        )


def test_csv_with_i_and_ii_only_gets_derived_leads_and_microvolt_detection() -> None:
    adc, _ = ptbxl_adc()
    lines = ["# fs=500", "I,II"] + [f"{a},{b}" for a, b in adc[:, :2]]  # µV values, no unit said
    record = read_record("\n".join(lines).encode())
    assert record.metadata["warnings"] == ["microvolt_scaled_input_converted", "derived_leads_computed"]
    assert record.metadata["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    lead_i, lead_ii = adc[:, 0] / 1000, adc[:, 1] / 1000
    np.testing.assert_allclose(record.signal[:, 2], lead_ii - lead_i, atol=1e-6)
    np.testing.assert_allclose(record.signal[:, 3], -(lead_i + lead_ii) / 2, atol=1e-6)
    assert np.isnan(record.signal[:, 6:]).all()


def test_csv_refusals() -> None:
    refused("invalid_sampling_rate", b"I,II\n0.1,0.2\n0.2,0.3\n")
    refused("invalid_sampling_rate", b"# fs=20000\nI,II\n0.1,0.2\n")
    refused("invalid_sampling_rate", b"time,I\n0,0.1\n0.002,0.2\n0.010,0.3\n0.012,0.3\n")
    refused("invalid_sampling_rate", b"# fs=250\ntime,I\n0,0.1\n0.002,0.2\n0.004,0.3\n")
    refused("no_standard_leads", b"# fs=500\na,b,c\n1,2,3\n4,5,6\n")
    refused("inconsistent_leads", b"# fs=500\nI,II\n1,2\n3\n")
    refused("corrupt_file", b"# fs=500\nI,II\n1,2\n3,abc\n")


# --------------------------------------------------------------------------- across formats
@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Lead I (Einthoven)", ("I", False)),
        ("Lead II", ("II", False)),
        ("aVR, augmented voltage, right", ("aVR", False)),
        ("-aVR", ("aVR", True)),
        ("MDC_ECG_LEAD_AVF", ("aVF", False)),
        ("Lead V1 (Wilson)", ("V1", False)),
        ("c6", ("V6", False)),
        ("avl", ("aVL", False)),
        ("Pleth", (None, False)),
    ],
)
def test_lead_name_normalisation(label: str, expected: tuple[str | None, bool]) -> None:
    assert lead_name(label) == expected


def test_infinite_values_become_gaps() -> None:
    record = read_record(b"# fs=500\nI,II\n0.1,inf\n0.2,1e300\n0.3,0.4\n")
    assert np.isnan(record.signal[:2, 1]).all()
    assert record.signal[2, 1] == pytest.approx(0.4)


def test_minus_avr_is_turned_upright() -> None:
    record = read_record(b"# fs=500\nI,-aVR\n0.1,0.2\n0.3,0.4\n")
    np.testing.assert_allclose(record.signal[:, 3], [-0.2, -0.4], atol=1e-7)
    assert "inverted_lead_corrected" in record.metadata["warnings"]


def test_content_decides_not_the_file_name() -> None:
    data = (DICOM / "ptbxl_00001_lr_ecg2dcm.dcm").read_bytes()
    assert read_record(data, "looks_like.csv").metadata["format"] == "dicom"
    assert read_record(AECG.read_bytes(), "ecg.dcm").metadata["format"] == "hl7_aecg"


def test_unknown_and_empty_inputs() -> None:
    refused("corrupt_file", b"")
    refused("unsupported_format", b"Hello, this is a letter and not an ECG.\n")
    refused("unsupported_format", b"\x89PNG\r\n\x1a\n" + bytes(200))
    refused("unsupported_format", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    with pytest.raises(FileNotFoundError):
        read_record(DATA / "no_such_file.hea")


# --------------------------------------------------------------------------- hostile input
def assert_reads_or_refuses(data: bytes) -> None:
    try:
        record = read_record(data)
    except UnreadableECG:
        return
    assert record.signal.shape[1] == 12


def fixtures_as_bytes() -> dict[str, bytes]:
    return {
        "wfdb_zip": zip_of(record_files(PTBXL / "00001_lr")),
        "dicom": (DICOM / "ptbxl_00001_lr_ecg2dcm.dcm").read_bytes(),
        "aecg": AECG.read_bytes(),
        "csv": csv_text(rdsamp_mv(PTBXL / "00001_lr")[:200], 100.0, list(STANDARD_LEADS)).encode(),
    }


def test_random_bytes_are_refused_cleanly() -> None:
    generator = np.random.default_rng(7)
    prefixes = [
        b"",
        b"PK\x03\x04",
        bytes(128) + b"DICM",
        b"<AnnotatedECG xmlns='urn:hl7-org:v3'>",
        b"I,II\n",
        b"rec 12 500 5000\n",
    ]
    for prefix in prefixes:
        for size in (1, 10, 200, 5000):
            for _ in range(5):
                data = prefix + generator.integers(0, 256, size, dtype=np.uint8).tobytes()
                with pytest.raises(UnreadableECG):
                    read_record(data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the values we garbled
@pytest.mark.parametrize("name", ["wfdb_zip", "dicom", "aecg", "csv"])
def test_truncated_and_mutated_files_never_escape(name: str) -> None:
    data = fixtures_as_bytes()[name]
    for fraction in (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
        assert_reads_or_refuses(data[: int(len(data) * fraction)])
    generator = np.random.default_rng(11)
    for _ in range(25):
        mutated = bytearray(data)
        for position in generator.integers(0, len(data), 8):
            mutated[position] = int(generator.integers(0, 256))
        assert_reads_or_refuses(bytes(mutated))
