"""booking and clinic details

Revision ID: 6e214c983943
Revises: da5e60976254
Created: 2026-11-25 21:44:16.124575+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6e214c983943"
down_revision: str | None = "da5e60976254"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint("principal_id", "key", name=op.f("uq_idempotency_records_principal_id")),
    )
    op.create_table(
        "clinic_closures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_clinic_closures_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_closures")),
        sa.UniqueConstraint("clinic_id", "day", name=op.f("uq_clinic_closures_clinic_id")),
    )
    op.create_table(
        "clinic_services",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column(
            "service",
            sa.Enum(
                "ecg",
                "holter",
                "echocardiography",
                "cardiology_consultation",
                "stress_test",
                name="clinicservice",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_clinic_services_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("clinic_id", "service", name=op.f("pk_clinic_services")),
    )
    op.create_table(
        "resources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "room", "device", name="resourcekind", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_resources_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
    )
    op.create_index(op.f("ix_resources_clinic_id"), "resources", ["clinic_id"], unique=False)
    op.create_table(
        "schedule_exceptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_schedule_exceptions_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_schedule_exceptions_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_schedule_exceptions_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_exceptions")),
    )
    op.create_index(
        op.f("ix_schedule_exceptions_clinic_id"), "schedule_exceptions", ["clinic_id"], unique=False
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column(
            "service",
            sa.Enum(
                "ecg",
                "holter",
                "echocardiography",
                "cardiology_consultation",
                "stress_test",
                name="clinicservice",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_schedules_capacity_positive")),
        sa.CheckConstraint("slot_minutes BETWEEN 5 AND 480", name=op.f("ck_schedules_slot_minutes_range")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_schedules_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_schedules_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index(op.f("ix_schedules_clinic_id"), "schedules", ["clinic_id"], unique=False)
    op.create_index(op.f("ix_schedules_resource_id"), "schedules", ["resource_id"], unique=False)
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hospital_client_id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_webhook_endpoints_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hospital_client_id"],
            ["hospital_clients.id"],
            name=op.f("fk_webhook_endpoints_hospital_client_id_hospital_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(
        op.f("ix_webhook_endpoints_hospital_client_id"),
        "webhook_endpoints",
        ["hospital_client_id"],
        unique=False,
    )
    op.create_table(
        "slots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column(
            "service",
            sa.Enum(
                "ecg",
                "holter",
                "echocardiography",
                "cardiology_consultation",
                "stress_test",
                name="clinicservice",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked_count", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open", "blocked", name="slotstatus", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("blocked_reason", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "booked_count >= 0 AND booked_count <= capacity", name=op.f("ck_slots_within_capacity")
        ),
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_slots_capacity_positive")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_slots_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_slots_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name=op.f("fk_slots_resource_id_resources"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_slots_schedule_id_schedules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slots")),
        sa.UniqueConstraint("resource_id", "starts_at", name=op.f("uq_slots_resource_id")),
    )
    op.create_index(op.f("ix_slots_schedule_id"), "slots", ["schedule_id"], unique=False)
    op.create_index("ix_slots_search", "slots", ["clinic_id", "service", "starts_at"], unique=False)
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=50), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "delivered",
                "failed",
                name="webhookeventstate",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_events_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
    )
    op.create_index("ix_webhook_events_due", "webhook_events", ["state", "next_attempt_at"], unique=False)
    op.create_index(op.f("ix_webhook_events_endpoint_id"), "webhook_events", ["endpoint_id"], unique=False)
    op.create_table(
        "bookings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("slot_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column(
            "service",
            sa.Enum(
                "ecg",
                "holter",
                "echocardiography",
                "cardiology_consultation",
                "stress_test",
                name="clinicservice",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "proposed",
                "pending",
                "booked",
                "arrived",
                "fulfilled",
                "cancelled",
                "noshow",
                name="bookingstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_bookings_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["users.id"], name=op.f("fk_bookings_patient_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["slot_id"], ["slots.id"], name=op.f("fk_bookings_slot_id_slots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
    )
    op.create_index("ix_bookings_changes", "bookings", ["clinic_id", "updated_at", "id"], unique=False)
    op.create_index("ix_bookings_day", "bookings", ["clinic_id", "starts_at"], unique=False)
    op.create_index("ix_bookings_patient", "bookings", ["patient_id", "status"], unique=False)
    op.create_index(op.f("ix_bookings_slot_id"), "bookings", ["slot_id"], unique=False)
    # Existing clinics get neutral values; the next seed load (or staff) fills them in.
    new_columns = {
        "city_slug": (sa.String(length=100), ""),
        "accessibility_en": (sa.String(length=1000), ""),
        "accessibility_ru": (sa.String(length=1000), ""),
        "accessibility_uz": (sa.String(length=1000), ""),
        "working_hours": (sa.JSON(), "{}"),
        "languages": (sa.JSON(), "[]"),
        "his_confirms_bookings": (sa.Boolean(), sa.false()),
        "search_text": (sa.Text(), ""),
    }
    with op.batch_alter_table("clinics") as batch:
        for name, (column_type, default) in new_columns.items():
            batch.add_column(sa.Column(name, column_type, nullable=False, server_default=default))
    with op.batch_alter_table("clinics") as batch:
        for name in new_columns:
            batch.alter_column(name, server_default=None)
    op.create_index(op.f("ix_clinics_city_slug"), "clinics", ["city_slug"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # What no Python check can race past: two overlapping slots of one resource, and one
        # patient with two overlapping active bookings (partial overlaps included).
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE slots ADD CONSTRAINT ex_slots_resource_overlap "
            "EXCLUDE USING gist (resource_id WITH =, tstzrange(starts_at, ends_at) WITH &&)"
        )
        op.execute(
            "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_patient_overlap "
            "EXCLUDE USING gist (patient_id WITH =, tstzrange(starts_at, ends_at) WITH &&) "
            "WHERE (status IN ('proposed', 'pending', 'booked', 'arrived'))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE bookings DROP CONSTRAINT ex_bookings_patient_overlap")
        op.execute("ALTER TABLE slots DROP CONSTRAINT ex_slots_resource_overlap")
    op.drop_index(op.f("ix_clinics_city_slug"), table_name="clinics")
    with op.batch_alter_table("clinics") as batch:
        for name in (
            "his_confirms_bookings",
            "search_text",
            "languages",
            "working_hours",
            "accessibility_uz",
            "accessibility_ru",
            "accessibility_en",
            "city_slug",
        ):
            batch.drop_column(name)
    op.drop_index(op.f("ix_bookings_slot_id"), table_name="bookings")
    op.drop_index("ix_bookings_patient", table_name="bookings")
    op.drop_index("ix_bookings_day", table_name="bookings")
    op.drop_index("ix_bookings_changes", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index(op.f("ix_webhook_events_endpoint_id"), table_name="webhook_events")
    op.drop_index("ix_webhook_events_due", table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_index("ix_slots_search", table_name="slots")
    op.drop_index(op.f("ix_slots_schedule_id"), table_name="slots")
    op.drop_table("slots")
    op.drop_index(op.f("ix_webhook_endpoints_hospital_client_id"), table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    op.drop_index(op.f("ix_schedules_resource_id"), table_name="schedules")
    op.drop_index(op.f("ix_schedules_clinic_id"), table_name="schedules")
    op.drop_table("schedules")
    op.drop_index(op.f("ix_schedule_exceptions_clinic_id"), table_name="schedule_exceptions")
    op.drop_table("schedule_exceptions")
    op.drop_index(op.f("ix_resources_clinic_id"), table_name="resources")
    op.drop_table("resources")
    op.drop_table("clinic_services")
    op.drop_table("clinic_closures")
    op.drop_table("idempotency_records")
