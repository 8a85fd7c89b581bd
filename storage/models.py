"""Catalog tables: jobs, their events and dependencies, artifacts, lineage and models."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobState(StrEnum):
    QUEUED = "QUEUED"
    WAITING_GPU = "WAITING_GPU"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
ACTIVE_STATES = frozenset({JobState.QUEUED, JobState.WAITING_GPU, JobState.RUNNING})


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
    created_at: datetime = Field(default_factory=utcnow, index=True)
    dispatched_at: datetime | None = None  # inputs ready and a message sent to its queue
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    worker: str | None = Field(default=None, max_length=255)
    worker_pid: int | None = None
    progress: float = 0.0
    reason: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))


class JobDependency(SQLModel, table=True):
    __tablename__ = "job_deps"

    job_id: str = Field(primary_key=True, foreign_key="jobs.id", max_length=32)
    depends_on: str = Field(primary_key=True, foreign_key="jobs.id", index=True, max_length=32)


class JobEvent(SQLModel, table=True):
    __tablename__ = "job_events"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=32)
    at: datetime = Field(default_factory=utcnow)
    state: JobState = Field(max_length=16)
    attempt: int = 0
    worker: str | None = Field(default=None, max_length=255)
    message: str | None = Field(default=None, sa_column=Column(Text))


class ArtifactRecord(SQLModel, table=True):
    __tablename__ = "artifacts"

    id: str = Field(primary_key=True, max_length=32)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=32)
    attempt: int
    name: str = Field(max_length=255)
    sha256: str = Field(index=True, max_length=64)
    media_type: str = Field(max_length=64)
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


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


class ModelRecord(SQLModel, table=True):
    __tablename__ = "models"

    sha256: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=255)
    path: str = Field(sa_column=Column(Text, nullable=False))
    vram_mb: int | None = None
    load_s: float | None = None
    updated_at: datetime = Field(default_factory=utcnow)
