"""The catalog: the source of truth for jobs, artifacts and lineage (SQLite or PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlmodel import Session, SQLModel, col, create_engine, select

from storage.errors import CatalogUnavailable, UnknownJob
from storage.models import (
    ArtifactRecord,
    DeviceFence,
    JobDependency,
    JobEvent,
    JobRecord,
    JobState,
    LineageEdge,
    ModelRecord,
    utcnow,
)

T = TypeVar("T")


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)


def _create_tables(engine: Engine, tries: int = 5) -> None:
    """Create missing tables. Two processes opening a new catalog at once race between
    "does it exist" and "create"; the loser sees "already exists" and simply looks again."""
    for attempt in range(tries):
        try:
            SQLModel.metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if "already exists" not in str(exc) and "duplicate" not in str(exc).lower() \
                    or attempt == tries - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _describe(url: str) -> str:
    """The URL without its password, for error messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


class Catalog:
    """Jobs, their events, artifacts and lineage. Every state change is a conditional update."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = _make_engine(url)
            _create_tables(self.engine)
        except (OSError, SQLAlchemyError) as exc:
            raise CatalogUnavailable(
                f"cannot open the catalog at {_describe(url)}: {_first_line(exc)}"
            ) from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
        except OperationalError as exc:
            raise CatalogUnavailable(
                f"catalog at {_describe(self.url)} failed: {_first_line(exc)}"
            ) from exc

    def _run(self, work: Callable[[Session], T]) -> T:
        with self.session() as session:
            result = work(session)
            session.commit()
            return result

    # jobs -----------------------------------------------------------------

    def add_job(self, job: JobRecord, depends_on: Iterable[str] = ()) -> tuple[JobRecord, bool]:
        """Insert a job (QUEUED). With an idempotency key already used, return that job instead."""
        deps = list(depends_on)
        try:
            with self.session() as session:
                session.add(job)
                session.flush()
                for dep in deps:
                    session.add(JobDependency(job_id=job.id, depends_on=dep))
                session.add(JobEvent(job_id=job.id, state=job.state, message="submitted"))
                session.commit()
                return job, True
        except IntegrityError:
            if job.idempotency_key is None:
                raise
        existing = self.job_by_key(job.idempotency_key)
        if existing is None:
            raise CatalogUnavailable("idempotency key conflict, but no job holds it")
        return existing, False

    def job_by_key(self, key: str) -> JobRecord | None:
        with self.session() as session:
            return session.exec(select(JobRecord).where(JobRecord.idempotency_key == key)).first()

    def get_job(self, job_id: str) -> JobRecord:
        """The job with this id, or the only one whose id starts with it."""
        with self.session() as session:
            job = session.get(JobRecord, job_id)
            if job is not None:
                return job
            if len(job_id) < 4:
                raise UnknownJob(f"job id '{job_id}' is too short; give at least 4 characters")
            found = session.exec(
                select(JobRecord).where(col(JobRecord.id).startswith(job_id)).limit(2)
            ).all()
        if len(found) == 1:
            return found[0]
        if not found:
            raise UnknownJob(f"no job '{job_id}' in the catalog; `farm ls` lists jobs")
        raise UnknownJob(f"job id '{job_id}' is ambiguous; give more characters")

    def list_jobs(
        self,
        states: Iterable[JobState] = (),
        kinds: Iterable[str] = (),
        limit: int = 50,
    ) -> list[JobRecord]:
        query = select(JobRecord)
        if states := list(states):
            query = query.where(col(JobRecord.state).in_(states))
        if kinds := list(kinds):
            query = query.where(col(JobRecord.kind).in_(kinds))
        query = query.order_by(col(JobRecord.created_at).desc(), col(JobRecord.id)).limit(limit)
        with self.session() as session:
            return list(session.exec(query).all())

    def count_by_state(self) -> dict[str, int]:
        with self.session() as session:
            rows = session.exec(
                select(JobRecord.state, func.count()).group_by(JobRecord.state)
            ).all()
        return {str(state): int(count) for state, count in rows}

    def transition(
        self,
        job_id: str,
        allowed_from: Iterable[JobState],
        to: JobState,
        message: str | None = None,
        attempt: int | None = None,
        **fields: Any,
    ) -> bool:
        """Move a job to `to` only if it is in one of `allowed_from` (and at `attempt`)."""
        allowed = list(allowed_from)

        def work(session: Session) -> bool:
            stmt = update(JobRecord).where(
                col(JobRecord.id) == job_id, col(JobRecord.state).in_(allowed)
            )
            if attempt is not None:
                stmt = stmt.where(col(JobRecord.attempts) == attempt)
            values = {"state": to, **fields}
            if to.is_terminal:
                values.setdefault("finished_at", utcnow())
            moved = session.execute(stmt.values(**values)).rowcount == 1  # type: ignore[attr-defined]
            if moved:
                session.add(JobEvent(job_id=job_id, state=to, message=message,
                                     attempt=attempt or 0, worker=fields.get("worker")))
            return moved

        return self._run(work)

    def claim(self, job_id: str, worker: str, pid: int, from_state: JobState,
              from_attempt: int, to_state: JobState = JobState.RUNNING,
              reason: str | None = None) -> int | None:
        """Start the next attempt of a job seen in `from_state` at `from_attempt`.

        Returns the new attempt number, or None when someone else moved the job first.
        """

        def work(session: Session) -> int | None:
            stmt = (
                update(JobRecord)
                .where(col(JobRecord.id) == job_id, col(JobRecord.state) == from_state,
                       col(JobRecord.attempts) == from_attempt)
                .values(state=to_state, attempts=JobRecord.attempts + 1,
                        worker=worker, worker_pid=pid, started_at=utcnow(),
                        finished_at=None, progress=0.0, reason=reason, error=None)
            )
            if session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
                return None
            attempts = from_attempt + 1
            session.add(JobEvent(job_id=job_id, state=to_state, attempt=attempts,
                                 worker=worker, message=f"attempt {attempts} started"))
            return attempts

        return self._run(work)

    def mark_dispatched(self, job_id: str) -> None:
        def work(session: Session) -> None:
            session.execute(update(JobRecord).where(col(JobRecord.id) == job_id)
                            .values(dispatched_at=utcnow(), reason=None))

        self._run(work)

    def next_ready(self, tag: str, kinds: Iterable[str], model: str | None = None
                   ) -> JobRecord | None:
        """The first dispatched QUEUED job of these kinds on `tag` (of `model`, if given),
        in fair order: priority, then submission."""
        query = select(JobRecord).where(
            col(JobRecord.state) == JobState.QUEUED, col(JobRecord.tag) == tag,
            col(JobRecord.kind).in_(list(kinds)), col(JobRecord.dispatched_at).is_not(None),
        )
        if model is not None:
            query = query.where(col(JobRecord.model) == model)
        query = query.order_by(col(JobRecord.priority).desc(), col(JobRecord.created_at)).limit(1)
        with self.session() as session:
            return session.exec(query).first()

    def set_progress(self, job_id: str, progress: float, reason: str | None = None) -> None:
        def work(session: Session) -> None:
            session.execute(update(JobRecord).where(col(JobRecord.id) == job_id)
                            .values(progress=progress, reason=reason))

        self._run(work)

    def raise_fence(self, device: str, token: int) -> None:
        """Record that `token` now holds `device`: commits fenced by older tokens fail from now."""

        def work(session: Session) -> None:
            moved = session.execute(
                update(DeviceFence).where(col(DeviceFence.device) == device,
                                          col(DeviceFence.token) < token).values(token=token)
            ).rowcount  # type: ignore[attr-defined]
            if not moved and session.get(DeviceFence, device) is None:
                session.add(DeviceFence(device=device, token=token))

        try:
            self._run(work)
        except IntegrityError:  # another holder inserted the row first; raise over it
            self._run(work)

    def fence(self, device: str) -> int:
        """The newest fencing token the catalog has seen on a device (0: none yet)."""
        with self.session() as session:
            row = session.get(DeviceFence, device)
            return row.token if row is not None else 0

    def _fence_holds(self, session: Session, fence: tuple[str, int]) -> bool:
        device, token = fence
        row = session.exec(
            select(DeviceFence).where(DeviceFence.device == device).with_for_update()
        ).first()
        return row is not None and row.token == token

    def commit_result(
        self,
        job_id: str,
        attempt: int,
        artifacts: list[ArtifactRecord],
        lineage: list[LineageEdge],
        fence: tuple[str, int] | None = None,
    ) -> bool:
        """Mark SUCCEEDED and record artifacts in one transaction, only for the live attempt
        and, for a job on a GPU, only while its fencing token is the device's newest."""

        def work(session: Session) -> bool:
            # Write first: on SQLite the write lock is then held before the fence is read.
            stmt = (
                update(JobRecord)
                .where(col(JobRecord.id) == job_id, col(JobRecord.state) == JobState.RUNNING,
                       col(JobRecord.attempts) == attempt)
                .values(state=JobState.SUCCEEDED, progress=1.0, finished_at=utcnow(), reason=None)
            )
            moved = session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
            if not moved or (fence is not None and not self._fence_holds(session, fence)):
                session.rollback()
                return False
            session.add_all(artifacts)
            session.add_all(lineage)
            session.add(JobEvent(job_id=job_id, state=JobState.SUCCEEDED, attempt=attempt,
                                 message=f"{len(artifacts)} artifacts"))
            return True

        return self._run(work)

    def note(self, job_id: str, message: str, attempt: int = 0, worker: str | None = None) -> None:
        """An event in the job's history that does not change its state (a load, a fallback)."""
        job = self.get_job(job_id)

        def work(session: Session) -> None:
            session.add(JobEvent(job_id=job_id, state=job.state, message=message, attempt=attempt,
                                 worker=worker))

        self._run(work)

    def record_model(self, name: str, path: str, sha256: str, vram_mb: int | None,
                     load_s: float | None) -> None:
        """Remember a model file and what loading it cost last time (VRAM, seconds)."""

        def work(session: Session) -> None:
            row = session.get(ModelRecord, sha256) or ModelRecord(sha256=sha256, name=name, path=path)
            row.name, row.path, row.vram_mb, row.load_s = name, path, vram_mb, load_s
            row.updated_at = utcnow()
            session.add(row)

        try:
            self._run(work)
        except IntegrityError:  # two processes loaded the same model at once: one row is enough
            pass

    def models(self) -> list[ModelRecord]:
        with self.session() as session:
            return list(session.exec(select(ModelRecord).order_by(col(ModelRecord.name))).all())

    # reads ------------------------------------------------------------------

    def events(self, job_id: str) -> list[JobEvent]:
        with self.session() as session:
            query = select(JobEvent).where(JobEvent.job_id == job_id).order_by(col(JobEvent.id))
            return list(session.exec(query).all())

    def artifacts(self, job_id: str) -> list[ArtifactRecord]:
        with self.session() as session:
            query = (select(ArtifactRecord).where(ArtifactRecord.job_id == job_id)
                     .order_by(col(ArtifactRecord.name)))
            return list(session.exec(query).all())

    def artifact_by_sha(self, sha256: str) -> list[ArtifactRecord]:
        with self.session() as session:
            query = select(ArtifactRecord).where(ArtifactRecord.sha256 == sha256)
            return list(session.exec(query).all())

    def referenced_hashes(self) -> set[str]:
        with self.session() as session:
            return set(session.exec(select(ArtifactRecord.sha256).distinct()).all())

    def dependencies(self, job_id: str) -> list[JobRecord]:
        with self.session() as session:
            query = select(JobRecord).join(
                JobDependency, col(JobDependency.depends_on) == col(JobRecord.id)
            ).where(JobDependency.job_id == job_id)
            return list(session.exec(query).all())

    def dependents(self, job_id: str) -> list[JobRecord]:
        with self.session() as session:
            query = select(JobRecord).join(
                JobDependency, col(JobDependency.job_id) == col(JobRecord.id)
            ).where(JobDependency.depends_on == job_id)
            return list(session.exec(query).all())

    def artifact(self, artifact_id: str) -> ArtifactRecord | None:
        with self.session() as session:
            return session.get(ArtifactRecord, artifact_id)

    def model(self, sha256: str) -> ModelRecord | None:
        with self.session() as session:
            return session.get(ModelRecord, sha256)

    def parents(self, child_id: str) -> list[LineageEdge]:
        """Where a node (artifact or job) came from: the edges whose child it is."""
        with self.session() as session:
            query = select(LineageEdge).where(LineageEdge.child_id == child_id).order_by(
                col(LineageEdge.id))
            return list(session.exec(query).all())

    def lineage_of(self, node_id: str) -> list[LineageEdge]:
        with self.session() as session:
            query = select(LineageEdge).where(
                (LineageEdge.child_id == node_id) | (LineageEdge.parent_id == node_id)
            )
            return list(session.exec(query).all())


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
