"""One Celery task per job kind; each is a thin call into the runner."""

from __future__ import annotations

import logging

from celery import Task

import workers.announce  # noqa: F401  (connects the worker's signal handlers)
from jobs.app import app, task_name
from workers.brain import INTENT, LLM
from workers.midi import MIDI
from workers.probe import PROBE
from workers.runner import run_delivery

log = logging.getLogger(__name__)


@app.task(name=task_name("midi"), bind=True)
def midi(self: Task, job_id: str) -> None:
    log.info(run_delivery(job_id, MIDI, self.request.hostname or "worker"))


@app.task(name=task_name("probe"), bind=True)
def probe(self: Task, job_id: str) -> None:
    log.info(run_delivery(job_id, PROBE, self.request.hostname or "worker"))


@app.task(name=task_name("intent"), bind=True)
def intent(self: Task, job_id: str) -> None:
    log.info(run_delivery(job_id, INTENT, self.request.hostname or "worker"))


@app.task(name=task_name("llm"), bind=True)
def llm(self: Task, job_id: str) -> None:
    log.info(run_delivery(job_id, LLM, self.request.hostname or "worker"))
