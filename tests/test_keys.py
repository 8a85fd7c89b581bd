"""kombu's Redis layout, as the farm reads it: fails loudly if a kombu upgrade changes it."""

from __future__ import annotations

import uuid

from jobs.app import app_for
from jobs.dispatch import send_job
from jobs.keys import FarmKeys, UnreadableMessage, queued_job_id, unacked_job_ids
from storage.models import JobRecord
from workers.context import ProcessContext


def _job(priority: int) -> JobRecord:
    return JobRecord(id=uuid.uuid4().hex, kind="midi", tag="midi", seed=1, priority=priority,
                     params_json='{"params": {}, "given": []}')


def test_each_priority_lands_in_a_list_the_farm_reads(ctx: ProcessContext) -> None:
    keys = FarmKeys(ctx.settings.namespace)
    jobs = {p: _job(p) for p in (0, 5, 9)}
    for job in jobs.values():
        send_job(ctx.settings, job)
    lists = keys.queue_lists("midi")
    found = {key: [queued_job_id(raw) for raw in ctx.redis.lrange(key, 0, -1)] for key in lists}
    assert sorted(j for ids in found.values() for j in ids) == sorted(j.id for j in jobs.values())
    # The most urgent in the list kombu serves first, the least urgent in its last.
    assert found[lists[0]] == [jobs[9].id] and found[lists[-1]] == [jobs[0].id]
    everything = {k.decode() for k in ctx.redis.scan_iter(match=keys.prefix + "*")}
    assert everything - set(lists) == set(keys.bindings("midi")), everything


def test_a_delivered_message_is_found_in_unacked_until_it_is_acknowledged(ctx: ProcessContext) -> None:
    keys = FarmKeys(ctx.settings.namespace)
    job = _job(5)
    send_job(ctx.settings, job)
    app = app_for(ctx.settings)
    with app.connection_for_read() as conn:
        queue = app.amqp.queues["midi"](conn.default_channel)
        message = queue.get(no_ack=False)
        assert message is not None
        entries = ctx.redis.hgetall(keys.unacked)
        index = dict(ctx.redis.zrange(keys.unacked_index, 0, -1, withscores=True))
        assert unacked_job_ids(entries, index, fresh_after=0) == {job.id}
        assert unacked_job_ids(entries, index, fresh_after=2**40) == set()  # only the young
        message.ack()
    assert ctx.redis.hgetall(keys.unacked) == {}


def test_an_entry_that_is_no_farm_message_is_named_unreadable() -> None:
    for raw in (b"not json", b"[1, 2]", b'{"headers": {}}', b'{"headers": {"id": 7}}'):
        try:
            queued_job_id(raw)
        except UnreadableMessage:
            continue
        raise AssertionError(f"{raw!r} was read as a message")
