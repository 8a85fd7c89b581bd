"""Getting a job in: write it to the catalog (the outbox), then send it to its Redis queue."""

from __future__ import annotations

import json
import uuid

from jobs.broker import check_redis
from jobs.config import FarmSettings
from jobs.dispatch import admit
from jobs.errors import BadJobSpec, IdempotencyConflict, shown
from jobs.home import ensure_home, open_catalog
from jobs.kinds import Kind, kind_info
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
    if kind.check is not None:
        kind.check(spec.params, settings, spec.given, bool(deps))
    _fits_a_device(settings, catalog, kind, spec)
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


def _fits_a_device(settings: FarmSettings, catalog: Catalog, kind: Kind, spec: JobSpec) -> None:
    """A heavy job whose model fits no configured device is refused now, not after a wait."""
    if not kind.gpu(spec.params, settings):
        return
    model = kind.model(spec.params, settings)
    measured = catalog.measured_vram_mb(model) if model and kind.measures_vram else None
    needed = kind.vram_needed(spec.params, settings, measured)
    largest = max(settings.devices.items(), key=lambda item: item[1].vram_mb)
    if needed > largest[1].vram_mb:
        how = "measured" if measured else "estimated"
        raise BadJobSpec(f"{spec.kind}: {model or 'its model'} needs {needed} MB of VRAM "
                         f"({how}) but the largest device, {largest[0]}, has "
                         f"{largest[1].vram_mb} MB; lower the job's size or use a larger device "
                         "(devices in farm.yaml)")


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
