"""The one settings object. Every variable is read from the environment (prefix CARDIOALERT_)
or a .env file, and documented in README.md."""

import base64
import binascii
import re
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev"}
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BLOB_KEY_BYTES = 32  # AES-256
BLOB_KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
DEV_BLOB_KEY_ID = "dev"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class BlobBackendKind(StrEnum):
    local = "local"
    s3 = "s3"


def parse_blob_keys(text: str) -> dict[str, bytes]:
    """'kid:base64key,kid2:base64key' → key id → 32-byte key (standard or URL-safe base64)."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key_id, separator, encoded = (part.strip() for part in item.partition(":"))
        if not separator or not BLOB_KEY_ID_PATTERN.fullmatch(key_id):
            raise ValueError(
                "CARDIOALERT_BLOB_KEYS must read 'kid:base64key,...' (ids: letters, digits, _ -)"
            )
        try:
            key = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
        except binascii.Error as error:
            raise ValueError(f"CARDIOALERT_BLOB_KEYS: key {key_id!r} is not valid base64") from error
        if len(key) != BLOB_KEY_BYTES:
            raise ValueError(f"CARDIOALERT_BLOB_KEYS: key {key_id!r} must be {BLOB_KEY_BYTES} random bytes")
        keys[key_id] = key
    return keys


def new_blob_key() -> str:
    """A fresh key, base64 encoded, as CARDIOALERT_BLOB_KEYS takes it."""
    return base64.b64encode(secrets.token_bytes(BLOB_KEY_BYTES)).decode()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARDIOALERT_", env_file=".env", extra="ignore")

    environment: Environment = Environment.development
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'cardioalert.sqlite3'}"
    redis_url: str | None = None
    redis_key_prefix: str = "cardioalert:"

    secret_key: str = ""
    jwt_issuer: str = "cardioalert"
    access_token_minutes: int = Field(default=15, ge=1, le=60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)

    max_json_bytes: int = Field(default=1_000_000, ge=1024)
    max_upload_bytes: int = Field(default=20_000_000, ge=1024)

    # The clinic portal's cookie session: it ends after this long without a request, and at
    # the latest this long after sign-in (a shared reception computer must not stay signed in).
    portal_idle_minutes: int = Field(default=30, ge=5, le=720)
    portal_session_hours: int = Field(default=12, ge=1, le=72)

    login_max_failures: int = Field(default=5, ge=1)
    login_ip_max_failures: int = Field(default=50, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    # Each costs an argon2id hash (~90 ms of a core) and leaves an account behind.
    registrations_per_address_per_hour: int = Field(default=20, ge=1)

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=1024)

    # Booking rules.
    booking_hold_minutes: int = Field(default=10, ge=1, le=120)
    booking_cancel_cutoff_hours: float = Field(default=2.0, ge=0)
    booking_max_active_per_patient: int = Field(default=3, ge=1)
    booking_reminder_hours: list[int] = Field(default=[24, 2])
    slot_horizon_days: int = Field(default=60, ge=1, le=366)
    # Changes of the last seconds are left out of the hospital systems' change feed, so a
    # transaction committing late can never slip behind a cursor already handed out.
    his_feed_settle_seconds: float = Field(default=5.0, ge=0)

    # Push notifications. Without credentials a platform's pushes go to the log (and the inbox).
    apns_key_file: Path | None = None
    apns_key_id: str = ""
    apns_team_id: str = ""
    apns_topic: str = "app.cardioalert.ios"
    apns_base_url: str = "https://api.push.apple.com"
    apns_ca_file: Path | None = None
    fcm_credentials_file: Path | None = None
    push_batch_size: int = Field(default=500, ge=1, le=500)
    push_max_attempts: int = Field(default=12, ge=1)
    push_retry_base_seconds: float = Field(default=5.0, gt=0)
    push_retry_max_seconds: float = Field(default=900.0, gt=0)
    dispatch_idle_seconds: float = Field(default=1.0, gt=0)
    # None: run the worker (dispatcher, upkeep) inside the API process when on SQLite.
    in_process_worker: bool | None = None

    # How stale the in-process clinic catalogue may get before its version is checked again.
    clinic_catalogue_check_seconds: float = Field(default=1.0, ge=0)
    # Requests one api process serves at once (more get 503 at once). Each holds at most one
    # worker thread at a time and there are as many threads as admitted requests, so a request
    # holding a row lock can always get a thread to finish and release it.
    max_concurrent_requests: int = Field(default=400, ge=10)

    # Blob storage (services/storage.py): ECG originals and reports, encrypted with AES-GCM.
    blob_backend: BlobBackendKind = BlobBackendKind.local
    blob_dir: Path = PROJECT_ROOT / "var" / "blobs"
    s3_endpoint_url: str | None = None
    s3_bucket: str = "cardioalert-blobs"
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # "kid:base64key,..." — keep old ids listed after a rotation: their blobs still need them.
    blob_keys: str = ""
    blob_active_key_id: str = ""

    # ECG studies (services/studies): intake limits and the background analysis.
    max_image_pixels: int = Field(default=50_000_000, ge=1_000_000)  # refused before decoding
    job_worker_threads: int = Field(default=2, ge=1, le=32)
    # A worker that misses its Redis heartbeats this long is dead: its jobs go to another.
    job_heartbeat_timeout_ms: int = Field(default=60_000, ge=1_000)
    # A study pending this long without a worker taking it is sent to the queue again ...
    study_resend_after_seconds: float = Field(default=60.0, gt=0)
    # ... and one processing this long is taken to have lost its worker.
    study_stale_seconds: float = Field(default=600.0, gt=0)
    # A study whose analysis was started this often without an outcome fails (analysis_failed).
    study_max_attempts: int = Field(default=8, ge=1)

    # The interactive docs (/docs) and the live OpenAPI document (/openapi.json). None: served
    # everywhere but production (the contract ships as ios_contract/openapi.json).
    api_docs: bool | None = None

    log_level: str = "INFO"
    # None: load the fictional demo clinics everywhere but production.
    seed_demo_data: bool | None = None

    @model_validator(mode="after")
    def refuse_placeholder_secret_in_production(self) -> "Settings":
        if self.environment is Environment.production:
            if self.secret_key.strip().lower() in PLACEHOLDER_SECRETS or len(self.secret_key) < 32:
                raise ValueError(
                    "CARDIOALERT_SECRET_KEY must be set to at least 32 random characters in production"
                )
            if self.database_url.startswith("sqlite"):
                raise ValueError("CARDIOALERT_DATABASE_URL must point at PostgreSQL in production")
            if not self.blob_keys.strip():
                raise ValueError("CARDIOALERT_BLOB_KEYS must hold the blob encryption keys in production")
            # 32 random bytes hold ~30 distinct values; a handful means a typed-in placeholder.
            if any(len(set(key)) < 16 for key in parse_blob_keys(self.blob_keys).values()):
                raise ValueError(
                    "CARDIOALERT_BLOB_KEYS must hold random keys in production, not placeholders"
                )
        return self

    @model_validator(mode="after")
    def check_blob_keys(self) -> "Settings":
        if self.blob_keys.strip():
            keys = parse_blob_keys(self.blob_keys)
            active = self.blob_active_key_id or (next(iter(keys)) if len(keys) == 1 else "")
            if active not in keys:
                raise ValueError("CARDIOALERT_BLOB_ACTIVE_KEY_ID must name one of CARDIOALERT_BLOB_KEYS")
        return self

    @property
    def load_demo_seed(self) -> bool:
        if self.seed_demo_data is None:
            return self.environment is not Environment.production
        return self.seed_demo_data

    @property
    def serves_api_docs(self) -> bool:
        if self.api_docs is None:
            return self.environment is not Environment.production
        return self.api_docs

    @property
    def runs_worker_in_process(self) -> bool:
        return self.is_sqlite if self.in_process_worker is None else self.in_process_worker

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def signing_key(self) -> str:
        """The JWT key. Outside production an unset key becomes a random one kept in var/,
        so tokens survive restarts of `make run` without anyone choosing a secret."""
        if self.secret_key.strip().lower() not in PLACEHOLDER_SECRETS:
            return self.secret_key
        key_file = PROJECT_ROOT / "var" / "secret_key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return key_file.read_text().strip()

    def blob_key_ring(self) -> tuple[dict[str, bytes], str]:
        """The blob keys and the active key id. Outside production unset keys become one random
        key kept in var/, as for the signing key, so `make run` keeps reading its own blobs."""
        if self.blob_keys.strip():
            keys = parse_blob_keys(self.blob_keys)
            return keys, self.blob_active_key_id or next(iter(keys))
        key_file = PROJECT_ROOT / "var" / "blob_key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(new_blob_key())
            key_file.chmod(0o600)
        return parse_blob_keys(f"{DEV_BLOB_KEY_ID}:{key_file.read_text().strip()}"), DEV_BLOB_KEY_ID


@lru_cache
def get_settings() -> Settings:
    return Settings()
