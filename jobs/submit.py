"""Getting a job in: write it to the catalog (the outbox), then send it to its Redis queue."""

from __future__ import annotations

import json
import uuid

from jobs.broker import check_redis
from jobs.config import FarmSettings
from jobs.dispatch import admit
from jobs.errors import BadJobSpec, IdempotencyConflict, shown
from jobs.home import ensure_home, open_catalog
from jobs.kinds import kind_info
from jobs.spec import JobSpec
from storage.catalog import Catalog
from storage.errors import UnknownJob
from storage.models import JobRecord, JobState


def submit_job(settings: FarmSettings, spec: JobSpec) -> tuple[JobRecord, bool]:
    """Queue a job; returns it and whether it is new (False: its idempotency key was known
    for this very spec; a key naming another spec is an IdempotencyConflict)."""
    ensure_home(settings)
    check_redis(settings)
    catalog = open_catalog(settings)
    deps = [_resolve_dep(catalog, dep) for dep in spec.depends_on]
    kind = kind_info(spec.kind)
    seeded = spec.with_seed()
    assert seeded.seed is not None
    job = JobRecord(
        id=uuid.uuid4().hex, kind=spec.kind, tag=kind.queue_for(seeded.params),
        state=JobState.QUEUED, params_json=seeded.stored_params(),
        seed=seeded.seed, priority=seeded.priority, project=seeded.project,
        model=kind.model(seeded.params, settings), idempotency_key=seeded.idempotency_key,
    )
    job, created = admit(settings, catalog, job, deps)
    if not created:
        _same_spec_or_conflict(catalog, job, spec, deps)
    return job, created


def _resolve_dep(catalog: Catalog, dep: str) -> str:
    try:
        return catalog.get_job(dep).id
    except UnknownJob as exc:
        raise BadJobSpec(f"depends_on: {exc}") from None


def _same_spec_or_conflict(catalog: Catalog, known: JobRecord, spec: JobSpec,
                           deps: list[str]) -> None:
    """A reused idempotency key must name the same job: same kind, params, priority, project,
    inputs and (when the submitter gave one) seed."""
    stored = json.loads(known.params_json)["params"]
    differences = [name for name, same in (
        ("kind", known.kind == spec.kind),
        ("params", stored == spec.params),
        ("priority", known.priority == spec.priority),
        ("project", known.project == spec.project),
        ("seed", spec.seed is None or known.seed == spec.seed),
        ("depends_on", sorted(d.id for d in catalog.dependencies(known.id)) == sorted(deps)),
    ) if not same]
    if differences:
        raise IdempotencyConflict(
            f"idempotency key {shown(spec.idempotency_key or '', 40)} already names job "
            f"{known.id[:12]} with another {', '.join(differences)}; use a new key, or "
            "submit exactly the same job")
