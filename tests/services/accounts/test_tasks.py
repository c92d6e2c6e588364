from datetime import timedelta

from sqlmodel import Session, select

from services.accounts.models import AuthSession, RefreshToken
from services.accounts.tasks import purge_stale_sign_ins
from services.db import utcnow
from tests.support import make_user


def test_stale_sign_ins_are_purged_and_live_ones_kept(db: Session) -> None:
    user = make_user(db)
    now = utcnow()
    live = AuthSession(user_id=user.id, last_used_at=now)
    idle = AuthSession(user_id=user.id, last_used_at=now - timedelta(days=31))
    db.add_all([live, idle])
    db.flush()
    fresh = RefreshToken(session_id=live.id, token_digest="a" * 64, expires_at=now + timedelta(days=30))
    just_expired = RefreshToken(
        session_id=live.id, token_digest="b" * 64, expires_at=now - timedelta(hours=1)
    )
    long_expired = RefreshToken(session_id=live.id, token_digest="c" * 64, expires_at=now - timedelta(days=2))
    db.add_all([fresh, just_expired, long_expired])
    db.commit()

    assert purge_stale_sign_ins(db, now) == 2
    assert {s.id for s in db.exec(select(AuthSession)).all()} == {live.id}
    assert {t.token_digest[0] for t in db.exec(select(RefreshToken)).all()} == {"a", "b"}
