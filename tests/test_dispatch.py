"""One owner decides when a job is ready and sends it: at submit, when an input ends, on retry."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

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


def test_a_failed_input_fails_the_whole_graph_below_it(ctx: ProcessContext) -> None:
    root, _ = admit(ctx.settings, ctx.catalog, _job(), [])
    child, _ = admit(ctx.settings, ctx.catalog, _job(), [root.id])
    grandchild, _ = admit(ctx.settings, ctx.catalog, _job(), [child.id])
    ctx.catalog.transition(root.id, [JobState.QUEUED], JobState.CANCELLED)
    job_ended(ctx.settings, ctx.catalog, root.id)
    assert [ctx.catalog.get_job(j.id).state for j in (child, grandchild)] == [JobState.FAILED] * 2
    assert child.id[:12] in (ctx.catalog.get_job(grandchild.id).error or "")


def test_a_heartbeat_that_comes_back_starts_the_reconcilers_count_again(ctx: ProcessContext) -> None:
    from jobs.reconcile import reconcile_once

    job, _ = admit(ctx.settings, ctx.catalog, _job(), [])
    assert ctx.catalog.claim(job.id, "w@elsewhere", 1, JobState.QUEUED, 0) == 1
    ctx.catalog.set_progress(job.id, 0.0)  # (no reason)
    long_ago = ctx.catalog.get_job(job.id).started_at - timedelta(minutes=5)
    ctx.catalog.transition(job.id, [JobState.RUNNING], JobState.RUNNING, started_at=long_ago)
    keys = FarmKeys(ctx.settings.namespace)
    suspect = keys.suspect(job.id, 1)
    reconcile_once(ctx.settings, ctx.catalog, ctx.redis)  # first look without a heartbeat
    assert ctx.redis.exists(suspect)
    ctx.redis.set(suspect, time.time() - 600)  # ... and let it be long ago
    ctx.redis.set(keys.job_alive(job.id), "{}", px=60_000)  # it beats after all
    reconcile_once(ctx.settings, ctx.catalog, ctx.redis)
    assert not ctx.redis.exists(suspect)
    ctx.redis.delete(keys.job_alive(job.id))  # a second gap: a first look again, no re-queue
    assert reconcile_once(ctx.settings, ctx.catalog, ctx.redis)["requeued"] == []
    assert ctx.catalog.get_job(job.id).state == JobState.RUNNING
