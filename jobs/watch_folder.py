"""A watched folder on disk: its layout, its lock, what lies in it, and whether a drop is still
being written. Nothing here follows a link: the folders the watcher keeps inside a watched
folder must be real folders, and its lock and sidecars are never opened through a link."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path
from typing import IO

from jobs.config import WatchFolder
from jobs.errors import ConfigError, FarmError
from jobs.kinds import KINDS

F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)  # Linux; the constant is not in every Python
SUBFOLDERS = ("processing", "done", "failed")
JOURNAL_SUFFIX = ".jobs.json"  # processing/.NAME.jobs.json: the jobs a drop was given


def check_folders(folders: list[WatchFolder]) -> None:
    """Kinds that exist, folders that are folders, none watched twice or inside another."""
    for folder in folders:
        unknown = [k for k in folder.kinds or [] if k not in KINDS]
        if unknown:
            raise ConfigError(f"watch[].kinds: unknown kind {unknown[0]!r}; known kinds: "
                              f"{', '.join(sorted(KINDS))}")
        if folder.dir.exists() and not folder.dir.is_dir():
            raise ConfigError(f"watched folder {folder.dir} is not a folder; name a folder")
    dirs = [f.dir.resolve() for f in folders]
    for n, one in enumerate(dirs):
        for other in dirs[n + 1:]:
            if one == other or one.is_relative_to(other) or other.is_relative_to(one):
                raise ConfigError(f"watched folders {one} and {other} overlap; a watched "
                                  "folder may not be inside another (its done/ would be drops)")


def prepare(folder: Path) -> IO[str]:
    """Make the folder and its subfolders (each a real folder, never a link), and take its
    lock: one watcher per folder, or a second would finish the same drops twice."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for sub in SUBFOLDERS:
            path = folder / sub
            if os.path.lexists(path) and not stat.S_ISDIR(os.lstat(path).st_mode):
                raise FarmError(f"{path} is a link or a file; the watcher keeps its own folder "
                                "there: move it away")
            path.mkdir(exist_ok=True)
        fd = os.open(folder / ".farm-watch.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise FarmError(f"cannot watch {folder}: {exc.strerror or exc}; name a folder this user "
                        "can write") from None
    handle = os.fdopen(fd, "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner = handle.read().strip() or "another process"
        handle.close()
        raise FarmError(f"{folder} is watched already (by pid {owner}); stop that watcher "
                        "or watch another folder") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def entries(folder: Path) -> list[os.DirEntry[str]]:
    """What lies in a folder, folders inside it left out."""
    try:
        with os.scandir(folder) as found:
            return [e for e in found if not e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def journal_of(drop: Path) -> Path:
    return drop.with_name(f".{drop.name}{JOURNAL_SUFFIX}")


def write_journal(drop: Path, text: str) -> None:
    """Note beside a drop the jobs it was given. Neither fsynced nor renamed into place: a
    journal torn by a crash reads as none, and the drop's idempotency key then finds its jobs
    all the same; a journal only spares a restart that lookup, whatever the config says then."""
    fd = os.open(journal_of(drop), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def open_for_writing(path: Path) -> bool | None:
    """Whether some process holds the file open for writing: a read lease cannot be had then.
    None where it cannot be told (another user's file, a network file system)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        return True if exc.errno == errno.EAGAIN else None
    else:
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)
