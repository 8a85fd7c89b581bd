"""`farm watch`: watched folders, where a dropped file becomes jobs and ends beside its result.

    DIR/              drops land here (its top level; folders inside it are left alone)
    DIR/processing/   taken: complete, moved here, its jobs submitted and not ended yet
    DIR/done/         NAME.ext, NAME.result.json (jobs, states, outputs), NAME/ (the outputs)
    DIR/failed/       NAME.ext, NAME.error.txt (what was wrong, how to fix it) [+ .result.json]

A file's place is the truth, so a crash loses nothing and repeats nothing: at start, files in
processing/ are taken up again (their jobs found by their content's idempotency key, never
submitted twice), and a file leaves processing/ only after its sidecar is written. File events
(watchdog) wake the watcher; a periodic look also finds what was dropped while it was down. A
drop is taken once nobody holds it open for writing and its mtime is `watch_settle_s` old.
Trouble of the farm's own (Redis or the catalog away) leaves drops where they are, to be tried
again; nothing dropped is ever deleted or overwritten.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.config import FarmSettings, WatchFolder
from jobs.drop_results import (
    ERROR_SUFFIX,
    RESULT_SUFFIX,
    error_text,
    free_name,
    link_into,
    move_into,
    result_text,
    same_file,
    split_name,
    write_whole,
)
from jobs.drops import Submitted, is_drop_name, read_drop, submit_drop
from jobs.errors import ConfigError, FarmError
from jobs.kinds import KINDS
from jobs.trouble import Trouble
from storage.errors import StorageError, StoreCorrupt, StoreWriteFailed
from storage.states import JobState

log = logging.getLogger(__name__)
F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)  # Linux; the constant is not in every Python
POLL_S = 0.2  # how often the jobs of drops in processing/ are looked at


@dataclass
class _Pending:
    """A drop in processing/ whose jobs have not all ended."""

    folder: WatchFolder
    path: Path
    dropped_as: str
    sha256: str
    submitted: Submitted


class Watcher:
    def __init__(self, settings: FarmSettings, folders: list[WatchFolder],
                 say: Callable[[str], None]) -> None:
        _check_folders(folders)
        self.settings, self.folders, self.say = settings, folders, say
        self.pending: dict[Path, _Pending] = {}
        self.wake = threading.Event()
        self.leases = False  # whether open-for-writing can be told (Linux leases, main thread)
        self.trouble = Trouble(say, "farm watch", "drops stay where they are and are tried again")
        self._next_look = 0.0

    def run(self, stop: threading.Event) -> None:
        """Watch until `stop` is set."""
        locks = [_lock(folder.dir) for folder in self.folders]
        observer = None
        try:
            self._use_leases()
            self.take_up()
            observer = self._observe()
            self.say("watching " + ", ".join(str(f.dir) for f in self.folders))
            while not stop.is_set():
                self.run_once()
                self.wake.wait(self._pause())
                self.wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(5)
            for handle in locks:
                handle.close()

    def run_once(self) -> None:
        """One look: take every complete drop, finish every drop whose jobs ended."""
        self._next_look = time.monotonic() + self.settings.watch_rescan_s
        for folder in self.folders:
            for entry in _entries(folder.dir):
                self._consider(folder, entry)
        self._finish_ended()

    # taking drops ---------------------------------------------------------------------------

    def take_up(self) -> None:
        """At start: each folder's layout, then what a crash left in processing/."""
        for folder in self.folders:
            self._take_up(folder)

    def _take_up(self, folder: WatchFolder) -> None:
        """A file still in the inbox under a second name is the same drop, half moved."""
        for sub in ("processing", "done", "failed"):
            (folder.dir / sub).mkdir(parents=True, exist_ok=True)
        processing = folder.dir / "processing"
        taken = {(e.stat(follow_symlinks=False).st_dev, e.stat(follow_symlinks=False).st_ino)
                 for e in _entries(processing)}
        for entry in _entries(folder.dir):
            info = entry.stat(follow_symlinks=False)
            if (info.st_dev, info.st_ino) in taken:
                os.unlink(entry.path)
        for entry in sorted(_entries(processing), key=lambda e: e.name):
            self._submit(folder, Path(entry.path), entry.name)

    def _consider(self, folder: WatchFolder, entry: os.DirEntry[str]) -> None:
        if not is_drop_name(entry.name) or entry.is_dir(follow_symlinks=False):
            return
        path = Path(entry.path)
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and not self._settled(path, info):
                return
            processing = folder.dir / "processing"
            name = free_name(processing, path, entry.name)
            taken = processing / f"{name}{split_name(entry.name)[1]}"
            move_into(path, taken)
        except FileNotFoundError:
            return  # moved away meanwhile
        except OSError as exc:
            self.trouble.failed(f"cannot move {entry.name!r} into processing/: {exc.strerror or exc}")
            return
        self._submit(folder, taken, entry.name)

    def _settled(self, path: Path, info: os.stat_result) -> bool:
        age = time.time() - info.st_mtime
        if age < self.settings.watch_settle_s:
            self._next_look = min(self._next_look,
                                  time.monotonic() + self.settings.watch_settle_s - age + 0.01)
            return False
        if self.leases and _open_for_writing(path):
            self._next_look = min(self._next_look, time.monotonic() + self.settings.watch_settle_s)
            return False
        return True

    def _submit(self, folder: WatchFolder, path: Path, dropped_as: str) -> None:
        import hashlib

        try:
            data = read_drop(path, folder.max_file_bytes or self.settings.max_job_file_bytes)
            submitted = submit_drop(self.settings, folder, dropped_as, data)
        except (FarmError, StorageError) as exc:
            if _is_farm_trouble(exc):  # not the drop's fault: it stays, and is tried again
                self.trouble.failed(str(exc))
            else:
                self._fail(folder, path, dropped_as, str(exc))
            return
        except Exception as exc:  # a bug must neither lose the drop nor end the watcher
            log.exception("taking %r", dropped_as)
            self._fail(folder, path, dropped_as, f"the watcher could not take it "
                       f"({type(exc).__name__}: {exc}); this is a bug of the farm's")
            return
        self.trouble.cleared()
        pending = _Pending(folder, path, dropped_as, hashlib.sha256(data).hexdigest(), submitted)
        self.pending[path] = pending
        made = "submitted" if submitted.created else "already known"
        self.say(f"{dropped_as!r}: {made} " + ", ".join(
            f"{node} {job_id[:12]}" for node, job_id in submitted.jobs.items()))

    # ending drops ---------------------------------------------------------------------------

    def _finish_ended(self) -> None:
        if not self.pending:
            return
        from jobs.home import open_reader

        ids = [i for p in self.pending.values() for i in p.submitted.jobs.values()]
        try:
            rows = {row.id: row for row in open_reader(self.settings).jobs_by_ids(ids)}
        except StorageError as exc:
            self.trouble.failed(str(exc))
            return
        for pending in list(self.pending.values()):
            jobs = [rows.get(job_id) for job_id in pending.submitted.jobs.values()]
            if all(job is not None and job.state.is_terminal for job in jobs):
                self._finish(pending, rows)

    def _finish(self, pending: _Pending, rows: dict[str, Any]) -> None:
        jobs = {node: rows[job_id] for node, job_id in pending.submitted.jobs.items()}
        ok = all(job.state == JobState.SUCCEEDED for job in jobs.values())
        where = pending.folder.dir / ("done" if ok else "failed")
        try:
            stem = free_name(where, pending.path, pending.path.name)
            link_into(pending.path, where / f"{stem}{split_name(pending.path.name)[1]}")
            doc = self._result_doc(pending, jobs, where, stem)
            write_whole(where / f"{stem}{RESULT_SUFFIX}", result_text(doc))
            if not ok:
                failed = [f"{node} job {job.id[:12]} {job.state}: {job.error or 'no reason given'}"
                          for node, job in jobs.items() if job.state != JobState.SUCCEEDED]
                write_whole(where / f"{stem}{ERROR_SUFFIX}",
                            error_text("; ".join(failed), pending.dropped_as,
                                       pending.submitted.jobs))
            _unlink_twin(pending.path, where / f"{stem}{split_name(pending.path.name)[1]}")
        except (OSError, StoreWriteFailed) as exc:
            self.trouble.failed(f"cannot finish {pending.dropped_as!r}: {exc}")
            return
        del self.pending[pending.path]
        self.say(f"{pending.dropped_as!r}: {'done' if ok else 'failed'} -> {where / stem}")

    def _result_doc(self, pending: _Pending, jobs: dict[str, Any], where: Path,
                    stem: str) -> dict[str, Any]:
        from jobs.home import open_reader, open_store
        from storage.outputs import export_blobs

        reader, store = open_reader(self.settings), open_store(self.settings)
        docs: dict[str, Any] = {}
        for node, job in jobs.items():
            arts = reader.artifacts(job.id)
            sub = Path(stem) if len(jobs) == 1 else Path(stem) / node
            note = None
            if arts:
                try:
                    export_blobs([(a.name, store.path_for(a.sha256), a.sha256) for a in arts],
                                 where / sub)
                except StoreCorrupt as exc:
                    note = f"outputs not copied: {exc}"
            docs[node] = {
                "job_id": job.id, "kind": job.kind, "state": str(job.state), "error": job.error,
                "attempts": job.attempts, "seed": job.seed, "outputs_error": note,
                "artifacts": [{"name": a.name, "sha256": a.sha256, "media_type": a.media_type,
                               "bytes": a.bytes, "file": str(sub / a.name)} for a in arts]}
        return {"dropped_as": pending.dropped_as, "sha256": pending.sha256,
                "project": next(iter(jobs.values())).project, "created": pending.submitted.created,
                "skipped": pending.submitted.skipped, "jobs": docs,
                "state": "SUCCEEDED" if all(d["state"] == "SUCCEEDED" for d in docs.values())
                else "FAILED"}

    def _fail(self, folder: WatchFolder, path: Path, dropped_as: str, what: str) -> None:
        """A drop that is no job: into failed/ beside a sidecar saying why."""
        where = folder.dir / "failed"
        try:
            stem = free_name(where, path, path.name)
            target = where / f"{stem}{split_name(path.name)[1]}"
            link_into(path, target)
            write_whole(where / f"{stem}{ERROR_SUFFIX}", error_text(what, dropped_as))
            _unlink_twin(path, target)
        except OSError as exc:
            self.trouble.failed(f"cannot move {dropped_as!r} into failed/: {exc.strerror or exc}")
            return
        self.pending.pop(path, None)
        self.say(f"{dropped_as!r}: failed -> {where / stem}{ERROR_SUFFIX}: {what}")

    # the rest -------------------------------------------------------------------------------

    def _pause(self) -> float:
        until_look = max(0.0, self._next_look - time.monotonic())
        return min(until_look, POLL_S) if self.pending else until_look

    def _use_leases(self) -> None:
        """Open-for-writing is told by a read lease; a writer that opens the file while the
        lease is held (for microseconds) sends SIGIO, which must not end the watcher."""
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGIO"):
            signal.signal(signal.SIGIO, signal.SIG_IGN)
            self.leases = True

    def _observe(self) -> Any:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        wake = self.wake

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                wake.set()

        observer = Observer()
        for folder in self.folders:
            observer.schedule(_Wake(), str(folder.dir), recursive=False)
        observer.daemon = True
        observer.start()
        return observer


def _check_folders(folders: list[WatchFolder]) -> None:
    for folder in folders:
        unknown = [k for k in folder.kinds or [] if k not in KINDS]
        if unknown:
            raise ConfigError(f"watch[].kinds: unknown kind {unknown[0]!r}; known kinds: "
                              f"{', '.join(sorted(KINDS))}")
        if folder.dir.exists() and not folder.dir.is_dir():
            raise ConfigError(f"watched folder {folder.dir} is a file; name a folder")
    dirs = [f.dir.expanduser().resolve() for f in folders]
    if len(set(dirs)) != len(dirs):
        raise ConfigError("a folder is watched twice; name each folder once in watch")


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            return [e for e in found if not e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _lock(folder: Path) -> Any:
    """One watcher per folder: a second one would finish the same drops twice."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".farm-watch.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise FarmError(f"{folder} is watched already (by pid {owner}); stop that watcher "
                        "or watch another folder") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _open_for_writing(path: Path) -> bool:
    """Whether some process holds the file open for writing: a read lease cannot be had
    then. False where it cannot be told (not the file's owner, a network file system)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        return exc.errno == errno.EAGAIN
    else:
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


def _unlink_twin(source: Path, placed: Path) -> None:
    """The drop's old name, once the file is in its place under the new one."""
    if os.path.lexists(source) and same_file(source, placed):
        os.unlink(source)


def _is_farm_trouble(exc: Exception) -> bool:
    """Redis, the catalog or FARM_HOME away or broken: no fault of the drop."""
    from jobs.errors import BrokerUnreachable, FarmHomeUnwritable
    from storage.errors import CatalogDamaged, CatalogUnavailable

    return isinstance(exc, BrokerUnreachable | FarmHomeUnwritable | CatalogUnavailable
                      | CatalogDamaged | StoreWriteFailed)
