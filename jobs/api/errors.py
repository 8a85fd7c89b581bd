"""The CLI's errors as HTTP answers: the same one line, as `{"detail": ...}`, never a traceback.

A FarmError or StorageError carries the CLI's exit code, and that decides the status: bad
input (2) is 400, or 404 for an id the catalog does not know and 409 for a conflict with what
it holds (an idempotency key, a retry of a job still running); Redis or the catalog away or
damaged (3) is 503; a timeout (4) is 504; a store that cannot take or give a blob (1) is 500.
A request the API's own schema refuses is 422. Anything else is a bug: 500, a line in the
response, the traceback in the API's log only.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from jobs.errors import FarmError, IdempotencyConflict, NotRetryable, one_line, shown
from storage.errors import StorageError, UnknownJob

STATUS_BY_EXIT_CODE = {1: 500, 2: 400, 3: 503, 4: 504}


class NotFound(FarmError):
    """Something the client named (an artifact, a lineage node) the catalog does not know."""


def status_of(exc: FarmError | StorageError) -> int:
    if isinstance(exc, UnknownJob | NotFound):
        return 404
    if isinstance(exc, IdempotencyConflict | NotRetryable):
        return 409
    return STATUS_BY_EXIT_CODE.get(exc.exit_code, 500)


def validation_line(exc: RequestValidationError) -> str:
    """The first thing wrong with a request, in a line: where, what, and how many more."""
    errors = exc.errors()
    if not errors:
        return "the request is not valid"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{shown(where, 80)[1:-1]}: {first.get('msg', 'invalid')}{more}"


def install(app: FastAPI) -> None:
    """Register the handlers that turn errors into one-line answers."""

    @app.exception_handler(FarmError)
    @app.exception_handler(StorageError)
    async def farm_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, FarmError | StorageError)
        return JSONResponse({"detail": one_line(str(exc))}, status_code=status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": one_line(validation_line(exc))}, status_code=422)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        # Starlette raises it again once this answer is sent: uvicorn logs the traceback.
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); the API's "
                                       "log has the details"}, status_code=500)
