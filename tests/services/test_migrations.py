"""Alembic is the only way the schema is made, so the migrations must match the models and
run both ways."""

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Enum, inspect

from services.db import make_engine
from services.migrations import ALEMBIC_INI, alembic_config, downgrade_to_base, upgrade_to_head
from services.models import metadata
from tests.conftest import POSTGRES_ADMIN_URL
from tests.infra import create_database, drop_database


def schema_differences(engine: Engine) -> list:  # type: ignore[type-arg]
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, metadata)


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    name = f"cardioalert_migrations_{secrets.token_hex(4)}"
    url = create_database(POSTGRES_ADMIN_URL, name)
    yield url
    drop_database(POSTGRES_ADMIN_URL, name)


def test_models_and_migration_head_agree_on_postgres(engine: Engine) -> None:
    assert schema_differences(engine) == []


def test_upgrade_downgrade_upgrade_on_postgres(fresh_postgres: str) -> None:
    upgrade_to_head(fresh_postgres)
    engine = make_engine(fresh_postgres)
    try:
        assert "users" in inspect(engine).get_table_names()
        downgrade_to_base(fresh_postgres)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade_to_head(fresh_postgres)
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_the_embedded_sqlite_database_migrates_to_the_same_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'embedded.sqlite3'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        assert schema_differences(engine) == []
    finally:
        engine.dispose()
    downgrade_to_base(url)
    upgrade_to_head(url)


def test_history_is_linear_and_files_are_named_by_date_and_slug() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(scripts.get_heads()) == 1
    versions = sorted((ALEMBIC_INI.parent / "versions").glob("*.py"))
    assert versions
    for path in versions:
        assert path.name[:16].replace("-", "").replace("_", "").isdigit(), path.name


def test_enum_check_constraints_allow_every_value(engine: Engine) -> None:
    """Autogenerate does not see a new enum value; the CHECK constraint in the database would
    then refuse it. Every value of every enum column must be in its constraint."""
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        constraints = {c["name"]: c["sqltext"] for c in inspector.get_check_constraints(table.name)}
        for column in table.columns:
            if isinstance(column.type, Enum):
                text = constraints[f"ck_{table.name}_{column.type.name}"]
                missing = [value for value in column.type.enums if f"'{value}'" not in text]
                assert missing == [], (
                    f"{table.name}.{column.name}: migrate the CHECK constraint for {missing}"
                )
