"""One Celery task per registered job kind, made from the registry; each is a thin call into
the runner with the kind's handler, bound here from the name the registry gives.

A delivered message that is no task message Celery can read (a body without its args, say)
would raise out of Celery's consumer and stop the worker; and as it is restored to its queue
when the worker stops, every worker after it would stop the same way. The farm's tasks hand
such a message to the dead letters instead, and Celery acknowledges it as invalid.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

import redis
from celery import Task, shared_task
from celery.exceptions import InvalidTaskError
from celery.worker.strategy import default as default_strategy

import workers.announce  # noqa: F401  (connects the worker's signal handlers)
from jobs.app import task_args, task_name
from jobs.kinds import KINDS, Kind
from workers.attempt import Handler
from workers.errors import JobEnded
from workers.runner import run_delivery
from workers.task_events import TaskEvents

log = logging.getLogger(__name__)


def guarded_strategy(task: Task, app: Any, consumer: Any, **options: Any) -> Callable[..., Any]:
    """Celery's own strategy, with a message it cannot take set aside, not fatal."""
    handle = default_strategy(task, app, consumer, **options)

    def take(message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **more: Any) -> Any:
        try:
            return handle(message, body, ack, reject, callbacks, **more)
        except (InvalidTaskError, OSError, redis.ConnectionError, redis.TimeoutError):
            raise  # Celery's own handling: the broker went away, not the message
        except Exception as exc:
            _set_aside(app, task.name, message, f"not a task message: {type(exc).__name__}: {exc}")
            raise InvalidTaskError(f"set aside an unreadable {task.name} message") from exc

    return take


def _set_aside(app: Any, task: str, message: Any, why: str) -> None:
    from jobs.broker import redis_client
    from jobs.dead_letters import set_aside_delivery

    settings = getattr(app, "farm_settings", None)
    if settings is None:
        return
    raw = message.body if isinstance(message.body, str) else repr(message.body)
    try:
        set_aside_delivery(settings, redis_client(settings), f"task {task}", raw, why)
    except Exception as exc:  # the message is acknowledged as invalid either way
        log.error("could not record the unreadable %s message: %s", task, exc)


class FarmTask(Task):
    Strategy = f"{__name__}:guarded_strategy"
    throws = (JobEnded,)  # an expected end: logged in a line, without a traceback


def bind_handler(kind: Kind) -> Handler:
    """The function the registry names for a kind ("module:function")."""
    module, _, name = kind.handler.partition(":")
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


def make_task(kind: Kind) -> Any:
    handler = bind_handler(kind)

    def run(self: Task, job_id: str) -> str:
        settings = getattr(self.app, "farm_settings", None)
        hostname = self.request.hostname or "worker"
        events = TaskEvents(self.app, self.request.id, hostname, self.name,
                            getattr(self.request, "argsrepr", None) or task_args(str(job_id)[:64], kind.name))
        outcome = run_delivery(job_id, kind, handler, hostname, settings, events)
        log.info(outcome)
        if events.failure is not None:
            raise JobEnded(events.failure)
        return outcome  # Flower shows it as the task's result

    run.__name__ = run.__qualname__ = kind.name
    return shared_task(name=task_name(kind.name), bind=True, base=FarmTask)(run)


TASKS = {name: make_task(kind) for name, kind in KINDS.items()}
