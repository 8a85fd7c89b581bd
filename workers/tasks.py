"""One Celery task per registered job kind, made from the registry; each is a thin call into
the runner with the kind's handler, bound here from the name the registry gives."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from celery import Task, shared_task

import workers.announce  # noqa: F401  (connects the worker's signal handlers)
from jobs.app import task_name
from jobs.kinds import KINDS, Kind
from workers.attempt import Handler
from workers.runner import run_delivery

log = logging.getLogger(__name__)


def bind_handler(kind: Kind) -> Handler:
    """The function the registry names for a kind ("module:function")."""
    module, _, name = kind.handler.partition(":")
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


def make_task(kind: Kind) -> Any:
    handler = bind_handler(kind)

    def run(self: Task, job_id: str) -> None:
        settings = getattr(self.app, "farm_settings", None)
        log.info(run_delivery(job_id, kind, handler, self.request.hostname or "worker", settings))

    run.__name__ = run.__qualname__ = kind.name
    return shared_task(name=task_name(kind.name), bind=True)(run)


TASKS = {name: make_task(kind) for name, kind in KINDS.items()}
