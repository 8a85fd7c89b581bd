"""Opening a catalog database: the engine, its SQLite pragmas, and its tables, once.

Also what the catalog's failures mean: a busy database (a held SQLite write lock, a PostgreSQL
restart or reset connection) is worth waiting for; a damaged one is not.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlmodel import SQLModel, create_engine

from storage.errors import CatalogBusy, CatalogDamaged, describe_url, first_line, names_damage
from storage.urls import check_catalog_url, sqlite_path

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)

# SQLite's words for a file that is not (or no longer) a database.
_BUSY = ("locked", "busy")


def make_engine(url: str, busy_timeout_s: float = 30.0) -> Engine:
    check_catalog_url(url)
    if (db_path := sqlite_path(url)) is not None:
        if str(db_path) not in ("", ":memory:"):
            db_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": busy_timeout_s,
                                                  "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)


def create_tables(engine: Engine, tries: int = 5) -> None:
    """Create missing tables. Two processes opening a new catalog at once race between
    "does it exist" and "create"; the loser sees "already exists" and simply looks again."""
    for attempt in range(tries):
        try:
            SQLModel.metadata.create_all(engine)
            add_missing_columns(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if "already exists" not in str(exc) and "duplicate" not in str(exc).lower() \
                    or attempt == tries - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def add_missing_columns(engine: Engine) -> None:
    """A catalog made by an older farm gains the nullable columns added since (ALTER TABLE ADD
    COLUMN); nothing is ever dropped or rewritten."""
    found = inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        have = {column["name"] for column in found.get_columns(table.name)}
        for column in table.columns:
            if column.name in have or not column.nullable:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            with engine.begin() as conn:
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def is_transient(exc: DBAPIError, url: str) -> bool:
    """Whether waiting may cure it: SQLite's lock or busy, any PostgreSQL connection failure."""
    if not isinstance(exc, OperationalError):
        return False
    if url.startswith("sqlite"):
        return any(word in first_line(exc).lower() for word in _BUSY)
    return True


def damage_of(exc: DBAPIError, url: str) -> CatalogDamaged | None:
    """CatalogDamaged when the error says the database file itself is broken."""
    text = first_line(exc)
    if url.startswith("sqlite") and names_damage(text):
        return CatalogDamaged(f"the catalog at {describe_url(url)} is damaged ({text})")
    return None


class Busy(Exception):
    """The database is locked or its server unreachable right now (see `patient`)."""


def patient(method: Callable[P, R]) -> Callable[P, R]:
    """Run a catalog method again while the database is busy, backing off, for up to the
    catalog's `retry_s`; then CatalogBusy. Each such method is one transaction, rolled back
    when it fails, so running it again is safe."""

    @functools.wraps(method)
    def patiently(*args: P.args, **kwargs: P.kwargs) -> R:
        catalog = cast(Any, args[0])  # a Catalog: its url and retry_s
        delay, deadline = 0.05, time.monotonic() + catalog.retry_s
        while True:
            try:
                return method(*args, **kwargs)
            except Busy as busy:
                if time.monotonic() + delay > deadline:
                    raise CatalogBusy(
                        f"the catalog at {describe_url(catalog.url)} stayed busy for "
                        f"{catalog.retry_s:g} s ({busy}); try again, or see `farm doctor`"
                    ) from busy
                if delay >= 1.6:
                    log.warning("catalog busy (%s); trying again in %.1f s", busy, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    return patiently
