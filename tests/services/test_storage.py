"""Blob storage: the local directory and S3 (a real S3-protocol server, moto's, over HTTP),
encryption at rest, key rotation, tampering, and the errors a caller sees."""

import base64
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer
from pydantic import ValidationError

from services.errors import PROBLEM_CONTENT_TYPE, install_error_handlers
from services.settings import BlobBackendKind, Environment, Settings, new_blob_key, parse_blob_keys
from services.storage import (
    Blob,
    BlobKeyMissing,
    BlobNotFound,
    BlobStore,
    BlobTampered,
    InvalidBlobKey,
    KeyRing,
    LocalDirectoryBackend,
    S3Backend,
    StorageFull,
    StorageUnavailable,
    get_blob_store,
    local_storage_errors,
    write_and_sync,
)
from tests.infra import _free_port
from tests.support import settings_changed, small_tmpfs

KEY_A = secrets.token_bytes(32)
KEY_B = secrets.token_bytes(32)
ECG_BYTES = b"ECG\x00" + secrets.token_bytes(4000)
BUCKET = "cardioalert-test-blobs"


def ring(*key_ids: str, active: str) -> KeyRing:
    keys = {"a": KEY_A, "b": KEY_B}
    return KeyRing({key_id: keys[key_id] for key_id in key_ids}, active)


@pytest.fixture
def blob_root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def local_store(blob_root: Path) -> BlobStore:
    return BlobStore(LocalDirectoryBackend(blob_root), ring("a", active="a"))


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_backend(endpoint: str, bucket: str = BUCKET) -> S3Backend:
    return S3Backend(
        bucket,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="test-access-key",
        secret_access_key="test-secret-key",
        connect_timeout=1.0,
        read_timeout=5.0,
    )


@pytest.fixture
def s3_store(s3_server: str) -> BlobStore:
    backend = s3_backend(s3_server)
    backend.ensure_bucket()
    return BlobStore(backend, ring("a", active="a"))


def raw_s3_object(endpoint: str, key: str) -> bytes:
    """The object as the bucket holds it, read past our code."""
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-access-key",
        aws_secret_access_key="test-secret-key",
    )
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


# ------------------------------------------------------------------ local directory


def test_local_round_trip_keeps_data_and_content_type(local_store: BlobStore, blob_root: Path) -> None:
    key = "studies/2026/11/0b9c.dcm"
    assert local_store.exists(key) is False

    local_store.put(key, ECG_BYTES, "application/dicom")

    assert local_store.exists(key) is True
    assert local_store.get(key) == ECG_BYTES
    blob = local_store.get_blob(key)
    assert (blob.content_type, blob.key_id) == ("application/dicom", "a")
    local_store.delete(key)
    assert local_store.exists(key) is False
    local_store.delete(key)  # deleting again is not an error
    with pytest.raises(BlobNotFound):
        local_store.get(key)


def test_the_disk_holds_only_ciphertext(local_store: BlobStore, blob_root: Path) -> None:
    plain = b"Patient: Aziza Karimova; QTc 512 ms" * 20
    local_store.put("studies/plain.txt", plain, "text/plain")
    on_disk = (blob_root / "studies" / "plain.txt").read_bytes()
    assert b"Aziza" not in on_disk
    assert b"QTc" not in on_disk
    # The same data twice encrypts differently (a fresh nonce per write).
    local_store.put("studies/plain2.txt", plain, "text/plain")
    assert (blob_root / "studies" / "plain2.txt").read_bytes()[-100:] != on_disk[-100:]


def test_an_empty_blob_round_trips(local_store: BlobStore) -> None:
    local_store.put("empty", b"")
    assert local_store.get("empty") == b""


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../outside",
        "studies/../../outside",
        "/etc/passwd",
        "studies//x",
        "studies/./x",
        "studies/..",
        "studies/.tmp-abc",  # the temp files of atomic writes are never keys
        "back\\slash",
        "space here",
        "x" * 600,
    ],
)
def test_keys_that_could_leave_the_directory_are_refused(
    local_store: BlobStore, blob_root: Path, key: str
) -> None:
    with pytest.raises(InvalidBlobKey):
        local_store.put(key, b"x")
    with pytest.raises(InvalidBlobKey):
        local_store.get(key)
    assert not (blob_root.parent / "outside").exists()


def test_a_symlink_inside_the_root_does_not_lead_out(local_store: BlobStore, blob_root: Path) -> None:
    outside = blob_root.parent / "elsewhere"
    outside.mkdir()
    blob_root.mkdir(parents=True)
    (blob_root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidBlobKey):
        local_store.put("link/stolen", b"x")
    assert list(outside.iterdir()) == []


def test_overwrites_are_atomic_for_concurrent_readers(local_store: BlobStore, blob_root: Path) -> None:
    """A reader racing a writer sees the old or the new blob whole: a half-written one would fail
    GCM authentication (BlobTampered) or differ from both versions."""
    versions = [b"A" * 300_000, b"B" * 200_000]
    local_store.put("race", versions[0])
    failures: list[BaseException] = []
    stop = threading.Event()

    def read_until_stopped() -> None:
        reads = 0
        while not stop.is_set() or reads == 0:
            try:
                assert local_store.get("race") in versions
            except BaseException as error:
                failures.append(error)
                return
            reads += 1

    readers = [threading.Thread(target=read_until_stopped) for _ in range(2)]
    for reader in readers:
        reader.start()
    for n in range(40):
        local_store.put("race", versions[n % 2])
    stop.set()
    for reader in readers:
        reader.join(timeout=30)
    assert failures == []
    assert [path.name for path in blob_root.iterdir()] == ["race"]  # no temp files left behind


def test_a_write_to_a_full_device_is_storage_full(tmp_path: Path) -> None:
    """/dev/full answers every write with ENOSPC: the real error, through the same code path
    (write_and_sync under local_storage_errors) the local backend writes with."""
    with pytest.raises(StorageFull) as raised, local_storage_errors(), open("/dev/full", "wb") as device:
        write_and_sync(device, b"x" * 10_000)
    assert (raised.value.status, raised.value.code) == (503, "storage_full")
    assert isinstance(raised.value, StorageUnavailable)  # callers retrying on unavailable retry this too


@pytest.fixture
def tiny_filesystem() -> Iterator[Path]:
    """A 256 KiB tmpfs: a disk that really fills up."""
    with small_tmpfs("256k", "/dev/full covers the error mapping") as mount_point:
        yield mount_point


def test_a_full_disk_keeps_the_old_blob_and_leaves_no_partial_file(tiny_filesystem: Path) -> None:
    store = BlobStore(LocalDirectoryBackend(tiny_filesystem), ring("a", active="a"))
    store.put("studies/original", b"old" * 1000)

    with pytest.raises(StorageFull):
        store.put("studies/original", secrets.token_bytes(1_000_000))

    assert store.get("studies/original") == b"old" * 1000
    assert sorted(path.name for path in (tiny_filesystem / "studies").iterdir()) == ["original"]


def test_an_unwritable_directory_is_storage_unavailable(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_bytes(b"")
    store = BlobStore(LocalDirectoryBackend(not_a_directory), ring("a", active="a"))
    with pytest.raises(StorageUnavailable) as raised:
        store.put("x", b"data")
    assert raised.value.code == "storage_unavailable"


# ------------------------------------------------------------------ tampering and keys


def test_a_changed_byte_anywhere_is_detected(local_store: BlobStore, blob_root: Path) -> None:
    local_store.put("t", ECG_BYTES, "application/dicom")
    path = blob_root / "t"
    original = path.read_bytes()
    for position in (3, 6, 10, len(original) // 2, len(original) - 1):  # version, header, body, tag
        changed = bytearray(original)
        changed[position] ^= 0x01
        path.write_bytes(bytes(changed))
        with pytest.raises(BlobTampered):
            local_store.get("t")
    for cut in (original[:5], original[:-1], b"", b"not a blob at all"):
        path.write_bytes(cut)
        with pytest.raises(BlobTampered):
            local_store.get("t")


def test_a_blob_copied_under_another_key_is_refused(local_store: BlobStore, blob_root: Path) -> None:
    local_store.put("studies/alice", b"alice's ECG")
    shutil.copy(blob_root / "studies" / "alice", blob_root / "studies" / "bob")
    with pytest.raises(BlobTampered):
        local_store.get("studies/bob")


def test_key_rotation_reads_old_blobs_and_reencrypts_them(blob_root: Path) -> None:
    backend = LocalDirectoryBackend(blob_root)
    BlobStore(backend, ring("a", active="a")).put("old", b"written under A", "text/plain")

    rotated = BlobStore(backend, ring("a", "b", active="b"))
    rotated.put("new", b"written under B")
    assert rotated.get("old") == b"written under A"
    assert rotated.get_blob("new").key_id == "b"

    assert rotated.reencrypt("old") is True
    assert rotated.reencrypt("old") is False  # already under the active key
    assert rotated.reencrypt("new") is False

    only_b = BlobStore(backend, ring("b", active="b"))
    assert only_b.get_blob("old") == Blob(b"written under A", "text/plain", "b")
    assert only_b.get("new") == b"written under B"


def test_a_blob_whose_key_was_dropped_is_a_clear_error(blob_root: Path) -> None:
    backend = LocalDirectoryBackend(blob_root)
    BlobStore(backend, ring("a", active="a")).put("old", b"x")
    with pytest.raises(BlobKeyMissing) as raised:
        BlobStore(backend, ring("b", active="b")).get("old")
    assert raised.value.code == "blob_key_missing"


def test_a_blob_decrypted_with_the_wrong_key_material_is_tampered(blob_root: Path) -> None:
    backend = LocalDirectoryBackend(blob_root)
    BlobStore(backend, KeyRing({"a": KEY_A}, "a")).put("x", b"data")
    with pytest.raises(BlobTampered):
        BlobStore(backend, KeyRing({"a": KEY_B}, "a")).get("x")


def test_a_key_ring_refuses_short_keys_and_unknown_active_ids() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing({"a": b"short"}, "a")
    with pytest.raises(ValueError, match="active"):
        KeyRing({"a": KEY_A}, "b")


# ------------------------------------------------------------------ S3


def test_s3_round_trip_over_http(s3_store: BlobStore, s3_server: str) -> None:
    key = "studies/2026/11/abc.xml"
    assert s3_store.exists(key) is False
    s3_store.put(key, ECG_BYTES, "application/xml")
    assert s3_store.exists(key) is True
    assert s3_store.get_blob(key).content_type == "application/xml"
    assert s3_store.get(key) == ECG_BYTES
    assert ECG_BYTES[100:200] not in raw_s3_object(s3_server, key)  # the bucket holds ciphertext
    s3_store.delete(key)
    assert s3_store.exists(key) is False
    with pytest.raises(BlobNotFound):
        s3_store.get(key)


def test_s3_tampering_and_rotation(s3_store: BlobStore, s3_server: str) -> None:
    s3_store.put("r/old", b"under A")
    rotated = BlobStore(s3_store.backend, ring("a", "b", active="b"))
    assert rotated.get("r/old") == b"under A"
    assert rotated.reencrypt("r/old") is True
    assert BlobStore(s3_store.backend, ring("b", active="b")).get("r/old") == b"under A"

    stored = bytearray(raw_s3_object(s3_server, "r/old"))
    stored[-1] ^= 0x80
    s3_store.backend.write("r/old", bytes(stored))
    with pytest.raises(BlobTampered):
        rotated.get("r/old")


def test_s3_refuses_bad_keys_before_any_request(s3_store: BlobStore) -> None:
    with pytest.raises(InvalidBlobKey):
        s3_store.put("../x", b"x")


def test_s3_missing_bucket_is_unavailable(s3_server: str) -> None:
    store = BlobStore(s3_backend(s3_server, bucket="no-such-bucket"), ring("a", active="a"))
    with pytest.raises(StorageUnavailable):
        store.put("x", b"x")


def test_s3_unreachable_is_unavailable() -> None:
    closed_port = _free_port()  # nothing listens there
    store = BlobStore(s3_backend(f"http://127.0.0.1:{closed_port}"), ring("a", active="a"))
    for operation in (lambda: store.put("x", b"x"), lambda: store.get("x"), lambda: store.exists("x")):
        with pytest.raises(StorageUnavailable) as raised:
            operation()
        assert (raised.value.status, raised.value.code) == (503, "storage_unavailable")


# ------------------------------------------------------------------ errors and settings


def test_storage_errors_leave_as_problem_json() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/full")
    def full() -> None:
        raise StorageFull()

    @app.get("/tampered")
    def tampered() -> None:
        raise BlobTampered()

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/full")
        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
        assert response.json()["code"] == "storage_full"
        response = client.get("/tampered")
        assert (response.status_code, response.json()["code"]) == (500, "blob_integrity_failed")


def test_production_refuses_to_start_without_blob_keys() -> None:
    real = {"secret_key": "k" * 40, "database_url": "postgresql://db/x"}
    with pytest.raises(ValidationError, match="BLOB_KEYS"):
        Settings(environment=Environment.production, blob_keys="", **real)
    zeros = base64.b64encode(bytes(32)).decode()
    with pytest.raises(ValidationError, match="placeholders"):
        Settings(environment=Environment.production, blob_keys=f"k1:{zeros}", **real)
    accepted = Settings(environment=Environment.production, blob_keys=f"k1:{new_blob_key()}", **real)
    assert accepted.blob_key_ring()[1] == "k1"


@pytest.mark.parametrize(
    ("keys", "active", "message"),
    [
        ("k1", "", "kid:base64key"),
        ("k1:not base64!", "", "base64"),
        ("k1:" + new_blob_key()[:20], "", "32 random bytes"),
        (f"k1:{new_blob_key()},k2:{new_blob_key()}", "", "ACTIVE_KEY_ID"),
        (f"k1:{new_blob_key()}", "k9", "ACTIVE_KEY_ID"),
        (f"bad id:{new_blob_key()}", "", "kid:base64key"),
    ],
)
def test_malformed_blob_keys_are_refused_at_startup(keys: str, active: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(blob_keys=keys, blob_active_key_id=active)


def test_blob_keys_parse_standard_and_url_safe_base64() -> None:
    key = bytes(range(250, 256)) * 5 + b"\xfb\xff"
    parsed = parse_blob_keys(
        f"a:{base64.b64encode(key).decode()}, b:{base64.urlsafe_b64encode(key).decode()}"
    )
    assert parsed == {"a": key, "b": key}


def test_get_blob_store_follows_the_settings(tmp_path: Path, s3_server: str) -> None:
    with settings_changed(CARDIOALERT_BLOB_BACKEND="local", CARDIOALERT_BLOB_DIR=str(tmp_path)):
        store = get_blob_store()
        assert store is get_blob_store()  # built once
        assert isinstance(store.backend, LocalDirectoryBackend)
        store.put("from-settings", b"x")
        assert (tmp_path / "from-settings").exists()
    with settings_changed(
        CARDIOALERT_BLOB_BACKEND=BlobBackendKind.s3.value,
        CARDIOALERT_S3_ENDPOINT_URL=s3_server,
        CARDIOALERT_S3_BUCKET=BUCKET,
        CARDIOALERT_S3_ACCESS_KEY_ID="test-access-key",
        CARDIOALERT_S3_SECRET_ACCESS_KEY="test-secret-key",
    ):
        store = get_blob_store()
        assert isinstance(store.backend, S3Backend)
        store.backend.ensure_bucket()
        store.put("from-settings", b"y")
        assert store.get("from-settings") == b"y"


def test_development_without_keys_makes_one_and_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARDIOALERT_BLOB_KEYS", raising=False)
    settings = Settings(environment=Environment.development, blob_keys="")
    keys, active = settings.blob_key_ring()
    assert active == "dev"
    assert len(keys["dev"]) == 32
    assert Settings(environment=Environment.development, blob_keys="").blob_key_ring() == (keys, active)
    assert os.stat(Path(__file__).resolve().parents[2] / "var" / "blob_key").st_mode & 0o077 == 0
