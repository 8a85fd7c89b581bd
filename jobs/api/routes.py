"""The API's routes: each is a CLI command's own function (jobs.submit, jobs.render,
jobs.queries, jobs.control, jobs.lineage, jobs.models) with its document as the answer, and
the live streams of jobs.api.streams. Reads run in FastAPI's thread pool (plain `def` routes);
the streams are async and read the catalog in the pool too.

What writes the catalog and sends to Redis (submit, render, cancel, retry) runs on one thread
of its own, one call after another: SQLite takes one writer at a time anyway, and a thread
that keeps its connections warm submits faster than whichever pool thread is free (about a
third faster here: bench/api_events.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jobs.api.artifacts import artifact_response
from jobs.api.bodies import (
    Changed,
    Health,
    JobBody,
    JobDoc,
    JobLine,
    LlmBody,
    ModelLine,
    RenderBody,
    Rendered,
    RenderLine,
    Submitted,
)
from jobs.api.errors import NotFound
from jobs.api.streams import EventHub, EventReader, EventStream, event_stream, start_cursor, text_stream
from jobs.config import PROJECT_PATTERN, FarmSettings
from jobs.errors import BadJobSpec, FarmError
from jobs.home import open_reader
from storage.errors import CatalogDamaged, StorageError

JobId = Annotated[str, Path(description="A job id, or 4 or more of its first hex digits.",
                            examples=["3f2a9c41"])]
ProjectFilter = Annotated[str | None, Query(pattern=PROJECT_PATTERN, description="Only this project.")]
T = TypeVar("T")
Responses = dict[int | str, dict[str, Any]]


def _sse_doc(what: str) -> Responses:
    return {200: {"description": f"Server-Sent Events: {what}",
                  "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


EVENTS_DOC = _sse_doc("`state` and `progress` events whose `id` is the catalog's event id (send "
                      "it back as Last-Event-ID to resume); a job's stream ends with `end`; "
                      "trouble with the catalog ends a stream with `error`.")
TEXT_DOC = _sse_doc("`job` (its id), `token` events as the worker generates, then `done` with "
                    "the catalogued text (or `error`).")


def with_urls(doc: dict[str, Any]) -> dict[str, Any]:
    for artifact in doc["artifacts"]:
        artifact["url"] = f"/artifacts/{artifact['sha256']}"
    return doc


def farm_routes(settings: FarmSettings, hub: EventHub, writer: ThreadPoolExecutor) -> APIRouter:
    router = APIRouter()

    async def written(call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(writer, call, *args)

    @router.get("/health", response_model=Health, responses={503: {"model": Health}},
                summary="Redis, the catalog and live workers by tag (503: the farm cannot work)")
    def health() -> JSONResponse:
        doc = farm_health(settings)
        return JSONResponse(doc, status_code=200 if doc["ok"] else 503)

    @router.post("/jobs", response_model=Submitted, status_code=201,
                 responses={200: {"model": Submitted, "description": "Known by its key"}},
                 summary="Queue a job (as farm submit)")
    async def submit(body: JobBody, response: Response) -> dict[str, Any]:
        from jobs.spec import parse_spec
        from jobs.submit import submit_job

        spec = parse_spec(body.model_dump(exclude_none=True), "job")
        job, created = await written(submit_job, settings, spec)
        response.status_code = 201 if created else 200
        return {"job_id": job.id, "kind": job.kind, "state": str(job.state), "created": created,
                "seed": job.seed}

    @router.post("/render", response_model=Rendered, status_code=201,
                 summary="The studio graph: intent, MIDI, cover image, texture (as farm render)")
    async def render(body: RenderBody) -> dict[str, Any]:
        from jobs.render import plan_render, submit_render

        plan = plan_render(body.intent, body.images, body.audio_texture, body.bars, settings)
        return await written(submit_render, settings, plan, body.seed, body.priority,
                             body.project)

    @router.get("/jobs", response_model=list[JobLine], summary="Jobs, newest first (as farm ls)")
    def list_jobs(state: Annotated[list[str], Query()] = [],  # noqa: B006  (FastAPI's own)
                  kind: Annotated[list[str], Query()] = [],  # noqa: B006
                  project: ProjectFilter = None,
                  limit: Annotated[int, Query(ge=1, le=10000)] = 50) -> list[dict[str, Any]]:
        from jobs.queries import list_docs

        return list_docs(settings, state, kind, limit, [project] if project else [])

    @router.get("/jobs/{job_id}", response_model=JobDoc, summary="A job (as farm status)")
    def status(job_id: JobId) -> dict[str, Any]:
        from jobs.queries import job_status

        return with_urls(job_status(settings, job_id))

    @router.post("/jobs/{job_id}/cancel", response_model=Changed, summary="Cancel a job")
    async def cancel(job_id: JobId) -> dict[str, Any]:
        from jobs.control import cancel_job

        return await written(cancel_job, settings, job_id)

    @router.post("/jobs/{job_id}/retry", response_model=Changed,
                 summary="Queue a failed or cancelled job again")
    async def retry(job_id: JobId) -> dict[str, Any]:
        from jobs.control import retry_job

        return await written(retry_job, settings, job_id)

    @router.get("/jobs/{job_id}/lineage", summary="Where a job or artifact came from")
    def lineage(job_id: Annotated[str, Path(description="A job id, an artifact id or sha256.")]
                ) -> dict[str, Any]:
        from jobs.lineage import lineage_doc

        try:
            return lineage_doc(settings, job_id)
        except BadJobSpec as exc:
            raise NotFound(str(exc)) from None

    @router.get("/artifacts/{sha256}", summary="A blob the catalog knows, by its sha256",
                responses={200: {"description": "The blob, its media type; ETag is the sha256",
                                 "content": {"*/*": {"schema": {"type": "string",
                                                                "format": "binary"}}}},
                           206: {"description": "The asked range (Range: bytes=...)",
                                 "content": {"*/*": {"schema": {"type": "string",
                                                                "format": "binary"}}}},
                           304: {"description": "Not modified (If-None-Match)"},
                           416: {"description": "Range not satisfiable"}})
    def artifact(sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
                 request: Request) -> Response:
        return artifact_response(settings, sha256, request.headers)

    @router.get("/gpu", summary="Who holds each GPU, which model is resident, who waits (as farm gpu)")
    def gpu() -> list[dict[str, Any]]:
        from jobs.queries import gpu_docs

        return gpu_docs(settings)

    @router.get("/models", response_model=list[ModelLine], summary="The model registry")
    def models() -> list[dict[str, Any]]:
        from jobs.models import list_models

        return list_models(settings)

    @router.get("/renders", response_model=list[RenderLine],
                summary="Recent renders: each intent job and the jobs made from it")
    def renders(project: ProjectFilter = None,
                limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[dict[str, Any]]:
        return render_history(settings, project, limit)

    @router.get("/jobs/{job_id}/events", response_class=EventStream, responses=EVENTS_DOC, status_code=200,
                summary="A job's events, live, from its first (or after Last-Event-ID)")
    async def job_events(job_id: JobId,
                         after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
                         last_event_id: Annotated[str | None, Header()] = None) -> EventStream:
        cursor = start_cursor(last_event_id, after, 0)
        job = await run_in_threadpool(open_reader(settings).get_job, job_id)
        events = EventReader(settings, job.id, None)
        return EventStream(event_stream(hub, events, cursor, end_with_job=True))

    @router.get("/events", response_class=EventStream, responses=EVENTS_DOC, status_code=200,
                summary="Every job's events (of a project), live, from now (or after Last-Event-ID)")
    async def all_events(project: ProjectFilter = None,
                         after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
                         last_event_id: Annotated[str | None, Header()] = None) -> EventStream:
        events = EventReader(settings, None, project)
        now = await run_in_threadpool(events.reader.last_event_id)
        cursor = start_cursor(last_event_id, after, now)
        return EventStream(event_stream(hub, events, cursor, end_with_job=False))

    @router.post("/llm/stream", response_class=EventStream, responses=TEXT_DOC, status_code=200,
                 summary="Run an llm job and stream its text as the worker generates it")
    async def llm_stream(body: LlmBody) -> EventStream:
        from jobs.spec import parse_spec
        from jobs.submit import submit_job

        spec = parse_spec({"kind": "llm", "params": {"prompt": body.prompt,
                                                     "max_tokens": body.max_tokens},
                           "seed": body.seed, "priority": body.priority,
                           "project": body.project}, "llm")
        job, _ = await written(submit_job, settings, spec)
        return EventStream(text_stream(settings, job.id))

    return router


def farm_health(settings: FarmSettings) -> dict[str, Any]:
    """Whether the farm can work: Redis and the catalog answer, and some worker is alive."""
    import redis

    from jobs.broker import check_redis
    from jobs.presence import live_workers

    doc: dict[str, Any] = {"ok": False, "redis": "ok", "catalog": "ok", "workers": {}}
    try:
        for worker in live_workers(settings, check_redis(settings)):
            for tag in worker.get("tags", []):
                doc["workers"][tag] = doc["workers"].get(tag, 0) + 1
    except (FarmError, redis.RedisError, OSError):
        doc["redis"] = "unreachable"
    try:
        open_reader(settings).last_event_id()
    except CatalogDamaged:
        doc["catalog"] = "damaged"
    except StorageError:
        doc["catalog"] = "unreachable"
    doc["ok"] = doc["redis"] == doc["catalog"] == "ok" and bool(doc["workers"])
    return doc


def render_history(settings: FarmSettings, project: str | None, limit: int
                   ) -> list[dict[str, Any]]:
    import json

    from jobs.views import iso

    reader = open_reader(settings)
    found = []
    for job in reader.list_jobs(kinds=["intent"], limit=limit,
                                projects=[project] if project else []):
        made = {d.kind: d.id for d in reader.dependents(job.id)}
        found.append({"intent_job": job.id, "text": json.loads(job.params_json)["params"]["text"],
                      "state": str(job.state), "project": job.project,
                      "created_at": iso(job.created_at), "jobs": {"intent": job.id, **made}})
    return found
