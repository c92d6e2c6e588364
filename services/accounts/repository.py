"""Every query of the accounts domain."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from services.accounts.models import AuthSession, ClinicMembership, HospitalClient, RefreshToken, Role, User


class AccountsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, *rows: object) -> None:
        self.session.add_all(rows)
        self.session.flush()

    def get_user(self, user_id: uuid.UUID) -> User | None:
        return self.session.get(User, user_id)

    def get_user_by_email(self, email: str) -> User | None:
        return self.session.exec(select(User).where(User.email == email)).first()

    def get_user_by_phone(self, phone: str) -> User | None:
        return self.session.exec(select(User).where(User.phone == phone)).first()

    def full_names(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not user_ids:
            return {}
        statement = select(User.id, User.full_name).where(col(User.id).in_(set(user_ids)))
        return dict(self.session.exec(statement).all())  # type: ignore[arg-type]

    def get_signed_in_user(
        self, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> tuple[User, AuthSession] | None:
        """The active user behind an access token, if its sign-in session is still valid."""
        statement = (
            select(User, AuthSession)
            .join(AuthSession, col(AuthSession.user_id) == col(User.id))
            .where(
                User.id == user_id,
                AuthSession.id == session_id,
                col(AuthSession.revoked_at).is_(None),
                col(User.is_active).is_(True),
            )
        )
        row = self.session.exec(statement).first()
        return (row[0], row[1]) if row else None

    def clinic_ids_of(self, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
        statement = select(ClinicMembership.clinic_id).where(ClinicMembership.user_id == user_id)
        return frozenset(self.session.exec(statement).all())

    def get_refresh_token_for_update(self, digest: str) -> RefreshToken | None:
        statement = select(RefreshToken).where(RefreshToken.token_digest == digest).with_for_update()
        return self.session.exec(statement).first()

    def get_auth_session(self, session_id: uuid.UUID) -> AuthSession | None:
        return self.session.get(AuthSession, session_id)

    def get_auth_session_of_user(self, session_id: uuid.UUID, user_id: uuid.UUID) -> AuthSession | None:
        statement = select(AuthSession).where(AuthSession.id == session_id, AuthSession.user_id == user_id)
        return self.session.exec(statement).first()

    def list_active_sessions(self, user_id: uuid.UUID) -> Sequence[AuthSession]:
        statement = (
            select(AuthSession)
            .where(AuthSession.user_id == user_id, col(AuthSession.revoked_at).is_(None))
            .order_by(col(AuthSession.last_used_at).desc())
        )
        return self.session.exec(statement).all()

    def revoke_sessions(
        self, user_id: uuid.UUID, *, at: datetime, reason: str, keep: uuid.UUID | None = None
    ) -> None:
        statement = (
            update(AuthSession)
            .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=at, revoked_reason=reason)
        )
        if keep is not None:
            statement = statement.where(col(AuthSession.id) != keep)
        self.session.execute(statement)

    def get_hospital_client_by_client_id(self, client_id: str) -> HospitalClient | None:
        return self.session.exec(select(HospitalClient).where(HospitalClient.client_id == client_id)).first()

    def get_hospital_client(self, client_uuid: uuid.UUID) -> HospitalClient | None:
        return self.session.get(HospitalClient, client_uuid)

    def list_clinic_members(self, clinic_id: uuid.UUID) -> Sequence[User]:
        statement = (
            select(User)
            .join(ClinicMembership, col(ClinicMembership.user_id) == col(User.id))
            .where(
                ClinicMembership.clinic_id == clinic_id,
                col(User.role).in_([Role.clinic_staff, Role.clinician]),
                col(User.is_active).is_(True),
            )
            .order_by(col(User.full_name))
        )
        return self.session.exec(statement).all()
