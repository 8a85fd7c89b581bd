"""The API as one FastAPI app: the routes, the page, the OpenAPI document, and around them the
gate (token, host names, body size) and CORS when configured.

FastAPI's own telemetry stays off (an offline farm exports nothing) and so do its docs pages,
which load scripts from a CDN; `/openapi.json` (behind the token like the rest) describes every
route, with examples.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from jobs.api import errors
from jobs.api.bodies import Problem
from jobs.api.gate import PUBLIC_PATHS, Gate
from jobs.api.routes import farm_routes
from jobs.api.streams import EventHub
from jobs.config import FarmSettings

STATIC = Path(__file__).parent / "static"
# The page runs only its own script and styles; artifacts reach it as blob: URLs (fetched
# with the token), and it talks to this origin alone.
PAGE_POLICY = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
               "script-src 'self'; style-src 'self'; connect-src 'self'; object-src 'none'; "
               "base-uri 'none'; frame-ancestors 'none'")
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": what} for code, what in (
        (400, "Bad input, as the CLI's exit 2"), (401, "No or wrong bearer token"),
        (404, "Unknown job, artifact or node"), (409, "Conflicts with the catalog (an "
                                                     "idempotency key, a job still running)"),
        (413, "Body over api.max_body_bytes"), (421, "Not a loopback name (no api.token)"),
        (422, "The request does not fit the schema"), (500, "A bug, or a damaged store"),
        (503, "Redis or the catalog unreachable or damaged, as the CLI's exit 3"),
        (504, "Timed out"))}


def make_app(settings: FarmSettings) -> FastAPI:
    hub = EventHub(settings)
    writer = ThreadPoolExecutor(1, thread_name_prefix="farm-api-writes")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        listener = asyncio.create_task(hub.listen())
        try:
            yield
        finally:
            listener.cancel()
            with suppress(asyncio.CancelledError):
                await listener
            writer.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="studio-farm", version="1", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None, responses=PROBLEMS,
                  description="The farm's HTTP API: jobs, renders, artifacts and live events. "
                              "Send `Authorization: Bearer <api.token>` (all but /health).",
                  telemetry={"auto_configure": False, "tracing": False, "metrics": False,
                             "logs": False, "operation_spans": False})
    errors.install(app)
    app.include_router(farm_routes(settings, hub, writer))

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(_document(app))

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"content-security-policy": PAGE_POLICY,
                                                            "cache-control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Gate, conf=settings.api)  # type: ignore[arg-type]
    if settings.api.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.api.cors_origins,  # type: ignore[arg-type]
                           allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type", "last-event-id"])
    return app


def _document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the bearer token declared (and waived where the gate does)."""
    if app.openapi_schema is None:
        doc = app.openapi()
        doc.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "api.token; not needed when the API has none (loopback)"}}
        doc["security"] = [{"bearer": []}]
        for path, operations in doc["paths"].items():
            for operation in operations.values():
                if path in PUBLIC_PATHS:
                    operation["security"] = []
                for answer in operation["responses"].values():
                    problem = {"$ref": "#/components/schemas/Problem"}
                    if problem in [m.get("schema") for m in answer.get("content", {}).values()]:
                        # JSON, also where the route streams (FastAPI says otherwise)
                        answer["content"] = {"application/json": {"schema": problem}}
        app.openapi_schema = doc
    return app.openapi_schema
