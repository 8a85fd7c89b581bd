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
