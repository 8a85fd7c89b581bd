"""The one Celery app. Tasks live in `workers` and are found through `include`, never imported."""

from __future__ import annotations

from celery import Celery
from kombu import Exchange, Queue

from jobs.config import FarmSettings, load_settings
from jobs.kinds import KINDS, TAGS

PRIORITY_LEVELS = 10


def task_name(kind: str) -> str:
    return f"farm.{kind}"


def kombu_priority(priority: int) -> int:
    """The farm's priority (9 = most urgent) in the Redis transport's order (0 = first)."""
    return PRIORITY_LEVELS - 1 - priority


def configure(app: Celery, settings: FarmSettings) -> Celery:
    tags = list(TAGS)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # Above the longest job, or Redis re-delivers a running task to a second worker.
            "visibility_timeout": settings.visibility_timeout_s,
            "priority_steps": list(range(PRIORITY_LEVELS)),
            "queue_order_strategy": "priority",
            "sep": ":",
            # Every key of the farm's queues under its namespace: farms can share a Redis.
            "global_keyprefix": f"{settings.namespace}:",
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
        task_queues=[Queue(tag, Exchange(tag, type="direct"), routing_key=tag) for tag in tags],
        task_routes={task_name(kind): {"queue": info.tag} for kind, info in KINDS.items()},
        task_default_queue="midi",
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app


app = configure(Celery("studio_farm", include=["workers.tasks"]), load_settings())
