"""What an uploaded or pushed study is, told by its content, and the checks it must pass before
anything is stored: not empty, within the size limit, an image of sane dimensions (read from
its header, never decoded here), or an ECG file that ecg_ml can read (its readers carry their
own limits for archives and lengths)."""

import io
import zipfile
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError
from pillow_heif import register_heif_opener

from ecg_ml import ECGRecord, UnreadableECG, read_record
from ecg_ml.io.common import image_format
from services.studies.models import StudyInput

register_heif_opener()

MAX_NAME_LENGTH = 255


class IntakeRefused(Exception):
    """The upload is refused before anything is stored; `reason` is a stable code."""

    def __init__(self, reason: str, **params: object) -> None:
        self.reason = reason
        self.params = params
        super().__init__(reason)


@dataclass(frozen=True)
class UploadedFile:
    name: str
    data: bytes


@dataclass(frozen=True)
class Accepted:
    """An upload that passed: the bytes to keep as the original (several files are zipped as
    received), what it is, and for ECG files the record as read (so the job reads it again
    only from the stored original)."""

    original: bytes
    original_name: str
    input_kind: StudyInput
    file_format: str
    record: ECGRecord | None
    width: int | None = None
    height: int | None = None


def _check_image(data: bytes, kind: str, max_pixels: int) -> tuple[int, int]:
    """Dimensions from the header: a 30,000 x 30,000 image is refused before it is decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Image.DecompressionBombError:  # Pillow's own guard, far above our limit
        raise IntakeRefused("image_too_large", limit=max_pixels) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise IntakeRefused("corrupt_image") from None
    if width * height > max_pixels:
        raise IntakeRefused("image_too_large", pixels=width * height, limit=max_pixels)
    if min(width, height) < 300:
        raise IntakeRefused("image_too_small")
    return width, height


def _ecg_format(record: ECGRecord, packed: bool) -> str:
    found = str(record.metadata.get("format", "unknown"))
    return "wfdb_zip" if found == "wfdb" and packed else found


def _zip_files(files: list[UploadedFile]) -> bytes:
    """Several files of one record (a WFDB .hea with its .dat) kept together, as received."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.writestr(file.name, file.data)
    return buffer.getvalue()


def safe_name(name: str | None) -> str:
    """The client's file name for display only: no folders, no control characters."""
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip() or "upload"
    return cleaned[:MAX_NAME_LENGTH]


def accept(files: list[UploadedFile], max_bytes: int, max_pixels: int) -> Accepted:
    """Raise IntakeRefused unless `files` are one photo or one ECG record we can read."""
    if not files:
        raise IntakeRefused("no_file")
    files = [UploadedFile(safe_name(f.name), f.data) for f in files]
    if any(len(f.data) == 0 for f in files):
        raise IntakeRefused("empty_file")
    total = sum(len(f.data) for f in files)
    if total > max_bytes:
        raise IntakeRefused("file_too_large", size=total, limit=max_bytes)

    kinds = [image_format(f.data) for f in files]
    if any(kinds):
        if len(files) > 1:
            raise IntakeRefused("one_photo_per_study")
        kind = kinds[0]
        assert kind is not None
        width, height = _check_image(files[0].data, kind, max_pixels)
        return Accepted(files[0].data, files[0].name, StudyInput.photo, kind, None, width, height)

    if len(files) == 1 and files[0].name.lower().endswith(".hea"):
        raise IntakeRefused("wfdb_data_missing")
    packed = len(files) > 1
    original = _zip_files(files) if packed else files[0].data
    name = files[0].name if not packed else files[0].name.rsplit(".", 1)[0] + ".zip"
    try:
        record = read_record(original, filename=name)
    except UnreadableECG as error:
        raise IntakeRefused(error.code) from None
    if not np.isfinite(record.signal).any():
        raise IntakeRefused("no_signal")
    return Accepted(original, name, StudyInput.ecg_file, _ecg_format(record, packed), record)
