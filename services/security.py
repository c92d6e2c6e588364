"""Password hashing (argon2id) and token primitives. No HTTP, no database."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.db import utcnow
from services.settings import get_settings

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret


@lru_cache
def password_hasher() -> PasswordHasher:
    settings = get_settings()
    return PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)


@lru_cache
def _dummy_hash() -> str:
    return password_hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists, so timing does not reveal accounts."""
    try:
        return (
            password_hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return password_hasher().check_needs_rehash(password_hash)


@lru_cache
def _signing_key() -> str:
    return get_settings().signing_key()


@dataclass(frozen=True)
class AccessClaims:
    subject: uuid.UUID
    role: str
    session_id: uuid.UUID | None
    expires_at: datetime


class InvalidTokenError(Exception):
    """The token is malformed, forged, of the wrong kind, or expired."""


def create_access_token(
    subject: uuid.UUID, role: str, session_id: uuid.UUID | None, lifetime: timedelta | None = None
) -> tuple[str, int]:
    """A short-lived signed access token and its lifetime in seconds (the API's lifetime unless
    another is given: the portal's cookie follows its own idle limit)."""
    settings = get_settings()
    lifetime = lifetime or timedelta(minutes=settings.access_token_minutes)
    now = utcnow()
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "sub": str(subject),
        "role": role,
        "typ": ACCESS_TOKEN_TYPE,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_hex(8),
    }
    if session_id is not None:
        claims["sid"] = str(session_id)
    return jwt.encode(claims, _signing_key(), algorithm=JWT_ALGORITHM), int(lifetime.total_seconds())


def decode_access_token(token: str) -> AccessClaims:
    settings = get_settings()
    try:
        claims = jwt.decode(
            token,
            _signing_key(),
            algorithms=[JWT_ALGORITHM],
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidTokenError("not an access token")
        session_id = claims.get("sid")
        return AccessClaims(
            subject=uuid.UUID(claims["sub"]),
            role=str(claims["role"]),
            session_id=uuid.UUID(session_id) if session_id else None,
            expires_at=datetime.fromtimestamp(claims["exp"], tz=utcnow().tzinfo),
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as error:
        raise InvalidTokenError(str(type(error).__name__)) from error


def new_opaque_token() -> str:
    """A random token for refresh tokens and client secrets (256 bits)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Opaque tokens are stored only as their SHA-256; they carry 256 random bits, so a slow
    hash adds nothing."""
    return hashlib.sha256(token.encode()).hexdigest()
