"""Background upkeep of accounts (run by the worker)."""

from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlmodel import Session, col

from services.accounts.models import AuthSession, RefreshToken
from services.settings import get_settings

# Kept a day past expiry, so a replayed token is still recognised as reuse, not as unknown.
EXPIRED_TOKEN_GRACE = timedelta(days=1)


def purge_stale_sign_ins(session: Session, now: datetime) -> int:
    """Delete refresh tokens past their expiry and sessions that ended or went idle for longer
    than a refresh token lives. Returns how many rows went."""
    idle_limit = now - timedelta(days=get_settings().refresh_token_days)
    tokens = session.execute(
        delete(RefreshToken).where(col(RefreshToken.expires_at) < now - EXPIRED_TOKEN_GRACE)
    )
    sessions = session.execute(
        delete(AuthSession).where(
            or_(col(AuthSession.revoked_at) < idle_limit, col(AuthSession.last_used_at) < idle_limit)
        )
    )
    return tokens.rowcount + sessions.rowcount  # type: ignore[attr-defined]
