"""The one blob storage: ECG originals, rendered reports and other files, encrypted at rest.

`BlobStore` is what the rest of the code uses: put / get / delete / exists by key, synchronous
(it is called from worker threads and jobs, like the database session). It encrypts every blob
with AES-256-GCM before it leaves the process, so neither the disk nor the S3 bucket holds
plain health data, and hands the ciphertext to one of two backends:

- `LocalDirectoryBackend`: a directory (the embedded default, var/blobs); writes are atomic
  (temp file, fsync, rename), keys cannot escape the directory;
- `S3Backend`: any S3-protocol store through boto3 (MinIO in docker-compose.yml, AWS S3).

Each stored blob starts with a small header: magic, format version, key id, content type and
nonce. Reading picks the key by its id, so the active key can change at any time; old blobs
stay readable while their key stays in the ring, and `reencrypt` moves one to the active key.
The header is authenticated with the data (GCM associated data), and so is the blob's key, so
a changed byte, a changed header or a blob copied under another key fails as `BlobTampered`.

Failures are errors of the project's family (services.errors): the store being unreachable or
full is a 503 the client can retry; a tampered blob or a missing key id is our fault (500).
"""

import errno
import logging
import os
import re
import secrets
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from i18n import N_
from services.errors import AppError, NotFound, ServiceUnavailable
from services.settings import BLOB_KEY_BYTES, BLOB_KEY_ID_PATTERN, BlobBackendKind, Settings, get_settings

logger = logging.getLogger("cardioalert.storage")

MAGIC = b"CAB"  # "CardioAlert blob"
FORMAT_VERSION = 1
NONCE_BYTES = 12  # the GCM standard nonce; random per blob (2^32 blobs per key stay far below the limit)
# Keys are paths of plain segments: letters, digits, '.', '_', '-', never '.' or '..' alone.
BLOB_KEY_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
MAX_BLOB_KEY_CHARS = 512
MAX_CONTENT_TYPE_BYTES = 255
DEFAULT_CONTENT_TYPE = "application/octet-stream"
TEMP_PREFIX = ".tmp-"  # partial writes of the local backend; never a valid key segment


# ------------------------------------------------------------------ errors


class StorageUnavailable(ServiceUnavailable):
    """The blob store cannot be reached or refused the operation; retrying later may work."""

    code = "storage_unavailable"
    title = N_("File storage unavailable")
    detail = N_("Stored files cannot be reached right now. Please try again in a few minutes.")


class StorageFull(StorageUnavailable):
    code = "storage_full"
    title = N_("File storage full")
    detail = N_("There is no room to store files right now. Please try again later.")


class BlobNotFound(NotFound):
    code = "blob_not_found"
    title = N_("File not found")
    detail = N_("The stored file was not found.")


class BlobTampered(AppError):
    """The blob failed authentication: it was changed, truncated or is not one of ours."""

    code = "blob_integrity_failed"
    title = N_("Stored file is damaged")
    detail = N_("A stored file failed its integrity check. Our team has been notified.")


class BlobKeyMissing(BlobTampered):
    """The blob names a key id the key ring no longer holds (it was dropped too early)."""

    code = "blob_key_missing"


class InvalidBlobKey(ValueError):
    """A key that is not a plain relative path of safe segments. Keys are made by our code
    (never taken from a request as they are), so this is a programming error, not a 4xx."""


# ------------------------------------------------------------------ keys


@dataclass(frozen=True)
class KeyRing:
    """Key id → 256-bit AES key; new blobs are written with `active_id`."""

    keys: dict[str, bytes]
    active_id: str

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not BLOB_KEY_ID_PATTERN.fullmatch(key_id):
                raise ValueError(f"blob key id {key_id!r} must be 1-32 letters, digits, '_' or '-'")
            if len(key) != BLOB_KEY_BYTES:
                raise ValueError(f"blob key {key_id!r} must be {BLOB_KEY_BYTES} bytes, got {len(key)}")
        if self.active_id not in self.keys:
            raise ValueError(f"the active blob key id {self.active_id!r} is not in the key ring")

    @classmethod
    def from_settings(cls, settings: Settings) -> "KeyRing":
        keys, active_id = settings.blob_key_ring()
        return cls(keys, active_id)


def _header(key_id: str, content_type: str, nonce: bytes) -> bytes:
    kid = key_id.encode("ascii")
    ctype = content_type.encode("utf-8")
    return MAGIC + bytes([FORMAT_VERSION, len(kid)]) + kid + bytes([len(ctype)]) + ctype + nonce


@dataclass(frozen=True)
class _Envelope:
    key_id: str
    content_type: str
    header: bytes  # authenticated with the ciphertext
    ciphertext: bytes  # with the 16-byte GCM tag at its end


def _open_envelope(raw: bytes) -> _Envelope:
    try:
        if raw[:3] != MAGIC or raw[3] != FORMAT_VERSION:
            raise BlobTampered()
        position = 4
        kid_length = raw[position]
        key_id = raw[position + 1 : position + 1 + kid_length].decode("ascii")
        position += 1 + kid_length
        ctype_length = raw[position]
        content_type = raw[position + 1 : position + 1 + ctype_length].decode("utf-8")
        position += 1 + ctype_length + NONCE_BYTES
        if len(raw) < position + 16:
            raise BlobTampered()
    except (IndexError, UnicodeDecodeError) as error:
        raise BlobTampered() from error
    return _Envelope(key_id, content_type, raw[:position], raw[position:])


# ------------------------------------------------------------------ backends


class BlobBackend(Protocol):
    """Stores opaque bytes by key; BlobStore encrypts before and decrypts after."""

    def write(self, key: str, data: bytes) -> None: ...
    def read(self, key: str) -> bytes: ...
    def remove(self, key: str) -> None: ...
    def contains(self, key: str) -> bool: ...


def check_blob_key(key: str) -> str:
    segments = key.split("/")
    if (
        not key
        or len(key) > MAX_BLOB_KEY_CHARS
        or not all(BLOB_KEY_SEGMENT.fullmatch(segment) for segment in segments)
        or any(segment in {".", ".."} or segment.startswith(TEMP_PREFIX) for segment in segments)
    ):
        raise InvalidBlobKey(f"not a valid blob key: {key!r}")
    return key


@contextmanager
def local_storage_errors() -> Iterator[None]:
    """OS errors of the local directory as the project's storage errors."""
    try:
        yield
    except FileNotFoundError as error:
        raise BlobNotFound() from error
    except OSError as error:
        if error.errno in {errno.ENOSPC, errno.EDQUOT}:
            logger.error("blob storage full", extra={"error_type": type(error).__name__})
            raise StorageFull() from error
        logger.error("blob storage failed", extra={"error_type": type(error).__name__})
        raise StorageUnavailable() from error


def write_and_sync(handle: IO[bytes], data: bytes) -> None:
    """Write all of `data` and push it to the disk: a full disk shows here (ENOSPC), not later."""
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


class LocalDirectoryBackend:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path_of(self, key: str) -> Path:
        path = (self.root / check_blob_key(key)).resolve()
        # The key check already refuses '..'; this also catches a symlink planted inside the root.
        if not path.is_relative_to(self.root):
            raise InvalidBlobKey(f"blob key {key!r} leaves the storage directory")
        return path

    def write(self, key: str, data: bytes) -> None:
        path = self.path_of(key)
        with local_storage_errors():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write beside the target and rename over it: a reader sees the old blob or the new
            # one, never half of one, and a crash leaves at most a temp file behind.
            descriptor, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    write_and_sync(handle, data)
                os.replace(temp_name, path)
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(temp_name)
                raise
            self._sync_directory(path.parent)

    @staticmethod
    def _sync_directory(directory: Path) -> None:
        # The rename itself lives in the directory; without this a power cut may forget it.
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def read(self, key: str) -> bytes:
        path = self.path_of(key)
        with local_storage_errors():
            return path.read_bytes()

    def remove(self, key: str) -> None:
        path = self.path_of(key)
        with local_storage_errors(), suppress(FileNotFoundError):
            path.unlink()

    def contains(self, key: str) -> bool:
        path = self.path_of(key)
        with local_storage_errors():
            return path.is_file()


# S3 error codes meaning "no such object" (GetObject says NoSuchKey, HeadObject only 404).
S3_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3Backend:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        connect_timeout: float = 2.0,
        read_timeout: float = 20.0,
    ) -> None:
        self.bucket = bucket
        # A boto3 client is thread-safe (a boto3 Session is not): one client per backend.
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": 3, "mode": "standard"},
                # MinIO and most self-hosted S3 servers address buckets by path, not by host name.
                s3={"addressing_style": "path"},
                signature_version="s3v4",
            ),
        )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in S3_MISSING_CODES:
                raise BlobNotFound() from error
            logger.error("blob storage refused", extra={"error_type": f"S3 {code}"})
            raise StorageUnavailable() from error
        except BotoCoreError as error:  # connection refused, timeouts, DNS
            logger.error("blob storage unreachable", extra={"error_type": type(error).__name__})
            raise StorageUnavailable() from error

    def write(self, key: str, data: bytes) -> None:
        with self._errors():
            # The object is ciphertext, whatever the blob holds; its real type is in the header.
            self.client.put_object(
                Bucket=self.bucket, Key=check_blob_key(key), Body=data, ContentType=DEFAULT_CONTENT_TYPE
            )

    def read(self, key: str) -> bytes:
        with self._errors():
            response = self.client.get_object(Bucket=self.bucket, Key=check_blob_key(key))
            return response["Body"].read()

    def remove(self, key: str) -> None:
        with self._errors():
            self.client.delete_object(Bucket=self.bucket, Key=check_blob_key(key))

    def contains(self, key: str) -> bool:
        try:
            with self._errors():
                self.client.head_object(Bucket=self.bucket, Key=check_blob_key(key))
        except BlobNotFound:
            return False
        return True

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist (prestart, tests, a fresh MinIO)."""
        with self._errors():
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as error:
                if str(error.response.get("Error", {}).get("Code", "")) not in {"404", "NoSuchBucket"}:
                    raise
                self.client.create_bucket(Bucket=self.bucket)


# ------------------------------------------------------------------ the store


@dataclass(frozen=True)
class Blob:
    data: bytes
    content_type: str
    key_id: str  # the encryption key it is stored under


class BlobStore:
    def __init__(self, backend: BlobBackend, key_ring: KeyRing) -> None:
        self.backend = backend
        self.key_ring = key_ring

    def put(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        check_blob_key(key)
        self.backend.write(key, self._seal(key, data, content_type))

    def get(self, key: str) -> bytes:
        return self.get_blob(key).data

    def get_blob(self, key: str) -> Blob:
        """The blob with its content type and the id of the key it is encrypted with."""
        return self._unseal(key, self.backend.read(key))

    def delete(self, key: str) -> None:
        """Remove the blob; removing one that is not there is not an error."""
        self.backend.remove(key)

    def exists(self, key: str) -> bool:
        return self.backend.contains(key)

    def reencrypt(self, key: str) -> bool:
        """Store the blob again under the active key (key rotation). False when it already was.
        Read-then-write: meant for blobs that are written once (originals, reports), not for a key
        another process may be rewriting at the same moment."""
        blob = self.get_blob(key)
        if blob.key_id == self.key_ring.active_id:
            return False
        self.put(key, blob.data, blob.content_type)
        return True

    def _seal(self, key: str, data: bytes, content_type: str) -> bytes:
        if len(content_type.encode("utf-8")) > MAX_CONTENT_TYPE_BYTES:
            raise ValueError("content type too long")
        key_id = self.key_ring.active_id
        nonce = secrets.token_bytes(NONCE_BYTES)
        header = _header(key_id, content_type, nonce)
        ciphertext = AESGCM(self.key_ring.keys[key_id]).encrypt(nonce, data, header + key.encode())
        return header + ciphertext

    def _unseal(self, key: str, raw: bytes) -> Blob:
        envelope = _open_envelope(raw)
        secret = self.key_ring.keys.get(envelope.key_id)
        if secret is None:
            logger.error("blob key id not in the key ring", extra={"error_type": "BlobKeyMissing"})
            raise BlobKeyMissing()
        nonce = envelope.header[-NONCE_BYTES:]
        try:
            data = AESGCM(secret).decrypt(nonce, envelope.ciphertext, envelope.header + key.encode())
        except InvalidTag as error:
            logger.error("blob failed authentication", extra={"error_type": "InvalidTag"})
            raise BlobTampered() from error
        return Blob(data, envelope.content_type, envelope.key_id)


# ------------------------------------------------------------------ key rotation


@dataclass
class RotationReport:
    reencrypted: int = 0
    already_active: int = 0
    missing: list[str] = field(default_factory=list)  # keys the database names but storage lacks

    @property
    def seen(self) -> int:
        return self.reencrypted + self.already_active + len(self.missing)


def reencrypt_all(
    store: BlobStore, keys: Iterable[str], progress: Callable[[RotationReport], None] | None = None
) -> RotationReport:
    """Store every blob of `keys` under the active key (the middle step of a key rotation).
    Safe to stop and run again: blobs already under the active key are only read."""
    report = RotationReport()
    for key in keys:
        try:
            if store.reencrypt(key):
                report.reencrypted += 1
            else:
                report.already_active += 1
        except BlobNotFound:
            report.missing.append(key)
        if progress is not None:
            progress(report)
    return report


def key_ids_in_use(store: BlobStore, keys: Iterable[str]) -> Counter[str]:
    """How many of the blobs are under each key id ('missing' for those not found): a key may
    leave the ring once no blob is under it."""
    counts: Counter[str] = Counter()
    for key in keys:
        try:
            counts[store.get_blob(key).key_id] += 1
        except BlobNotFound:
            counts["missing"] += 1
    return counts


@lru_cache
def get_blob_store() -> BlobStore:
    """The store the settings describe, built once per process."""
    settings = get_settings()
    backend: BlobBackend
    if settings.blob_backend is BlobBackendKind.s3:
        backend = S3Backend(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
    else:
        backend = LocalDirectoryBackend(settings.blob_dir)
    return BlobStore(backend, KeyRing.from_settings(settings))
