"""Where jobs run: one Celery task per kind, the per-process context and the job runner."""
