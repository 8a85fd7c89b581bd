"""Which database URLs the catalog takes (checked where settings are read, and again where an
engine is made), without importing any database library."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")


def check_catalog_url(url: str) -> str:
    """The URL when the catalog can use it; ValueError saying what is wrong otherwise."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in SCHEMES:
        shown = repr((scheme or url)[:24])
        raise ValueError(f"catalog URL scheme {shown} is not supported; use "
                         "sqlite:///PATH/catalog.db or postgresql://user@host/db")
    if scheme == "sqlite" and not url.startswith("sqlite:///"):
        raise ValueError("a SQLite catalog URL is sqlite:///PATH (three slashes, then the path)")
    return url


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///PATH` catalog (None for any other database)."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(unquote(url.removeprefix("sqlite:///").split("?", 1)[0]))
