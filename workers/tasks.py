"""One Celery task per job kind; each is a thin call into the runner."""

from __future__ import annotations

import logging

from celery import Task

from jobs.app import app, task_name
import workers.announce  # noqa: F401  (connects worker signals)
from workers.midi import render_midi
from workers.runner import run_delivery

log = logging.getLogger(__name__)


@app.task(name=task_name("midi"), bind=True)
def midi(self: Task, job_id: str) -> None:
    log.info(run_delivery(job_id, render_midi, self.request.hostname or "worker"))
