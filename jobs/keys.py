"""Every Redis key the farm reads or writes, its own and Celery's (kombu's), in one place.

All of a farm's keys start with its namespace, so farms can share one Redis server. The
kombu part (queue lists per priority, the `unacked` hash and its index, the message envelope)
is kombu's Redis transport layout, not an API: `queued_job_id` and `unacked_job_ids` are the
only readers of it, and tests/test_keys.py fails if a kombu upgrade changes it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PRIORITY_LEVELS = 10
# kombu's Redis transport keeps one list per priority step: `<queue>` for step 0, then
# `<queue><sep><step>` (the app sets sep ":" and steps 0..9, see jobs.app).
PRIORITY_SUFFIXES = ("",) + tuple(f":{n}" for n in range(1, PRIORITY_LEVELS))


@dataclass(frozen=True)
class GpuKeys:
    lease: str  # JSON of the holder, with a TTL the holder renews
    token: str  # monotonic counter: every grant gets the next fencing token
    waiters: str  # sorted set of waiting job ids, by priority then submit time
    waiter_prefix: str  # + job id: JSON of a waiter, with a TTL it renews
    wake_prefix: str  # + job id: a list a releaser pushes to, so the next waiter starts at once
    events: str  # recent grants and releases, newest first


@dataclass(frozen=True)
class FarmKeys:
    namespace: str

    @property
    def prefix(self) -> str:
        """kombu's `global_keyprefix`: every key of the farm's queues starts with it."""
        return f"{self.namespace}:"

    # the farm's own --------------------------------------------------------------------

    def worker(self, nodename: str) -> str:
        return f"{self.namespace}:worker:{nodename}"

    @property
    def worker_pattern(self) -> str:
        return f"{self.namespace}:worker:*"

    def job_alive(self, job_id: str) -> str:
        return f"{self.namespace}:job:{job_id}:alive"

    def cancel(self, job_id: str) -> str:
        return f"{self.namespace}:cancel:{job_id}"

    def yield_attempt(self, job_id: str, attempt: int) -> str:
        """Set by `farm pause --now`: this attempt goes back in line, not counted."""
        return f"{self.namespace}:yield:{job_id}:{attempt}"

    @property
    def pause(self) -> str:
        """The catalog's pause, copied for the workers' quick looks (see jobs.holds)."""
        return f"{self.namespace}:pause"

    def blocked(self, nodename: str) -> str:
        """Kinds a worker stopped taking after failing them in a row: {kind: why}."""
        return f"{self.namespace}:blocked:{nodename}"

    def failures(self, nodename: str, kind: str) -> str:
        """How many jobs of `kind` failed in a row on a worker."""
        return f"{self.namespace}:failures:{nodename}:{kind}"

    @property
    def reconciler_lock(self) -> str:
        return f"{self.namespace}:reconciler:lock"

    def suspect(self, job_id: str, attempt: int) -> str:
        """When the reconciler first saw a running job without its heartbeat."""
        return f"{self.namespace}:suspect:{job_id}:{attempt}"

    @property
    def dead_letters(self) -> str:
        """Messages set aside because nothing could read them (`farm doctor` lists them)."""
        return f"{self.namespace}:dead"

    @property
    def events(self) -> str:
        """Pub/sub channel: the id of each job whose events the catalog just recorded, so
        live streams (jobs.api) wake at once; they read the events from the catalog."""
        return f"{self.namespace}:events"

    def llm_tokens(self, job_id: str) -> str:
        """Stream of an `llm` job's text as its worker generates it, read by the API."""
        return f"{self.namespace}:llm:{job_id}"

    def gpu(self, device: str) -> GpuKeys:
        """A device's lease keys; `device` is qualified by its host (`studio-pc/gpu0`), so
        two hosts' `gpu0` are two leases (see jobs.hosts)."""
        base = f"{self.namespace}:gpu:{device}"
        return GpuKeys(f"{base}:lease", f"{base}:token", f"{base}:waiters", f"{base}:waiter:",
                       f"{base}:wake:", f"{base}:events")

    # kombu's ---------------------------------------------------------------------------

    def queue_lists(self, tag: str) -> list[str]:
        """The Redis lists of one queue, one per priority step."""
        return [f"{self.prefix}{tag}{suffix}" for suffix in PRIORITY_SUFFIXES]

    def bindings(self, tag: str) -> list[str]:
        """Where kombu keeps which queue an exchange routes to (a flush loses them, and the
        reconciler declares the queues again)."""
        return [f"{self.prefix}_kombu.binding.{tag}", f"{self.prefix}_kombu.binding_permanent.{tag}"]

    @property
    def unacked(self) -> str:
        """Hash of delivered, unacknowledged messages: delivery tag -> [message, exchange, key]."""
        return f"{self.prefix}unacked"

    @property
    def unacked_index(self) -> str:
        """Sorted set: delivery tag -> when it was delivered (seconds)."""
        return f"{self.prefix}unacked_index"


class UnreadableMessage(ValueError):
    """A queue entry that is not a kombu message of the farm's (not JSON, no task id)."""


def job_id_of_task(task_id: str) -> str:
    """The farm names each Celery task `<job id>.<random>` (see jobs.dispatch.send_job)."""
    return task_id.split(".", 1)[0]


def envelope_problem(envelope: Any) -> str | None:
    """What keeps kombu from making a message of a parsed queue entry, or None: it needs a
    mapping with `properties` (a delivery tag, the exchange and routing key it acks and
    restores by) and a text body in the encoding the properties name."""
    if not isinstance(envelope, dict):
        return f"not a message: a JSON {type(envelope).__name__}"
    properties, body = envelope.get("properties"), envelope.get("body")
    if not isinstance(properties, dict) or not isinstance(properties.get("delivery_tag"),
                                                          str | int):
        return "not a message: no properties with a delivery tag"
    info = properties.get("delivery_info")
    if not isinstance(info, dict) or not all(isinstance(info.get(k), str)
                                             for k in ("exchange", "routing_key")):
        return "not a message: no delivery info with its exchange and routing key"
    if not isinstance(envelope.get("headers", {}), dict | None):
        return "not a message: its headers are not a mapping"
    if body is not None and not isinstance(body, str):
        return "not a message: its body is not text"
    if body and properties.get("body_encoding") == "base64":
        try:
            base64.b64decode(body, validate=True)
        except (ValueError, binascii.Error):
            return "not a message: its body is not base64"
    return None


def queued_job_id(raw: bytes | str) -> str:
    """The job id in a queue list entry: kombu's envelope, its task id in `headers.id`."""
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise UnreadableMessage(f"not a message: {type(exc).__name__}") from None
    if (problem := envelope_problem(envelope)) is not None:
        raise UnreadableMessage(problem)
    task_id = (envelope.get("headers") or {}).get("id")
    if not isinstance(task_id, str) or not task_id:
        raise UnreadableMessage("not a farm message: no task id")
    return job_id_of_task(task_id)


def unacked_job_ids(entries: dict[Any, Any], delivered_at: dict[Any, float],
                    fresh_after: float) -> set[str]:
    """Job ids of delivered messages younger than `fresh_after` (a Unix time). An entry of
    the `unacked` hash is `[envelope, exchange, routing key]`; unreadable ones are skipped
    (the queue scan sets such messages aside; these are already out of every queue)."""
    found = set()
    for tag, raw in entries.items():
        when = delivered_at.get(tag)
        if when is None or when < fresh_after:
            continue
        try:
            envelope = json.loads(raw)[0]
            found.add(job_id_of_task(str(envelope["headers"]["id"])))
        except (ValueError, TypeError, KeyError, IndexError):
            continue
    return found


def decoded(values: Iterable[Any]) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
