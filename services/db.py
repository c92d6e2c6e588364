"""Database engine, the one session dependency, and column types shared by all models.

The request (or the job) owns the transaction: `get_session` commits after the endpoint
returned and before the response is sent, or rolls back when anything raised. Services only
flush."""

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Column, DateTime, Engine, Enum, Insert, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

from services.errors import AppError
from services.settings import get_settings

logger = logging.getLogger("cardioalert.db")

# Stable constraint names, so Alembic can alter them on PostgreSQL and in SQLite batch mode.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on PostgreSQL and SQLite alike (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(
    enum: type[StrEnum], *, nullable: bool = False, default: StrEnum | None = None, primary_key: bool = False
) -> Column:
    """Enums are stored as their string values (no native PostgreSQL enum types, which are
    hard to migrate), with a CHECK constraint naming the allowed values."""
    return Column(
        Enum(
            enum,
            native_enum=False,
            length=32,
            values_callable=lambda members: [member.value for member in members],
            validate_strings=True,
            create_constraint=True,
            name=enum.__name__.lower(),
        ),
        nullable=nullable,
        default=default,
        primary_key=primary_key,
    )


def utc_column(*, nullable: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable)


def insert_ignoring_conflicts(
    session: Session, table: Any, index_elements: list[str] | None = None
) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING on PostgreSQL and SQLite alike (add values or rows)."""
    dialect = session.get_bind().dialect.name
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert_for(table).on_conflict_do_nothing(index_elements=index_elements)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        return engine
    # 20 kept connections (opening one costs PostgreSQL ~2.5 ms), up to 40 per process; a
    # request waits at most pool_timeout for one and then
    # gets a clean 503 (see services/errors.py), never hangs.
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20, pool_timeout=15)


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


def finish_transaction(session: Session, error: BaseException | None) -> None:
    """Commit, or roll back when the work raised, except for errors that declare their changes
    must be kept (see AppError.keeps_changes)."""
    if error is None or (isinstance(error, AppError) and error.keeps_changes):
        session.commit()
    else:
        session.rollback()


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    try:
        yield session
    except BaseException as error:
        finish_transaction(session, error)
        raise
    finish_transaction(session, None)


async def get_session() -> AsyncIterator[Session]:
    """The request's session. Made on the event loop (no I/O yet); the commit or rollback goes
    to a worker thread — one thread hop per request fewer than a plain generator dependency."""
    session = Session(get_engine(), expire_on_commit=False)
    try:
        yield session
    except BaseException as error:
        await run_in_threadpool(finish_transaction, session, error)
        raise
    else:
        await run_in_threadpool(finish_transaction, session, None)
    finally:
        session.close()  # the transaction has ended: this only hands the connection back


# scope="function": the commit runs when the endpoint has returned, before the response is
# sent, so a failed commit becomes an error response instead of a lost write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


_AFTER_COMMIT = "after_commit_callbacks"


def run_after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run `callback` once the session's transaction has committed (never on a rollback): for
    effects outside the database that must not precede the commit — sending a job that reads
    the new row, removing the files of a deleted row."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, []):
        try:
            callback()
        except Exception:  # the commit stands; the callback's own sweep or retry catches up
            logger.exception("after-commit callback failed")


_AFTER_ROLLBACK = "after_rollback_callbacks"


def run_after_rollback(session: Session, callback: Callable[[], object]) -> None:
    """Run `callback` if the session's transaction rolls back (undo an effect outside the
    database, such as a file stored for a row that will now never exist)."""
    session.info.setdefault(_AFTER_ROLLBACK, []).append(callback)


@event.listens_for(Session, "after_commit")
def _forget_rollback_callbacks(session: Session) -> None:
    session.info.pop(_AFTER_ROLLBACK, None)


@event.listens_for(Session, "after_rollback")
def _run_after_rollback(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)
    for callback in session.info.pop(_AFTER_ROLLBACK, []):
        try:
            callback()
        except Exception:
            logger.exception("after-rollback callback failed")
