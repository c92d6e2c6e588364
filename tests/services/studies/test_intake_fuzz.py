"""Fuzzing the intake of uploads (a bounded run; bench/fuzz_parsers.py runs longer): photos told
by their magic bytes (JPEG, PNG, HEIC) with any header, and ECG files of every format, are
accepted or refused with IntakeRefused (the API's 422 upload_refused), never another exception,
within the time and memory caps; an accepted photo is never larger than the pixel limit."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ecg_ml.io.common import image_format
from services.studies import intake
from tests.ecg_ml import fuzz_inputs
from tests.ecg_ml.fuzz_inputs import within_limits

MAX_BYTES = 20_000_000
MAX_PIXELS = 50_000_000
PHOTO = fuzz_inputs.DATA / "photos" / "bad_too_blurry.jpg"

BOUNDED = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def accept_or_refuse(files: list[intake.UploadedFile]) -> intake.Accepted | None:
    with within_limits():
        try:
            accepted = intake.accept(files, MAX_BYTES, MAX_PIXELS)
        except intake.IntakeRefused as refused:
            assert refused.reason, "a refusal always says why"
            return None
    if accepted.width is not None and accepted.height is not None:
        assert accepted.width * accepted.height <= MAX_PIXELS
    return accepted


@BOUNDED
@given(fuzz_inputs.image_bytes, st.sampled_from(["photo.jpg", "IMG_0001.HEIC", "scan.png", "", "../x"]))
def test_fuzz_photo_headers(data: bytes, name: str) -> None:
    assert image_format(data) in {"jpeg", "png", "heic", None}
    accept_or_refuse([intake.UploadedFile(name, data)])


@BOUNDED
@given(fuzz_inputs.mutated(PHOTO.read_bytes()[:20_000]))
def test_fuzz_mutated_real_photo(data: bytes) -> None:
    accept_or_refuse([intake.UploadedFile("photo.jpg", data)])


@BOUNDED
@given(
    st.lists(fuzz_inputs.any_ecg_file(), min_size=1, max_size=3), st.sampled_from(["ecg.hea", "ecg.zip", "x"])
)
def test_fuzz_ecg_uploads(files: list[bytes], name: str) -> None:
    accept_or_refuse([intake.UploadedFile(f"{index}{name}", data) for index, data in enumerate(files)])


def test_a_png_claiming_four_billion_pixels_is_refused_from_its_header() -> None:
    """The header's size decides before any decoding: 65,535 x 65,535 is refused in microseconds."""
    header = fuzz_inputs.png_chunk(b"IHDR", bytes.fromhex("0000ffff0000ffff0802000000"))
    data = b"\x89PNG\r\n\x1a\n" + header + fuzz_inputs.png_chunk(b"IEND", b"")
    with (
        within_limits(time_cap_s=1.0, memory_cap_bytes=1 * 2**20),
        pytest.raises(intake.IntakeRefused) as refused,
    ):
        intake.accept([intake.UploadedFile("bomb.png", data)], MAX_BYTES, MAX_PIXELS)
    assert refused.value.reason == "image_too_large"


def test_a_real_photo_is_accepted_with_its_size() -> None:
    accepted = accept_or_refuse([intake.UploadedFile("photo.jpg", PHOTO.read_bytes())])
    assert accepted is not None
    with Image.open(io.BytesIO(PHOTO.read_bytes())) as image:
        assert (accepted.width, accepted.height) == image.size
