"""The farm's error hierarchy; the CLI prints any of these as one line and exits with its code."""


class FarmError(Exception):
    """A problem the user can fix; `exit_code` follows the CLI contract."""

    exit_code = 2


class BadJobSpec(FarmError):
    """A job file, kind or parameter is wrong."""


class ConfigError(FarmError):
    """The configuration file or a setting is wrong."""


class FarmHomeUnwritable(FarmError):
    """FARM_HOME cannot be created or written."""


class BrokerUnreachable(FarmError):
    """Redis cannot be reached."""

    exit_code = 3


class JobFailed(FarmError):
    """A job the user waited for ended FAILED or CANCELLED."""

    exit_code = 1


class WaitTimedOut(FarmError):
    """A wait ran past its timeout."""

    exit_code = 4


class NotRetryable(FarmError):
    """`farm retry` on a job that is still active or already succeeded."""


class IdempotencyConflict(FarmError):
    """An idempotency key already names a job with another spec."""


def shown(value: object, limit: int = 80) -> str:
    """A value as an error line may echo it: quoted, control characters escaped, and cut to
    `limit` characters with a count of what was left out."""
    text = value if isinstance(value, str) else str(value)
    cut = text[:limit]
    escaped = repr(cut)
    if len(text) > limit:
        escaped += f"… ({len(text) - limit} more characters)"
    return escaped


def one_line(message: str, limit: int = 900) -> str:
    """What the CLI prints for an error: one line, no control characters, at most `limit`."""
    flat = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message.replace("\n", " "))
    return flat if len(flat) <= limit else flat[:limit] + "…"
