"""Errors raised by the store and the catalog; the CLI prints them as one line."""


class StorageError(Exception):
    """Base class: something about the store or the catalog went wrong."""

    exit_code = 3


class StoreWriteFailed(StorageError):
    """A blob could not be written (disk full, permission); nothing partial was left."""

    exit_code = 1


class StoreCorrupt(StorageError):
    """A blob on disk no longer matches its hash, or is missing."""

    exit_code = 1


class CatalogUnavailable(StorageError):
    """The catalog database cannot be opened or reached."""

    exit_code = 3


class UnknownJob(StorageError):
    """No job, or more than one, matches the id the user gave."""

    exit_code = 2
