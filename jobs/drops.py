"""A file dropped into a watched folder, as the jobs it asks for.

A job file (.json, .yaml, .yml, .toml) is one job; a .txt is an intent, rendered as `farm
render` would. The folder's project and priority apply unless a job file names its own, and
only the kinds the folder takes are submitted. The same content dropped twice, under any name,
is the same job: its idempotency key is made from its bytes and the folder's options. A drop is
read without following a link and never past the folder's size limit.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from jobs.config import FarmSettings, WatchFolder
from jobs.errors import BadJobSpec, shown
from jobs.spec import SPEC_SUFFIXES, decode_spec, parse_spec

INTENT_SUFFIX = ".txt"
DROP_SUFFIXES = (*SPEC_SUFFIXES, INTENT_SUFFIX)
# Names a writer uses while a file is not complete yet, and editors' leftovers.
_UNFINISHED = (".part", ".tmp", ".crdownload", ".partial", ".swp", "~")


class BadDrop(BadJobSpec):
    """A dropped file that is no job: unreadable, too large, a link, not a plain file."""


@dataclass(frozen=True)
class Submitted:
    """What a drop became: its jobs by node name (`job` for a job file)."""

    jobs: dict[str, str]
    created: bool  # False: the same content was dropped before; these are its jobs
    skipped: list[str] = field(default_factory=list)  # parts asked for in words, not made


def is_drop_name(name: str) -> bool:
    """Whether a name at the top of a watched folder is a drop to take: not hidden and not a
    file some program is still writing under a temporary name."""
    return bool(name) and not name.startswith(".") and not name.endswith(_UNFINISHED)


def read_drop(path: Path, limit: int) -> bytes:
    """The bytes of a dropped plain file, at most `limit` of them; never through a link and
    never blocking on a pipe."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadDrop("it is a link; drop the file itself (links are never followed)") from None
        raise BadDrop(f"cannot read it: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadDrop("it is not a plain file; drop a job file or an intent")
        if info.st_size > limit:
            raise BadDrop(f"it has {info.st_size} bytes, more than this folder takes ({limit}; "
                          "watch[].max_file_bytes or max_job_file_bytes in farm.yaml)")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while being read
        raise BadDrop(f"it has more than {limit} bytes, more than this folder takes")
    return data


def drop_key(folder: WatchFolder, data: bytes) -> str:
    """The idempotency key of a drop: its bytes and the options the folder gives every drop."""
    options = folder.model_dump(mode="json", exclude={"dir", "max_file_bytes"})
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode() + b"\0" + data)
    return f"drop:{digest.hexdigest()}"


def submit_drop(settings: FarmSettings, folder: WatchFolder, name: str, data: bytes) -> Submitted:
    """Submit what a drop asks for (BadJobSpec saying what is wrong with it otherwise)."""
    suffix = Path(name).suffix.lower()
    if suffix == INTENT_SUFFIX:
        return _submit_intent(settings, folder, data)
    if suffix in SPEC_SUFFIXES:
        return _submit_job_file(settings, folder, name, data)
    raise BadDrop(f"{shown(suffix or name, 40)} is neither a job file "
                  f"({', '.join(SPEC_SUFFIXES)}) nor an intent ({INTENT_SUFFIX})")


def _submit_job_file(settings: FarmSettings, folder: WatchFolder, name: str,
                     data: bytes) -> Submitted:
    from jobs.submit import submit_job

    raw = decode_spec(data, Path(name).suffix, "the job file")
    if not isinstance(raw, dict):
        raise BadJobSpec("a job file must be a mapping with at least 'kind'")
    values = {"project": folder.project, "priority": folder.priority, **raw}
    values.setdefault("idempotency_key", drop_key(folder, data))
    spec = parse_spec(values, "the job file")
    _taken_here(folder, [spec.kind])
    job, created = submit_job(settings, spec)
    return Submitted({"job": job.id}, created)


def _submit_intent(settings: FarmSettings, folder: WatchFolder, data: bytes) -> Submitted:
    from jobs.render import plan_render, submit_render

    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadDrop("an intent (.txt) must be UTF-8 text") from None
    plan = plan_render(text, folder.images, folder.audio_texture, folder.bars, settings)
    _taken_here(folder, [node.kind for node in plan.nodes])
    result = submit_render(settings, plan, None, folder.priority, folder.project,
                           key=drop_key(folder, data))
    return Submitted(result["jobs"], result["created"], result["skipped"])


def _taken_here(folder: WatchFolder, kinds: list[str]) -> None:
    refused = [k for k in kinds if folder.kinds is not None and k not in folder.kinds]
    if refused:
        takes = ", ".join(folder.kinds or []) or "no kinds"
        raise BadJobSpec(f"kind {shown(refused[0], 40)} is not taken in this folder (it takes "
                         f"{takes}; watch[].kinds in farm.yaml)")
