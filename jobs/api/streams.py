"""The live half of the API: job events as Server-Sent Events, and an `llm` job's text.

**Events.** Every event a job has is a row of the catalog's `job_events` (states, notes,
progress with its reason: storage.catalog), and its id is the SSE id. A stream reads the rows
after the last id it sent, sends them, and waits: the catalog's writers publish each job id
on Redis (jobs.notify), which wakes every stream of this process at once (EventHub); a stream
also looks every `POLL_S` on its own, so a lost notification costs latency, never an event. A
client that reconnects with `Last-Event-ID` gets exactly the rows after it.

On PostgreSQL an id is drawn when a row is written, so a transaction that drew a lower id can
commit after one that drew a higher. A stream that sent the higher first would never send the
lower: so it sends only up to the first hole among the newest ids, and takes a hole for a
write that was rolled back once it has stood for `HOLE_GRACE_S` (GapGuard). SQLite writes one
transaction at a time, so its ids commit in order and it has no such holes.

**Text.** An `llm` worker appends the text it generates to a Redis stream of the job's
(workers.brain); `POST /llm/stream` relays it as `token` events until the job ends, then sends
the text as catalogued (`completion.txt`) in a `done` event.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis
import redis.asyncio as aioredis
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from jobs.broker import check_embedded_socket
from jobs.config import FarmSettings
from jobs.errors import BadJobSpec, FarmError, one_line
from jobs.home import open_reader, open_store
from jobs.keys import FarmKeys
from jobs.views import iso
from storage.errors import StorageError
from storage.reader import CatalogReader, EventRow, JobRow

log = logging.getLogger("farm.api")
POLL_S = 1.0  # a stream looks at the catalog at least this often
KEEPALIVE_S = 15.0  # a comment line so that proxies and clients keep an idle stream open
HOLE_GRACE_S = 2.0
NEWEST_IDS = 1000  # how far back from the newest event a hole is still waited for
BATCH = 500
MAX_EVENT_ID = 2**63 - 1


class EventStream(StreamingResponse):
    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[str]) -> None:
        super().__init__(content, headers={"cache-control": "no-store",
                                           "x-accel-buffering": "no"})


def sse(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class EventHub:
    """Wakes this process's streams when the catalog announces events on Redis."""

    def __init__(self, settings: FarmSettings) -> None:
        self.settings = settings
        self._changed = asyncio.Event()

    def changed(self) -> asyncio.Event:
        """Set at the next announcement: take it before reading, wait on it after."""
        return self._changed

    def wake(self) -> None:
        woken, self._changed = self._changed, asyncio.Event()
        woken.set()

    async def listen(self) -> None:
        """Until cancelled: subscribe, wake the streams at each message; Redis away is
        waited out (the streams look on their own meanwhile)."""
        channel = FarmKeys(self.settings.namespace).events
        pause = 0.5
        while True:
            try:
                if self.settings.redis_url is None:
                    check_embedded_socket(self.settings.embedded_socket)
                client = aioredis.Redis.from_url(self.settings.redis_client_url,
                                                 socket_connect_timeout=3)
                async with client, client.pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    pause = 0.5
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self.wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  (Redis away, a bad socket: try again)
                log.info("events channel unavailable (%s); retrying", type(exc).__name__)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)


class GapGuard:
    """How far a stream may read: up to the first hole among the newest ids that is younger
    than `grace_s` (a transaction that may still commit), PostgreSQL only."""

    def __init__(self, grace_s: float = HOLE_GRACE_S) -> None:
        self.grace_s = grace_s
        self.first_seen: dict[int, float] = {}  # a hole's first id -> when a stream saw it

    def horizon(self, floor: int, ids: list[int], now: float) -> int:
        """The last id that may be sent, given the ids above `floor`, in order."""
        expected = floor + 1
        for found in ids:
            if found > expected:
                seen = self.first_seen.setdefault(expected, now)
                if now - seen < self.grace_s:
                    break
            expected = found + 1
        self.first_seen = {k: v for k, v in self.first_seen.items() if k >= expected}
        return expected - 1


def start_cursor(last_event_id: str | None, after: int | None, default: int) -> int:
    """Where a stream starts: after `Last-Event-ID` (a reconnect), else `?after=`, else the
    stream's default."""
    if last_event_id is None:
        return default if after is None else after
    if not re.fullmatch(r"[0-9]{1,19}", last_event_id.strip()) or int(last_event_id) > MAX_EVENT_ID:
        raise BadJobSpec("Last-Event-ID must be an event id (a whole number) the API sent")
    return int(last_event_id)


class EventReader:
    """What one stream reads: the next events of a job or a project, in id order, each with
    its job's kind and project, and a job's artifacts with its SUCCEEDED."""

    def __init__(self, settings: FarmSettings, job_id: str | None, project: str | None) -> None:
        self.reader: CatalogReader = open_reader(settings)
        self.job_id, self.project = job_id, project
        self.guard = None if self.reader.sqlite else GapGuard()
        self.jobs: dict[str, JobRow] = {}

    def next_events(self, cursor: int) -> list[dict[str, Any]]:
        upto = None
        if self.guard is not None:
            floor = max(cursor, self.reader.last_event_id() - NEWEST_IDS)
            upto = self.guard.horizon(floor, self.reader.event_ids_after(floor, NEWEST_IDS),
                                      time.monotonic())
        rows = self.reader.events_after(cursor, upto, self.job_id, self.project, BATCH)
        unknown = sorted({e.job_id for e in rows} - set(self.jobs))
        self.jobs.update({j.id: j for j in self.reader.jobs_by_ids(unknown)})
        return [self._doc(row) for row in rows]

    def _doc(self, row: EventRow) -> dict[str, Any]:
        job = self.jobs.get(row.job_id)
        doc = {"id": row.id, "job_id": row.job_id, "kind": job.kind if job else None,
               "project": job.project if job else None, "state": str(row.state),
               "attempt": row.attempt, "at": iso(row.at), "worker": row.worker,
               "message": row.message, "progress": row.progress}
        if str(row.state) == "SUCCEEDED" and row.progress is None:
            doc["artifacts"] = [{"name": a.name, "sha256": a.sha256, "media_type": a.media_type,
                                 "bytes": a.bytes, "url": f"/artifacts/{a.sha256}"}
                                for a in self.reader.artifacts(row.job_id)]
        return doc

    def job_ended(self) -> int | None:
        """For a job's stream once the job has ended: the id of its last event (a stream
        ends only after sending it: on PostgreSQL the horizon may still hold it back)."""
        if self.job_id is None or not self.reader.get_job(self.job_id).state.is_terminal:
            return None
        return self.reader.last_event_id(self.job_id)


def ends_on_trouble(stream: Callable[..., AsyncIterator[str]]) -> Callable[..., AsyncIterator[str]]:
    """A stream that meets the catalog's trouble (busy past its patience, damaged) ends with
    an `error` event in the CLI's one line; the client reconnects with Last-Event-ID."""

    @functools.wraps(stream)
    async def guarded(*args: Any, **kwargs: Any) -> AsyncIterator[str]:
        try:
            async for chunk in stream(*args, **kwargs):
                yield chunk
        except (FarmError, StorageError) as exc:
            yield sse("error", {"detail": one_line(str(exc))})
    return guarded


@ends_on_trouble
async def event_stream(hub: EventHub, events: EventReader, cursor: int,
                       end_with_job: bool) -> AsyncIterator[str]:
    """SSE of the events after `cursor`: `state` (a state or a note) and `progress` events,
    and for a job's stream an `end` once the job has ended and all of its events were sent."""
    quiet_since = time.monotonic()
    while True:
        changed = hub.changed()
        last = await run_in_threadpool(events.job_ended) if end_with_job else None
        batch = await run_in_threadpool(events.next_events, cursor)
        for doc in batch:
            cursor = doc["id"]
            yield sse("progress" if doc["progress"] is not None else "state", doc, cursor)
        if batch:
            quiet_since = time.monotonic()
            if len(batch) == BATCH:
                continue
        if last is not None and cursor >= last:
            yield sse("end", {"job_id": events.job_id, "last_event_id": cursor})
            return
        if time.monotonic() - quiet_since > KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keepalive\n\n"
        try:
            await asyncio.wait_for(changed.wait(), POLL_S)
        except TimeoutError:
            pass


@ends_on_trouble
async def text_stream(settings: FarmSettings, job_id: str) -> AsyncIterator[str]:
    """SSE of an `llm` job: `job`, then `token` events as the worker generates them, then
    `done` with the catalogued text (or the error) once the job has ended."""
    yield sse("job", {"job_id": job_id})
    reader = open_reader(settings)
    key = FarmKeys(settings.namespace).llm_tokens(job_id)
    if settings.redis_url is None:
        check_embedded_socket(settings.embedded_socket)
    client = aioredis.Redis.from_url(settings.redis_client_url, socket_connect_timeout=3)
    last = "0-0"
    async with client:
        while True:
            job = await run_in_threadpool(reader.get_job, job_id)
            found: Any
            try:  # once the job has ended its text is all there: read without waiting
                found = await client.xread({key: last}, count=BATCH,
                                           block=None if job.state.is_terminal else 250)
            except redis.RedisError as exc:  # the text is lost to this stream, not the job
                log.info("job %s: text stream unavailable (%s)", job_id[:12], exc)
                found = []
                await asyncio.sleep(POLL_S)
            for _, entries in found:
                for entry_id, fields in entries:
                    last = entry_id
                    yield sse("token", {"text": fields[b"text"].decode("utf-8", "replace"),
                                        "attempt": int(fields[b"attempt"])})
            if job.state.is_terminal and not found:
                break
    yield sse("done", await run_in_threadpool(_final_text, settings, reader, job_id))


def _final_text(settings: FarmSettings, reader: CatalogReader, job_id: str) -> dict[str, Any]:
    job = reader.get_job(job_id)
    found = [a for a in reader.artifacts(job_id) if a.name == "completion.txt"]
    text = open_store(settings).read_bytes(found[0].sha256).decode() if found else None
    return {"job_id": job_id, "state": str(job.state), "text": text, "error": job.error,
            "artifacts": [{"name": a.name, "sha256": a.sha256, "url": f"/artifacts/{a.sha256}"}
                          for a in found]}
