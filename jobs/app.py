"""The farm's Celery app, made from settings. Tasks live in `workers` and are found through
`include`, never imported here."""

from __future__ import annotations

from celery import Celery
from kombu import Exchange, Queue

from jobs.config import FarmSettings
from jobs.keys import PRIORITY_LEVELS, FarmKeys
from jobs.kinds import KINDS, TAGS


class FarmApp(Celery):
    """A Celery app that knows the farm settings it was made from (workers read them)."""

    farm_settings: FarmSettings


def task_name(kind: str) -> str:
    return f"farm.{kind}"


def task_args(job_id: str, kind: str) -> str:
    """A task's arguments as Celery's events and Flower show them: the job and its kind (the
    message itself carries the job id alone; params stay in the catalog, so no prompt, path or
    secret is shown)."""
    return f"job {job_id} ({kind})"


def kombu_priority(priority: int) -> int:
    """The farm's priority (9 = most urgent) in the Redis transport's order (0 = first)."""
    return PRIORITY_LEVELS - 1 - priority


def make_app(settings: FarmSettings) -> FarmApp:
    app = FarmApp("studio_farm", include=["workers.tasks"], set_as_current=False)
    app.farm_settings = settings
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker rides out a Redis outage of any length
        broker_transport_options={
            # Above the longest job, or Redis re-delivers a running task to a second worker.
            "visibility_timeout": settings.visibility_timeout_s,
            "priority_steps": list(range(PRIORITY_LEVELS)),
            "queue_order_strategy": "priority",
            "sep": ":",
            # Every key of the farm's queues under its namespace: farms can share a Redis.
            "global_keyprefix": FarmKeys(settings.namespace).prefix,
        },
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # results live in the catalog, not in Redis
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_send_task_events=True,
        task_send_sent_event=True,
        # One exchange per tag: a shared default exchange would copy messages across queues.
        task_queues=[Queue(tag, Exchange(tag, type="direct"), routing_key=tag) for tag in TAGS],
        task_routes={task_name(name): {"queue": kind.tag} for name, kind in KINDS.items()},
        task_default_queue="midi",
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app


_apps: dict[tuple[str, str, int], FarmApp] = {}


def app_for(settings: FarmSettings) -> FarmApp:
    """This process's app for a farm (one per broker and namespace): its connection pool
    is kept between sends."""
    key = (settings.broker_url, settings.namespace, settings.visibility_timeout_s)
    if key not in _apps:
        _apps[key] = make_app(settings)
    return _apps[key]
