"""What a job is and how it gets in: specs, kinds, the Celery app, submit, config, the CLI."""
