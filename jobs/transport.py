"""kombu's Redis transport for the farm's workers, with one change: a queue entry that is not
a message is set aside instead of ending the worker.

kombu pops an entry off a queue (BRPOP) and only then parses it and makes a message of it;
an entry that is not JSON, or JSON that is no message envelope, raises out of its event loop,
and Celery stops the worker as "unrecoverable" (the entry is gone by then). Here that entry
goes to the dead letters and the worker reads on. Installed in worker processes only, by
`farm worker`, under kombu's own transport name.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from queue import Empty
from typing import Any

import redis
from kombu import transport as kombu_transport
from kombu.transport import redis as kombu_redis

from jobs.config import FarmSettings
from jobs.keys import envelope_problem

log = logging.getLogger(__name__)
_set_aside: Callable[[bytes, str], None] | None = None


class Channel(kombu_redis.Channel):
    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            # The entry is off its queue; what it held is in the error, where there is one.
            if isinstance(exc, UnicodeDecodeError):
                raw = bytes(exc.object)
            else:
                raw = str(getattr(exc, "doc", "")).encode("utf-8", "backslashreplace")
            _record(raw, f"not a message: {type(exc).__name__}")
            raise Empty() from exc


class Transport(kombu_redis.Transport):
    Channel = Channel

    def _deliver(self, message: Any, queue: Any) -> None:
        """Hand on what kombu can make a message of; set aside what it cannot."""
        if (problem := envelope_problem(message)) is not None:
            _record(json.dumps(message, default=str)[:4096].encode(), problem)
            return
        super()._deliver(message, queue)


def _record(raw: bytes, why: str) -> None:
    if _set_aside is not None:
        _set_aside(raw, why)
    else:
        log.error("took an unreadable entry off a queue (%s)", why)


def install(settings: FarmSettings) -> None:
    """Use this transport for redis:// and redis+socket:// in this process, and record what
    it sets aside in the farm's dead letters."""
    global _set_aside
    from jobs.broker import redis_client
    from jobs.dead_letters import set_aside_delivery

    def set_aside(raw: bytes, why: str) -> None:
        try:
            set_aside_delivery(settings, redis_client(settings), "a queue", raw.decode(), why)
        except redis.RedisError as exc:  # the entry is lost either way; say so in the log
            log.error("an unreadable entry was taken off a queue and could not be kept: %s", exc)

    _set_aside = set_aside
    kombu_transport.TRANSPORT_ALIASES["redis"] = f"{__name__}:Transport"
