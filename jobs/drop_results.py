"""Where a drop ends: `done/` or `failed/`, beside its sidecar, never over another file.

A drop is placed under a free name: `NAME.ext`, `NAME.result.json` (or `NAME.error.txt`) and
the outputs folder `NAME/` all unused, else `NAME-2`, `NAME-3`… Files move by a hard link
(which never replaces anything) and then the old name's removal, so a crash between the two
leaves the same file under both names, which the next try recognises as its own.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from jobs.drops import DROP_SUFFIXES

RESULT_SUFFIX = ".result.json"
ERROR_SUFFIX = ".error.txt"
_MAX_STEM_BYTES = 200  # a name, its sidecar's suffix and a counter stay under NAME_MAX (255)
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


def split_name(name: str) -> tuple[str, str]:
    """(stem, extension) of a dropped name; the extension only when it is a drop's."""
    suffix = Path(name).suffix
    ext = suffix if suffix.lower() in DROP_SUFFIXES and len(suffix) < len(name) else ""
    stem = name[: len(name) - len(ext)]
    while len(stem.encode("utf-8", "surrogateescape")) > _MAX_STEM_BYTES:
        stem = stem[: len(stem) * 3 // 4]
    return stem, ext


def same_file(a: Path, b: Path) -> bool:
    try:
        first, second = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def free_name(folder: Path, source: Path, name: str) -> str:
    """A stem in `folder` under which `source` (called `name`) can be placed with its sidecar
    and outputs: one nothing uses yet, or the one `source` was already linked under."""
    stem, ext = split_name(name)
    for n in range(1, 100_000):
        candidate = stem if n == 1 else f"{stem}-{n}"
        target = folder / f"{candidate}{ext}"
        if same_file(source, target):
            return candidate
        taken = (target, folder / f"{candidate}{RESULT_SUFFIX}", folder / f"{candidate}{ERROR_SUFFIX}",
                 folder / candidate)
        if not any(os.path.lexists(path) for path in taken):
            return candidate
    raise FileExistsError(f"no free name for {name} in {folder}")


def link_into(source: Path, target: Path) -> bool:
    """Give `source` the name `target` too, never replacing what is there (a file already
    under both names is fine). False, with nothing done, where the file system has no hard
    links: the caller then writes what must come first and moves the file last."""
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        if not same_file(source, target):
            raise
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        return False
    return True


def rename_new(source: Path, target: Path) -> None:
    """Move a file to a name nothing uses (where there are no hard links to do it with)."""
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "exists", str(target))
    os.rename(source, target)


def unlink_twin(source: Path, placed: Path) -> None:
    """The old name of a file now in its place under the new one."""
    if os.path.lexists(source) and same_file(source, placed):
        os.unlink(source)


def move_into(source: Path, target: Path) -> None:
    """Move a file to a name nothing uses, never replacing anything."""
    if link_into(source, target):
        unlink_twin(source, target)
    else:
        rename_new(source, target)


def write_whole(path: Path, text: str) -> None:
    """A sidecar appears complete or not at all, and is never written through a link."""
    tmp = path.with_name(f".{path.name}.tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)  # a crashed writer's (unlink removes a link, never its target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def shown_path(path: Path | str) -> str:
    """A path as a line may print it: a name that is not UTF-8 shows its bytes escaped."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def result_text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"  # ASCII: any name survives


def error_text(what: str, dropped_as: str, jobs: dict[str, str] | None = None) -> str:
    lines = [what, f"file: {dropped_as!r}"]
    lines += [f"job {node}: {job_id}" for node, job_id in (jobs or {}).items()]
    if jobs:
        lines.append("once the cause is fixed: farm retry JOB (the same file dropped again "
                     "names the same jobs)")
    return "\n".join(lines) + "\n"
