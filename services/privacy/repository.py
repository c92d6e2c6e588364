"""The queries of the export and the erasure: everything that names one person, table by table."""

import uuid
from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import Session, col, select

from booking.models import Booking, WebhookEvent
from notifications.models import Device, Notification, NotificationPreference
from services.accounts.models import AuthSession, User
from services.clinics.models import Clinic
from services.idempotency import IdempotencyRecord
from services.risk.models import RiskAssessment
from services.studies.models import AuditEvent, HospitalPatientLink, Study, StudyResult, StudyReview


class PrivacyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_user(self, user_id: uuid.UUID) -> User | None:
        """The person's row, locked: their bookings and uploads wait until the erasure is done."""
        return self.session.exec(select(User).where(User.id == user_id).with_for_update()).first()

    def sessions(self, user_id: uuid.UUID) -> Sequence[AuthSession]:
        return self.session.exec(
            select(AuthSession).where(AuthSession.user_id == user_id).order_by(col(AuthSession.created_at))
        ).all()

    def bookings(self, user_id: uuid.UUID) -> Sequence[Booking]:
        return self.session.exec(
            select(Booking).where(Booking.patient_id == user_id).order_by(col(Booking.starts_at))
        ).all()

    def clinics(self, clinic_ids: set[uuid.UUID]) -> dict[uuid.UUID, Clinic]:
        if not clinic_ids:
            return {}
        return {c.id: c for c in self.session.exec(select(Clinic).where(col(Clinic.id).in_(clinic_ids)))}

    def studies(self, user_id: uuid.UUID) -> Sequence[Study]:
        return self.session.exec(
            select(Study).where(Study.patient_id == user_id).order_by(col(Study.created_at))
        ).all()

    def results(self, study_ids: list[uuid.UUID]) -> dict[uuid.UUID, StudyResult]:
        statement = select(StudyResult).where(col(StudyResult.study_id).in_(study_ids))
        return {r.study_id: r for r in self.session.exec(statement)} if study_ids else {}

    def reviews(self, study_ids: list[uuid.UUID]) -> Sequence[StudyReview]:
        if not study_ids:
            return []
        return self.session.exec(
            select(StudyReview)
            .where(col(StudyReview.study_id).in_(study_ids))
            .order_by(col(StudyReview.created_at))
        ).all()

    def risk_assessments(self, user_id: uuid.UUID) -> Sequence[RiskAssessment]:
        return self.session.exec(
            select(RiskAssessment)
            .where(RiskAssessment.patient_id == user_id)
            .order_by(col(RiskAssessment.created_at))
        ).all()

    def devices(self, user_id: uuid.UUID) -> Sequence[Device]:
        return self.session.exec(
            select(Device).where(Device.user_id == user_id).order_by(col(Device.created_at))
        ).all()

    def notification_preferences(self, user_id: uuid.UUID) -> NotificationPreference | None:
        return self.session.get(NotificationPreference, user_id)

    def notifications(self, user_id: uuid.UUID) -> Sequence[Notification]:
        return self.session.exec(
            select(Notification).where(Notification.user_id == user_id).order_by(col(Notification.send_at))
        ).all()

    def hospital_links(self, user_id: uuid.UUID) -> Sequence[HospitalPatientLink]:
        return self.session.exec(
            select(HospitalPatientLink).where(HospitalPatientLink.patient_id == user_id)
        ).all()

    def audit_events_about(self, user_id: uuid.UUID) -> Sequence[AuditEvent]:
        return self.session.exec(
            select(AuditEvent).where(AuditEvent.subject_id == user_id).order_by(col(AuditEvent.at))
        ).all()

    def webhook_events_naming(self, user_id: uuid.UUID) -> Sequence[WebhookEvent]:
        """Booking events (sent or not) whose payload carries the person's id."""
        return self.session.exec(
            select(WebhookEvent).where(WebhookEvent.payload["patient_id"].as_string() == str(user_id))
        ).all()

    def delete_idempotency_records(self, user_id: uuid.UUID) -> None:
        """Stored answers of the person's retried requests (they may hold their data)."""
        self.session.execute(delete(IdempotencyRecord).where(col(IdempotencyRecord.principal_id) == user_id))

    def add(self, *rows: object) -> None:
        self.session.add_all(rows)

    def delete(self, row: object) -> None:
        self.session.delete(row)
