"""Catalog tables: jobs, their events and dependencies, artifacts, lineage and models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Dialect, Index, Text, TypeDecorator
from sqlmodel import Field, SQLModel

from storage.states import ACTIVE_STATES, TERMINAL_STATES, JobState, as_utc, utcnow

__all__ = ["ACTIVE_STATES", "TERMINAL_STATES", "JobState", "utcnow", "ArtifactRecord",
           "DeviceFence", "FarmFlag", "JobDependency", "JobEvent", "JobRecord", "LineageEdge", "ModelRecord"]


class UtcDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite keeps no zone), always read back aware, in UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def _moment(nullable: bool = True, **column: Any) -> Any:
    """A datetime column in UTC."""
    return Column(UtcDateTime(), nullable=nullable, **column)


class JobRecord(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_created", "state", "created_at"),
        Index("ix_jobs_kind_created", "kind", "created_at"),
        Index("ix_jobs_ready", "state", "tag", "priority", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    kind: str = Field(index=True, max_length=32)
    tag: str = Field(max_length=32)
    state: JobState = Field(default=JobState.QUEUED, max_length=16)
    params_json: str = Field(sa_column=Column(Text, nullable=False))
    seed: int = Field(sa_column=Column(BigInteger, nullable=False))
    priority: int = 5
    project: str = Field(default="default", max_length=128)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=128)
    model: str | None = Field(default=None, max_length=255)  # heavy kinds: the model it loads
    created_at: datetime = Field(default_factory=utcnow, sa_column=_moment(False, index=True))
    # inputs ready and a message sent to its queue
    dispatched_at: datetime | None = Field(default=None, sa_column=_moment())
    started_at: datetime | None = Field(default=None, sa_column=_moment())
    finished_at: datetime | None = Field(default=None, sa_column=_moment())
    attempts: int = 0
    worker: str | None = Field(default=None, max_length=255)
    worker_pid: int | None = None
    progress: float = 0.0
    reason: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    # Its place in line among jobs of its priority: the submit time (epoch seconds) until
    # `farm move` puts it elsewhere. Fair order is priority, then rank.
    rank: float | None = None
    # Why a QUEUED job is held back though ready (pause, quiet, disk, backoff); a held job is
    # not dispatched: it is sent once nothing holds it (see jobs.holds).
    hold: str | None = Field(default=None, max_length=16)
    not_before: datetime | None = Field(default=None, sa_column=_moment())  # a retry's backoff
    # The previous attempt's failure, and how many attempts in a row failed with it.
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    error_count: int | None = None
    failures: int | None = None  # its failed attempts since submitted or `farm retry`-ed


class JobDependency(SQLModel, table=True):
    __tablename__ = "job_deps"

    job_id: str = Field(primary_key=True, foreign_key="jobs.id", max_length=32)
    depends_on: str = Field(primary_key=True, foreign_key="jobs.id", index=True, max_length=32)


class JobEvent(SQLModel, table=True):
    __tablename__ = "job_events"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_column=_moment(False))
    state: JobState = Field(max_length=16)
    attempt: int = 0
    worker: str | None = Field(default=None, max_length=255)
    message: str | None = Field(default=None, sa_column=Column(Text))
    # Set on a progress event (the job's state unchanged, `message` its reason): live
    # streams follow a job's progress and why it waits by the same ids as its states.
    progress: float | None = None


class ArtifactRecord(SQLModel, table=True):
    __tablename__ = "artifacts"

    id: str = Field(primary_key=True, max_length=32)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=32)
    attempt: int
    name: str = Field(max_length=255)
    sha256: str = Field(index=True, max_length=64)
    media_type: str = Field(max_length=64)
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_moment(False))


class LineageEdge(SQLModel, table=True):
    """`child` was made from `parent`: an artifact from its job, a job from its inputs."""

    __tablename__ = "lineage"

    id: int | None = Field(default=None, primary_key=True)
    child_id: str = Field(index=True, max_length=64)
    parent_id: str = Field(index=True, max_length=64)
    relation: str = Field(max_length=32)


class DeviceFence(SQLModel, table=True):
    """The newest fencing token granted on a device; a commit with an older one is refused."""

    __tablename__ = "device_fences"

    device: str = Field(primary_key=True, max_length=64)
    token: int = Field(sa_column=Column(BigInteger, nullable=False))


class FarmFlag(SQLModel, table=True):
    """A farm-wide setting the farm's user changes while it runs (the pause), kept here so
    it outlives Redis and restarts; Redis holds a copy for the workers' quick looks."""

    __tablename__ = "farm_flags"

    name: str = Field(primary_key=True, max_length=64)
    value_json: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_moment(False))


class ModelRecord(SQLModel, table=True):
    __tablename__ = "models"

    sha256: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=255)
    kind: str | None = Field(default=None, max_length=32)  # the job kind that loads it
    path: str = Field(sa_column=Column(Text, nullable=False))
    vram_mb: int | None = None  # measured peak on a GPU (None: never measured)
    load_s: float | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_moment(False))
