"""The catalog: the source of truth for jobs, artifacts and lineage (SQLite or PostgreSQL).

Statements are SQLAlchemy Core on the tables the models declare: a job's life is a handful of
small conditional writes, and the ORM's unit of work would cost more than the database does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import Row, Select, Table, bindparam, func, insert, literal, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlmodel import SQLModel

from storage.engine import (
    Busy,
    create_tables,
    damage_of,
    first_line,
    is_transient,
    make_engine,
    patient,
)
from storage.errors import CatalogUnavailable, UnknownJob, describe_url
from storage.models import (
    ArtifactRecord,
    DeviceFence,
    FarmFlag,
    JobDependency,
    JobEvent,
    JobRecord,
    JobState,
    LineageEdge,
    ModelRecord,
    utcnow,
)
from storage.reader import SHOWN_CANDIDATES, check_job_id, one_match
from storage.states import as_utc

M = TypeVar("M", bound=SQLModel)


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


JOBS, DEPS, EVENTS = _table(JobRecord), _table(JobDependency), _table(JobEvent)
ARTIFACTS, LINEAGE = _table(ArtifactRecord), _table(LineageEdge)
FENCES, MODELS, FLAGS = _table(DeviceFence), _table(ModelRecord), _table(FarmFlag)
WAITING = (JobState.QUEUED, JobState.WAITING_GPU)
# Fair order: priority, then the place in line (the submit time unless moved).
_FAIR = (JOBS.c.priority.desc(), JOBS.c.rank, JOBS.c.created_at, JOBS.c.id)


def _record(model: type[M], row: Row[Any]) -> M:
    """A row as a record, made the way the ORM loads one: a stored row needs no validation,
    and validating costs more than the query."""
    record = manager_of_class(model).new_instance()  # mappers are configured by Catalog()
    record.__dict__.update(row._mapping)
    return cast(M, record)


# The statements of a job's hot path, built once: building one costs more than running it.
_GET_JOB = select(JOBS).where(JOBS.c.id == bindparam("job_id"))
_INSERT_JOB, _INSERT_EVENT = insert(JOBS), insert(EVENTS)
_INSERT_ARTIFACT, _INSERT_EDGE = insert(ARTIFACTS), insert(LINEAGE)
_CLAIM = (
    update(JOBS)
    .where(JOBS.c.id == bindparam("job_id"), JOBS.c.state == bindparam("from_state"),
           JOBS.c.attempts == bindparam("from_attempt"),
           JOBS.c.hold.is_(None))  # a held job is not claimed (see jobs.holds)
    .values(state=bindparam("to_state"), attempts=JOBS.c.attempts + 1,
            worker=bindparam("worker"), worker_pid=bindparam("pid"),
            started_at=bindparam("now"), finished_at=None, progress=0.0,
            reason=bindparam("reason"), error=None)
)
_SUCCEED = (
    update(JOBS)
    .where(JOBS.c.id == bindparam("job_id"), JOBS.c.state == JobState.RUNNING,
           JOBS.c.attempts == bindparam("attempt"))
    .values(state=JobState.SUCCEEDED, progress=1.0, finished_at=bindparam("now"), reason=None)
)
_INPUT_EDGES = insert(LINEAGE).from_select(
    ["child_id", "parent_id", "relation"],
    select(DEPS.c.job_id, DEPS.c.depends_on, literal("input"))
    .where(DEPS.c.job_id == bindparam("job_id")))
_DEPENDENTS = select(JOBS).join(DEPS, DEPS.c.job_id == JOBS.c.id).where(
    DEPS.c.depends_on == bindparam("job_id"))
_DEPENDENCIES = select(JOBS).join(DEPS, DEPS.c.depends_on == JOBS.c.id).where(
    DEPS.c.job_id == bindparam("job_id"))
# A progress event: the job's own state, attempt and worker, with the fraction and its reason.
_PROGRESS_EVENT = insert(EVENTS).from_select(
    ["job_id", "at", "state", "attempt", "worker", "message", "progress"],
    select(JOBS.c.id, bindparam("now", type_=EVENTS.c.at.type), JOBS.c.state, JOBS.c.attempts,
           JOBS.c.worker, bindparam("reason", type_=EVENTS.c.message.type),
           bindparam("progress", type_=EVENTS.c.progress.type))
    .where(JOBS.c.id == bindparam("job_id")))


def _event(job_id: str, state: JobState, message: str | None, attempt: int = 0,
           worker: str | None = None) -> dict[str, Any]:
    return {"job_id": job_id, "state": state, "message": message, "attempt": attempt,
            "worker": worker, "at": utcnow()}


def _fields(record: SQLModel) -> dict[str, Any]:
    return {c.name: getattr(record, c.name) for c in _table(type(record)).c}


class Catalog:
    """Jobs, their events, artifacts and lineage. Every state change is a conditional update.

    `on_event`, when set, hears the job id of every event committed (jobs.notify publishes
    it, so live streams wake at once); it must not raise.

    A busy database (a SQLite write lock held past its timeout, a PostgreSQL restart) is
    waited for, up to `retry_s`; a damaged one raises CatalogDamaged at once."""

    def __init__(self, url: str, busy_timeout_s: float = 30.0, retry_s: float = 300.0) -> None:
        self.url, self.retry_s = url, retry_s
        self.on_event: Callable[[str], None] | None = None
        try:
            configure_mappers()  # once per process; records are made through the mappers
            self.engine = make_engine(url, busy_timeout_s)
            with self._connect():  # a damaged file says so here, before create_all trips on it
                pass
            create_tables(self.engine)
        except ValueError as exc:
            raise CatalogUnavailable(f"cannot open the catalog: {exc}") from exc
        except (OSError, SQLAlchemyError, Busy, ImportError) as exc:
            if isinstance(exc, DBAPIError) and (damaged := damage_of(exc, url)) is not None:
                raise damaged from exc
            raise CatalogUnavailable(
                f"cannot open the catalog at {describe_url(url)}: {first_line(exc)}"
            ) from exc

    def close(self) -> None:
        self.engine.dispose()

    def _told(self, job_id: str) -> None:
        if self.on_event is not None:
            self.on_event(job_id)

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A connection; what it wrote is kept only if the caller commits."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except IntegrityError:  # a constraint the caller expects to meet (idempotency keys)
            raise
        except DBAPIError as exc:
            if (damaged := damage_of(exc, self.url)) is not None:
                raise damaged from exc
            if is_transient(exc, self.url):
                raise Busy(first_line(exc)) from exc
            raise CatalogUnavailable(
                f"catalog at {describe_url(self.url)} failed: {first_line(exc)}"
            ) from exc

    def _all(self, model: type[M], query: Select[Any], **params: Any) -> list[M]:
        with self._connect() as conn:
            return [_record(model, row) for row in conn.execute(query, params)]

    def _one(self, model: type[M], query: Select[Any], **params: Any) -> M | None:
        with self._connect() as conn:
            row = conn.execute(query, params).first()
        return None if row is None else _record(model, row)

    # jobs -----------------------------------------------------------------

    @patient
    def add_job(self, job: JobRecord, depends_on: Iterable[str] = ()) -> tuple[JobRecord, bool]:
        """Insert a job (QUEUED, dispatched if the caller set `dispatched_at`: see
        jobs.dispatch). With an idempotency key already used, return that job instead."""
        deps = list(depends_on)
        if job.rank is None:
            job.rank = as_utc(job.created_at).timestamp()
        try:
            with self._connect() as conn:
                conn.execute(_INSERT_JOB, _fields(job))
                if deps:
                    conn.execute(insert(DEPS), [{"job_id": job.id, "depends_on": d} for d in deps])
                conn.execute(_INSERT_EVENT, _event(job.id, job.state, "submitted"))
                conn.commit()
            self._told(job.id)
            return job, True
        except IntegrityError:
            # Its own earlier try, whose commit landed though the answer was lost (a reset
            # PostgreSQL connection), or another job holding the idempotency key.
            if (mine := self._one(JobRecord, _GET_JOB, job_id=job.id)) is not None:
                return mine, True
            if job.idempotency_key is None:
                raise
        existing = self.job_by_key(job.idempotency_key)
        if existing is None:
            raise CatalogUnavailable("idempotency key conflict, but no job holds it")
        return existing, False

    @patient
    def job_by_key(self, key: str) -> JobRecord | None:
        return self._one(JobRecord, select(JOBS).where(JOBS.c.idempotency_key == key))

    @patient
    def get_job(self, job_id: str) -> JobRecord:
        """The job with this id, or the only one whose id starts with it."""
        prefix = check_job_id(job_id)
        job = self._one(JobRecord, _GET_JOB, job_id=prefix)
        if job is not None:
            return job
        found = self._all(JobRecord, select(JOBS).where(
            JOBS.c.id.startswith(prefix, autoescape=True)).order_by(JOBS.c.id)
            .limit(SHOWN_CANDIDATES + 1))
        return one_match(prefix, found)

    @patient
    def unknown_ids(self, job_ids: list[str]) -> set[str]:
        """Those of `job_ids` that name no job of the catalog."""
        found: set[str] = set()
        with self._connect() as conn:
            for start in range(0, len(job_ids), 500):
                chunk = job_ids[start:start + 500]
                found |= set(conn.execute(select(JOBS.c.id).where(JOBS.c.id.in_(chunk))).scalars())
        return set(job_ids) - found

    @patient
    def list_jobs(
        self,
        states: Iterable[JobState] = (),
        kinds: Iterable[str] = (),
        limit: int = 50,
    ) -> list[JobRecord]:
        query = select(JOBS)
        if states := list(states):
            query = query.where(JOBS.c.state.in_(states))
        if kinds := list(kinds):
            query = query.where(JOBS.c.kind.in_(kinds))
        return self._all(JobRecord, query.order_by(JOBS.c.created_at.desc(), JOBS.c.id)
                         .limit(limit))

    @patient
    def count_by_state(self) -> dict[str, int]:
        with self._connect() as conn:
            rows = conn.execute(select(JOBS.c.state, func.count()).group_by(JOBS.c.state)).all()
        return {str(state): int(count) for state, count in rows}

    @patient
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
        stmt = update(JOBS).where(JOBS.c.id == job_id, JOBS.c.state.in_(list(allowed_from)))
        if attempt is not None:
            stmt = stmt.where(JOBS.c.attempts == attempt)
        values = {"state": to, **fields}
        if to.is_terminal:
            values.setdefault("finished_at", utcnow())
        with self._connect() as conn:
            if conn.execute(stmt.values(**values)).rowcount != 1:
                return False
            conn.execute(_INSERT_EVENT,
                         _event(job_id, to, message, attempt or 0, fields.get("worker")))
            conn.commit()
        self._told(job_id)
        return True

    @patient
    def claim(self, job_id: str, worker: str, pid: int, from_state: JobState,
              from_attempt: int, to_state: JobState = JobState.RUNNING,
              reason: str | None = None) -> int | None:
        """Start the next attempt of a job seen in `from_state` at `from_attempt`.

        Returns the new attempt number, or None when someone else moved the job first.
        """
        attempts = from_attempt + 1
        with self._connect() as conn:
            if conn.execute(_CLAIM, {
                "job_id": job_id, "from_state": from_state, "from_attempt": from_attempt,
                "to_state": to_state, "worker": worker, "pid": pid, "now": utcnow(),
                "reason": reason,
            }).rowcount != 1:
                return None
            conn.execute(_INSERT_EVENT,
                         _event(job_id, to_state, f"attempt {attempts} started", attempts, worker))
            conn.commit()
        self._told(job_id)
        return attempts

    def _set(self, job_id: str, **values: Any) -> None:
        with self._connect() as conn:
            conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**values))
            conn.commit()

    @patient
    def mark_dispatched(self, job_id: str) -> None:
        self._set(job_id, dispatched_at=utcnow(), reason=None)

    @patient
    def set_progress(self, job_id: str, progress: float, reason: str | None = None) -> None:
        """The job's progress and why (what it waits for, its step), kept as an event too;
        callers write it at most once a second per job, or when the reason changes."""
        with self._connect() as conn:
            conn.execute(update(JOBS).where(JOBS.c.id == job_id)
                         .values(progress=progress, reason=reason))
            conn.execute(_PROGRESS_EVENT, {"job_id": job_id, "now": utcnow(), "reason": reason,
                                           "progress": progress})
            conn.commit()
        self._told(job_id)

    @patient
    def next_ready(self, tag: str, kinds: Iterable[str], model: str | None = None
                   ) -> JobRecord | None:
        """The first dispatched QUEUED job of these kinds on `tag` (of `model`, if given),
        in fair order: priority, then place in line."""
        found = self.ready_jobs(tag, kinds, model, limit=1)
        return found[0] if found else None

    @patient
    def ready_jobs(self, tag: str, kinds: Iterable[str], model: str | None = None,
                   limit: int = 8) -> list[JobRecord]:
        """The first dispatched QUEUED jobs of these kinds on `tag`, in fair order."""
        query = select(JOBS).where(
            JOBS.c.state == JobState.QUEUED, JOBS.c.tag == tag, JOBS.c.kind.in_(list(kinds)),
            JOBS.c.dispatched_at.is_not(None),
        )
        if model is not None:
            query = query.where(JOBS.c.model == model)
        return self._all(JobRecord, query.order_by(*_FAIR).limit(limit))

    @patient
    def waiting_jobs(self, tags: Iterable[str] | None = None,
                     states: Iterable[JobState] = WAITING) -> list[JobRecord]:
        """Jobs not yet running (or in `states`), of `tags` if given, in fair order."""
        query = select(JOBS).where(JOBS.c.state.in_(list(states)))
        if tags is not None:
            query = query.where(JOBS.c.tag.in_(list(tags)))
        return self._all(JobRecord, query.order_by(*_FAIR))

    # holding jobs back (see jobs.holds) --------------------------------------

    @patient
    def hold_job(self, job_id: str, hold: str, reason: str) -> bool:
        """Hold back a ready QUEUED job: it is no longer dispatched (its message, if one
        comes, runs nothing) until `release_job`. False if it is not ready and QUEUED."""
        with self._connect() as conn:
            if conn.execute(update(JOBS).where(
                    JOBS.c.id == job_id, JOBS.c.state == JobState.QUEUED,
                    JOBS.c.dispatched_at.is_not(None)).values(
                    hold=hold, reason=reason, dispatched_at=None)).rowcount != 1:
                return False
            conn.execute(_INSERT_EVENT, _event(job_id, JobState.QUEUED, f"held: {reason}"))
            conn.commit()
        self._told(job_id)
        return True

    @patient
    def release_job(self, job_id: str, hold: str) -> bool:
        """Make a job held for `hold` ready again (dispatched from now); False if it was
        released, cancelled or changed by someone else first."""
        with self._connect() as conn:
            if conn.execute(update(JOBS).where(
                    JOBS.c.id == job_id, JOBS.c.state == JobState.QUEUED,
                    JOBS.c.hold == hold).values(
                    hold=None, reason=None, not_before=None, dispatched_at=utcnow())
                    ).rowcount != 1:
                return False
            conn.execute(_INSERT_EVENT, _event(job_id, JobState.QUEUED, f"released ({hold})"))
            conn.commit()
        self._told(job_id)
        return True

    @patient
    def held_jobs(self) -> list[JobRecord]:
        return self._all(JobRecord, select(JOBS).where(
            JOBS.c.state == JobState.QUEUED, JOBS.c.hold.is_not(None)).order_by(*_FAIR))

    @patient
    def reorder(self, job_id: str, priority: int, rank: float) -> bool:
        """Give a waiting job a new priority and place in line; False if it started or ended."""
        with self._connect() as conn:
            if conn.execute(update(JOBS).where(JOBS.c.id == job_id, JOBS.c.state.in_(WAITING))
                            .values(priority=priority, rank=rank)).rowcount != 1:
                return False
            job = conn.execute(_GET_JOB, {"job_id": job_id}).first()
            assert job is not None
            conn.execute(_INSERT_EVENT, _event(
                job_id, job.state, f"re-ordered: priority {priority}, place {rank:.3f}"))
            conn.commit()
        self._told(job_id)
        return True

    @patient
    def rank_before(self, job: JobRecord) -> float:
        """A place in line just ahead of `job` among the waiting jobs of its priority."""
        own = job.rank if job.rank is not None else as_utc(job.created_at).timestamp()
        with self._connect() as conn:
            prev = conn.execute(select(func.max(JOBS.c.rank)).where(
                JOBS.c.state.in_(WAITING), JOBS.c.priority == job.priority,
                JOBS.c.rank < own, JOBS.c.id != job.id)).scalar()
        return own - 1.0 if prev is None else (prev + own) / 2

    # farm-wide flags ----------------------------------------------------------

    @patient
    def flag(self, name: str) -> str | None:
        with self._connect() as conn:
            return conn.execute(select(FLAGS.c.value_json).where(FLAGS.c.name == name)).scalar()

    @patient
    def set_flag(self, name: str, value_json: str | None) -> None:
        """Set (or with None, remove) a flag, in one transaction; two writers at once on
        PostgreSQL: the later one writes again over the first."""
        for tries_left in (2, 1, 0):
            try:
                with self._connect() as conn:
                    conn.execute(FLAGS.delete().where(FLAGS.c.name == name))
                    if value_json is not None:
                        conn.execute(insert(FLAGS).values(name=name, value_json=value_json,
                                                          updated_at=utcnow()))
                    conn.commit()
                    return
            except IntegrityError:
                if not tries_left:
                    raise

    # GPU fencing ------------------------------------------------------------

    @patient
    def raise_fence(self, device: str, token: int) -> None:
        """Record that `token` now holds `device`: commits fenced by older tokens fail from now."""
        for tries_left in (1, 0):
            try:
                with self._connect() as conn:
                    moved = conn.execute(update(FENCES).where(
                        FENCES.c.device == device, FENCES.c.token < token).values(token=token)
                    ).rowcount
                    if not moved and conn.execute(select(FENCES.c.token).where(
                            FENCES.c.device == device)).first() is None:
                        conn.execute(insert(FENCES).values(device=device, token=token))
                    conn.commit()
                    return
            except IntegrityError:  # another holder inserted the row first; raise over it
                if not tries_left:
                    raise

    @patient
    def fence(self, device: str) -> int:
        """The newest fencing token the catalog has seen on a device (0: none yet)."""
        with self._connect() as conn:
            token = conn.execute(select(FENCES.c.token).where(FENCES.c.device == device)).scalar()
        return int(token or 0)

    @patient
    def commit_result(
        self,
        job_id: str,
        attempt: int,
        artifacts: list[ArtifactRecord],
        lineage: list[LineageEdge],
        fence: tuple[str, int] | None = None,
    ) -> bool:
        """Mark SUCCEEDED and record artifacts in one transaction, only for the live attempt
        and, for a job on a GPU, only while its fencing token is the device's newest.

        The job's inputs (its dependencies) enter the lineage here too, as `input` edges."""
        with self._connect() as conn:
            # Write first: on SQLite the write lock is then held before the fence is read.
            if conn.execute(_SUCCEED, {"job_id": job_id, "attempt": attempt,
                                       "now": utcnow()}).rowcount != 1:
                return False
            if fence is not None and not self._fence_holds(conn, fence):
                conn.rollback()
                return False
            if artifacts:
                conn.execute(_INSERT_ARTIFACT, [_fields(a) for a in artifacts])
            if lineage:
                conn.execute(_INSERT_EDGE, [
                    {"child_id": e.child_id, "parent_id": e.parent_id, "relation": e.relation}
                    for e in lineage])
            conn.execute(_INPUT_EDGES, {"job_id": job_id})
            conn.execute(_INSERT_EVENT,
                         _event(job_id, JobState.SUCCEEDED, f"{len(artifacts)} artifacts", attempt))
            conn.commit()
        self._told(job_id)
        return True

    @staticmethod
    def _fence_holds(conn: Connection, fence: tuple[str, int]) -> bool:
        device, token = fence
        held = conn.execute(select(FENCES.c.token).where(FENCES.c.device == device)
                            .with_for_update()).scalar()
        return held == token

    @patient
    def note(self, job_id: str, message: str, attempt: int = 0, worker: str | None = None) -> None:
        """An event in the job's history that does not change its state (a load, a fallback)."""
        with self._connect() as conn:
            state = conn.execute(select(JOBS.c.state).where(JOBS.c.id == job_id)).scalar()
            if state is None:
                raise UnknownJob(f"no job '{job_id}' in the catalog; `farm ls` lists jobs")
            conn.execute(_INSERT_EVENT, _event(job_id, state, message, attempt, worker))
            conn.commit()
        self._told(job_id)

    # models -----------------------------------------------------------------

    @patient
    def record_model(self, name: str, path: str, sha256: str, vram_mb: int | None,
                     load_s: float | None, kind: str | None = None) -> None:
        """Remember a model file and what loading it cost last time (seconds; VRAM where it
        was measured: a measure is kept until a new one replaces it)."""
        values: dict[str, Any] = {"name": name, "path": path, "updated_at": utcnow()}
        measured = {"vram_mb": vram_mb, "load_s": load_s, "kind": kind}
        values.update({key: value for key, value in measured.items() if value is not None})
        try:
            with self._connect() as conn:
                if not conn.execute(update(MODELS).where(MODELS.c.sha256 == sha256)
                                    .values(**values)).rowcount:
                    conn.execute(insert(MODELS).values(
                        **{**values, **measured, "sha256": sha256}))
                conn.commit()
        except IntegrityError:  # two processes loaded the same model at once: one row is enough
            pass

    @patient
    def models(self) -> list[ModelRecord]:
        return self._all(ModelRecord, select(MODELS).order_by(MODELS.c.name))

    @patient
    def measured_vram_mb(self, name: str) -> int | None:
        """The most VRAM a model of this name was measured to take, if it ever was."""
        with self._connect() as conn:
            return conn.execute(select(func.max(MODELS.c.vram_mb))
                                .where(MODELS.c.name == name)).scalar()

    @patient
    def model(self, sha256: str) -> ModelRecord | None:
        return self._one(ModelRecord, select(MODELS).where(MODELS.c.sha256 == sha256))

    # reads ------------------------------------------------------------------

    @patient
    def events(self, job_id: str) -> list[JobEvent]:
        return self._all(JobEvent, select(EVENTS).where(EVENTS.c.job_id == job_id)
                         .order_by(EVENTS.c.id))

    @patient
    def artifacts(self, job_id: str) -> list[ArtifactRecord]:
        return self._all(ArtifactRecord, select(ARTIFACTS).where(ARTIFACTS.c.job_id == job_id)
                         .order_by(ARTIFACTS.c.name))

    @patient
    def artifact_by_sha(self, sha256: str) -> list[ArtifactRecord]:
        return self._all(ArtifactRecord, select(ARTIFACTS).where(ARTIFACTS.c.sha256 == sha256))

    @patient
    def artifact(self, artifact_id: str) -> ArtifactRecord | None:
        return self._one(ArtifactRecord, select(ARTIFACTS).where(ARTIFACTS.c.id == artifact_id))

    @patient
    def referenced_hashes(self) -> set[str]:
        with self._connect() as conn:
            return set(conn.execute(select(ARTIFACTS.c.sha256).distinct()).scalars())

    @patient
    def dependencies(self, job_id: str) -> list[JobRecord]:
        return self._all(JobRecord, _DEPENDENCIES, job_id=job_id)

    @patient
    def dependents(self, job_id: str) -> list[JobRecord]:
        return self._all(JobRecord, _DEPENDENTS, job_id=job_id)

    @patient
    def parents(self, child_id: str) -> list[LineageEdge]:
        """Where a node (artifact or job) came from: the edges whose child it is."""
        return self._all(LineageEdge, select(LINEAGE).where(LINEAGE.c.child_id == child_id)
                         .order_by(LINEAGE.c.id))

    @patient
    def lineage_of(self, node_id: str) -> list[LineageEdge]:
        return self._all(LineageEdge, select(LINEAGE).where(
            (LINEAGE.c.child_id == node_id) | (LINEAGE.c.parent_id == node_id)))
