"""Errors raised where jobs run."""

from jobs.errors import FarmError


class WorkerError(FarmError):
    """Something went wrong running a job."""

    exit_code = 1


class LeaseLost(WorkerError):
    """The GPU lease expired or passed to another holder; this holder may not commit."""


class JobCancelled(WorkerError):
    """The job was cancelled while it ran."""


class JobInputError(WorkerError):
    """The job's own inputs are wrong: it fails with this message and is not retried."""


class AttemptFailed(WorkerError):
    """This attempt failed, though another might not (a driver error, a flaky device): the
    kind's failure policy decides whether it is retried."""


class JobEnded(WorkerError):
    """Raised out of a Celery task whose job ended FAILED or CANCELLED (already settled in the
    catalog), so that Celery's events, and Flower, show the task as failed."""


class JobHeld(WorkerError):
    """The job may not go on now (the user paused it, quiet hours began, the disk is nearly
    full): it goes back in line, held, this attempt not counted."""

    def __init__(self, hold: str, reason: str) -> None:
        super().__init__(reason)
        self.hold, self.reason = hold, reason
