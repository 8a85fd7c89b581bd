"""Errors raised by the store and the catalog; the CLI prints them as one line."""

import re


class StorageError(Exception):
    """Base class: something about the store or the catalog went wrong."""

    exit_code = 3


class StoreWriteFailed(StorageError):
    """A blob could not be written (disk full, permission); nothing partial was left."""

    exit_code = 1


class ExportRefused(StorageError):
    """An export's destination is not a folder the farm may write into."""

    exit_code = 2


class StoreCorrupt(StorageError):
    """A blob on disk no longer matches its hash, or is missing."""

    exit_code = 1


class CatalogUnavailable(StorageError):
    """The catalog database cannot be opened or reached."""

    exit_code = 3


class CatalogBusy(CatalogUnavailable):
    """The catalog stayed locked or unreachable for longer than its retry budget."""


class CatalogDamaged(StorageError):
    """The catalog's file is not a readable database any more; `farm doctor` says how to recover."""

    exit_code = 3
    HINT = "; `farm doctor` says how to recover it"

    def __init__(self, what: str) -> None:
        super().__init__(what + self.HINT)
        self.what = what


class UnknownJob(StorageError):
    """No job, or more than one, matches the id the user gave."""

    exit_code = 2


# SQLite's words for a file that is not (or no longer) a database.
DAMAGE_WORDS = ("malformed", "not a database", "file is encrypted", "corrupt")


def names_damage(text: str) -> bool:
    """Whether a database error's text says the file itself is broken."""
    return any(word in text.lower() for word in DAMAGE_WORDS)


def first_line(exc: BaseException) -> str:
    """The first line of an error (of the driver's own, under SQLAlchemy's wrapper)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_url(url: str) -> str:
    """A database URL without its password (in the user part or as an option), for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        url = f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return re.sub(r"(?i)(password=)[^&;\s]*", r"\1***", url)
