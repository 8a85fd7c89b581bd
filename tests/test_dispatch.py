"""One owner decides when a job is ready and sends it: at submit, when an input ends, on retry."""

from __future__ import annotations

import uuid

from jobs.dispatch import admit, job_ended
from jobs.keys import FarmKeys, queued_job_id
from storage.models import ArtifactRecord, JobRecord, JobState
from workers.context import ProcessContext


def _job() -> JobRecord:
    return JobRecord(id=uuid.uuid4().hex, kind="midi", tag="midi", seed=1,
                     params_json='{"params": {}, "given": []}')


def _queued(ctx: ProcessContext) -> list[str]:
    lists = FarmKeys(ctx.settings.namespace).queue_lists("midi")
    return [queued_job_id(raw) for key in lists for raw in ctx.redis.lrange(key, 0, -1)]


def test_a_job_without_inputs_is_dispatched_and_sent_as_it_is_catalogued(ctx: ProcessContext) -> None:
    parent, created = admit(ctx.settings, ctx.catalog, _job(), [])
    child, _ = admit(ctx.settings, ctx.catalog, _job(), [parent.id])
    assert created and ctx.catalog.get_job(parent.id).dispatched_at is not None
    assert ctx.catalog.get_job(child.id).dispatched_at is None
    assert ctx.catalog.get_job(child.id).reason == f"waiting for inputs: {parent.id[:12]}"
    assert _queued(ctx) == [parent.id]


def test_an_ended_input_sends_its_dependent_or_fails_it(ctx: ProcessContext) -> None:
    good, _ = admit(ctx.settings, ctx.catalog, _job(), [])
    bad, _ = admit(ctx.settings, ctx.catalog, _job(), [])
    after_good, _ = admit(ctx.settings, ctx.catalog, _job(), [good.id])
    after_bad, _ = admit(ctx.settings, ctx.catalog, _job(), [bad.id])
    attempt = ctx.catalog.claim(good.id, "w@h", 1, JobState.QUEUED, 0)
    assert attempt == 1
    art = ArtifactRecord(id=uuid.uuid4().hex, job_id=good.id, attempt=1, name="x", sha256="0" * 64,
                         media_type="text/plain", bytes=0)
    assert ctx.catalog.commit_result(good.id, 1, [art], [])
    ctx.catalog.transition(bad.id, [JobState.QUEUED], JobState.CANCELLED)
    job_ended(ctx.settings, ctx.catalog, good.id)
    job_ended(ctx.settings, ctx.catalog, bad.id)
    assert ctx.catalog.get_job(after_good.id).dispatched_at is not None
    assert after_good.id in _queued(ctx)
    failed = ctx.catalog.get_job(after_bad.id)
    assert failed.state == JobState.FAILED and f"input job {bad.id[:12]}" in (failed.error or "")
    assert after_bad.id not in _queued(ctx)
