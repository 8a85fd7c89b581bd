"""The catalog for reading only, in plain SQL over the database's own driver.

The CLI's quick commands (status, ls, wait, artifacts, lineage) are called in loops by scripts
and DAW tools; importing SQLAlchemy costs them 0.3 s, more than everything else they do.
These rows carry the same names as the catalog's records (storage.models; a test keeps them
equal), so the views that show a job take either.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from storage.errors import (
    CatalogDamaged,
    CatalogUnavailable,
    UnknownJob,
    describe_url,
    first_line,
    names_damage,
)
from storage.states import JobState, as_utc
from storage.urls import sqlite_path

JOB_ID = re.compile(r"^[0-9a-f]{4,32}$")
SHOWN_CANDIDATES = 5
_MOMENTS = {"created_at", "dispatched_at", "started_at", "finished_at", "at", "updated_at",
            "not_before"}


@dataclass
class JobRow:
    id: str
    kind: str
    tag: str
    state: JobState
    params_json: str
    seed: int
    priority: int
    project: str
    idempotency_key: str | None
    model: str | None
    created_at: datetime
    dispatched_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    worker: str | None
    worker_pid: int | None
    progress: float
    reason: str | None
    error: str | None
    rank: float | None
    hold: str | None
    not_before: datetime | None
    last_error: str | None
    error_count: int | None
    failures: int | None


@dataclass
class ArtifactRow:
    id: str
    job_id: str
    attempt: int
    name: str
    sha256: str
    media_type: str
    bytes: int
    created_at: datetime


@dataclass
class EdgeRow:
    id: int
    child_id: str
    parent_id: str
    relation: str


@dataclass
class EventRow:
    id: int
    job_id: str
    at: datetime
    state: JobState
    attempt: int
    worker: str | None
    message: str | None
    progress: float | None


@dataclass
class ModelRow:
    sha256: str
    name: str
    kind: str | None
    path: str
    vram_mb: int | None
    load_s: float | None
    updated_at: datetime


R = TypeVar("R", JobRow, ArtifactRow, EdgeRow, ModelRow, EventRow)
TABLES: dict[type, str] = {JobRow: "jobs", ArtifactRow: "artifacts", EdgeRow: "lineage",
                           ModelRow: "models", EventRow: "job_events"}


def check_job_id(job_id: str) -> str:
    """A job id or prefix as the catalog matches it: 4 to 32 hex digits, lower case."""
    prefix = job_id.strip().lower()
    if not JOB_ID.match(prefix):
        shown = repr(job_id[:40]) + ("…" if len(job_id) > 40 else "")
        raise UnknownJob(f"job id {shown} is not a job id: give 4 to 32 of its hex digits "
                         "(`farm ls` lists jobs)")
    return prefix


def one_match(prefix: str, found: list[Any]) -> Any:
    """The only job found by a prefix, or UnknownJob naming none or the candidates."""
    if len(found) == 1:
        return found[0]
    if not found:
        raise UnknownJob(f"no job '{prefix}' in the catalog; `farm ls` lists jobs")
    shown = ", ".join(j.id[:12] for j in found[:SHOWN_CANDIDATES])
    more = " and more" if len(found) > SHOWN_CANDIDATES else ""
    raise UnknownJob(f"job id '{prefix}' is ambiguous: {shown}{more}; give more characters")


def _value(name: str, value: Any) -> Any:
    if name in _MOMENTS and value is not None:
        return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))
    if name == "state" and value is not None:
        return JobState(value)
    return value


class CatalogReader:
    """Reads of the catalog at a `sqlite:///` or `postgresql://` URL. A SQLite catalog not
    made yet reads as empty."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        try:
            conn = self._open()
        except FileNotFoundError:
            yield None
            return
        try:
            yield conn.cursor()
        finally:
            conn.close()

    def _open(self) -> Any:
        if self.sqlite:
            path = sqlite_path(self.url)
            if path is None or not path.exists():
                raise FileNotFoundError(path)
            try:
                return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            except sqlite3.Error as exc:
                raise CatalogUnavailable(f"cannot open the catalog {path}: {exc}") from exc
        import psycopg

        try:
            return psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"),
                                   connect_timeout=5)
        except psycopg.Error as exc:
            raise CatalogUnavailable(f"cannot open the catalog at {describe_url(self.url)}: "
                                     f"{first_line(exc)}") from exc

    def _rows(self, row: type[R], where: str, params: Iterable[Any] = (),
              tail: str = "") -> list[R]:
        names = [f.name for f in fields(row)]
        sql = f"SELECT {', '.join(names)} FROM {TABLES[row]} WHERE {where} {tail}"
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        for attempt in range(2):
            with self._cursor() as cursor:
                if cursor is None:
                    return []
                try:
                    cursor.execute(sql, tuple(params))
                    found = cursor.fetchall()
                    break
                except Exception as exc:  # sqlite3 and psycopg share no error base class
                    if attempt == 0 and _missing_column(first_line(exc)):
                        upgrade = exc
                    else:
                        return self._failed(exc)
            self._upgrade(upgrade)
        return [row(**{n: _value(n, v) for n, v in zip(names, values, strict=True)})
                for values in found]

    def _upgrade(self, cause: Exception) -> None:
        """A catalog made by an older farm lacks a column added since: add it (what any
        writing command would do first), then read again."""
        from storage.engine import create_tables, make_engine

        try:
            engine = make_engine(self.url)
            try:
                create_tables(engine)
            finally:
                engine.dispose()
        except Exception as exc:
            raise CatalogUnavailable(f"the catalog was made by an older farm and cannot be "
                                     f"brought up to date here: {first_line(exc)}") from cause

    def _failed(self, exc: Exception) -> list[Any]:
        """What a failed read means to the command: nothing yet, damage, or no catalog."""
        text = first_line(exc)
        if "no such table" in text or ("relation" in text and "does not exist" in text):
            return []  # a catalog file that no farm process has set up yet
        if names_damage(text):
            raise CatalogDamaged(f"the catalog at {describe_url(self.url)} is damaged ({text})") from exc
        raise CatalogUnavailable(f"cannot read the catalog: {text}") from exc

    def get_job(self, job_id: str) -> JobRow:
        prefix = check_job_id(job_id)
        exact = self._rows(JobRow, "id = ?", [prefix])
        if exact:
            return exact[0]
        found = self._rows(JobRow, "id LIKE ? ESCAPE '!'", [prefix + "%"],
                           f"ORDER BY id LIMIT {SHOWN_CANDIDATES + 1}")
        return one_match(prefix, found)

    def jobs_by_ids(self, job_ids: list[str]) -> list[JobRow]:
        """The jobs with exactly these ids, those that exist."""
        found: list[JobRow] = []
        for start in range(0, len(job_ids), 500):
            chunk = job_ids[start:start + 500]
            found += self._rows(JobRow, f"id IN ({', '.join('?' * len(chunk))})", chunk)
        return found

    def list_jobs(self, states: Iterable[JobState] = (), kinds: Iterable[str] = (),
                  limit: int = 50, projects: Iterable[str] = ()) -> list[JobRow]:
        names, kinds, projects = [str(s) for s in states], list(kinds), list(projects)
        where, params = ["1 = 1"], list[str]()
        for column, values in (("state", names), ("kind", kinds), ("project", projects)):
            if values:
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                params += values
        return self._rows(JobRow, " AND ".join(where), params,
                          f"ORDER BY created_at DESC, id LIMIT {int(limit)}")

    def artifacts(self, job_id: str) -> list[ArtifactRow]:
        return self._rows(ArtifactRow, "job_id = ?", [job_id], "ORDER BY name")

    def artifact(self, artifact_id: str) -> ArtifactRow | None:
        found = self._rows(ArtifactRow, "id = ?", [artifact_id])
        return found[0] if found else None

    def artifact_by_sha(self, sha256: str) -> list[ArtifactRow]:
        return self._rows(ArtifactRow, "sha256 = ?", [sha256])

    def dependencies(self, job_id: str) -> list[JobRow]:
        return self._rows(JobRow, "id IN (SELECT depends_on FROM job_deps WHERE job_id = ?)",
                          [job_id], "ORDER BY created_at")

    def dependents(self, job_id: str) -> list[JobRow]:
        return self._rows(JobRow, "id IN (SELECT job_id FROM job_deps WHERE depends_on = ?)",
                          [job_id], "ORDER BY created_at")

    def events_after(self, after: int, upto: int | None = None, job_id: str | None = None,
                     project: str | None = None, limit: int = 500) -> list[EventRow]:
        """Events with ids above `after` (and at most `upto`), of one job or one project,
        oldest first: what a live stream sends next."""
        where, params = ["id > ?"], list[Any]([after])
        if upto is not None:
            where.append("id <= ?")
            params.append(upto)
        if job_id is not None:
            where.append("job_id = ?")
            params.append(job_id)
        if project is not None:
            where.append("job_id IN (SELECT id FROM jobs WHERE project = ?)")
            params.append(project)
        return self._rows(EventRow, " AND ".join(where), params, f"ORDER BY id LIMIT {int(limit)}")

    def event_ids_after(self, after: int, limit: int = 1000) -> list[int]:
        """The ids of every job's events above `after`, in order (where the holes are)."""
        return [e.id for e in self._rows(EventRow, "id > ?", [after],
                                         f"ORDER BY id LIMIT {int(limit)}")]

    def last_event_id(self, job_id: str | None = None) -> int:
        """The newest event's id (of one job, if given); 0 when there is none."""
        if job_id is None:
            found = self._rows(EventRow, "id = (SELECT MAX(id) FROM job_events)")
        else:
            found = self._rows(EventRow, "id = (SELECT MAX(id) FROM job_events WHERE job_id = ?)",
                               [job_id])
        return found[0].id if found else 0

    def parents(self, child_id: str) -> list[EdgeRow]:
        return self._rows(EdgeRow, "child_id = ?", [child_id], "ORDER BY id")

    def model(self, sha256: str) -> ModelRow | None:
        found = self._rows(ModelRow, "sha256 = ?", [sha256])
        return found[0] if found else None


def _missing_column(text: str) -> bool:
    """SQLite's "no such column: x" or PostgreSQL's "column x does not exist"."""
    return "no such column" in text or ("column" in text and "does not exist" in text)
