"""`farm watch`: watched folders, where a dropped file becomes jobs and ends beside its result.

    DIR/              drops land here (its top level; folders inside it are left alone)
    DIR/processing/   taken: complete, moved here, its jobs submitted and not ended yet
    DIR/done/         NAME.ext, NAME.result.json (jobs, states, outputs), NAME/ (the outputs)
    DIR/failed/       NAME.ext, NAME.error.txt (what was wrong, how to fix it) [+ .result.json]

A file's place is the truth, so a crash loses nothing and repeats nothing. A drop in
processing/ that is not being followed is taken up on every look: by its journal
(`processing/.NAME.jobs.json`, the jobs it was given, written once they were submitted), else
by submitting it again, which its content's idempotency key turns into finding the jobs made
before a crash. A file leaves processing/ only after its sidecar is written. File events
(watchdog) wake the watcher; a periodic look also finds what was dropped while it was down.
Trouble of the farm's own (Redis or the catalog away) leaves drops where they are, to be tried
again on the next look; nothing dropped is ever deleted or overwritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from jobs.config import FarmSettings, WatchFolder
from jobs.drop_results import (
    ERROR_SUFFIX,
    RESULT_SUFFIX,
    error_text,
    free_name,
    link_into,
    move_into,
    rename_new,
    result_text,
    shown_path,
    split_name,
    unlink_twin,
    write_whole,
)
from jobs.drops import Submitted, is_drop_name, read_drop, submit_drop
from jobs.errors import FarmError
from jobs.trouble import Trouble
from jobs.watch_folder import (
    check_folders,
    entries,
    journal_of,
    open_for_writing,
    prepare,
    write_journal,
)
from storage.errors import StorageError, StoreCorrupt
from storage.states import JobState

log = logging.getLogger(__name__)
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
        check_folders(folders)
        self.settings, self.folders, self.say = settings, folders, say
        self.pending: dict[Path, _Pending] = {}
        self.wake = threading.Event()
        self.leases = False  # whether open-for-writing can be told (Linux leases, main thread)
        self.trouble = Trouble(say, "farm watch", "drops stay where they are and are tried again")
        self._sightings: dict[Path, tuple[tuple[int, int], float]] = {}
        self._next_look = self._strays_due = 0.0

    def run(self, stop: threading.Event) -> None:
        """Watch until `stop` is set (set `wake` too, to stop at once)."""
        locks: list[IO[str]] = []
        observer = None
        try:
            locks = [prepare(folder.dir) for folder in self.folders]
            self._use_leases()
            observer = self._observe()
            self.say("watching " + ", ".join(shown_path(f.dir) for f in self.folders))
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
        """One look: follow up every drop in processing/, take every complete new drop,
        finish every drop whose jobs ended."""
        now = time.monotonic()
        self._next_look = now + self.settings.watch_rescan_s
        strays = now >= self._strays_due or bool(self.trouble.current)
        if strays:  # at the first look, the periodic one, and every look while in trouble
            self._strays_due = self._next_look
        seen: set[Path] = set()
        for folder in self.folders:
            if strays:
                self._take_up(folder)
            for entry in entries(folder.dir):
                seen.add(Path(entry.path))
                self._consider(folder, entry)
        self._sightings = {p: s for p, s in self._sightings.items() if p in seen}
        self._finish_ended()

    # taking drops ---------------------------------------------------------------------------

    def _take_up(self, folder: WatchFolder) -> None:
        """Drops in processing/ nobody follows: after a start or a crash, or left there by
        trouble. A file still in the inbox under a second name is the same drop, half moved."""
        stray = [e for e in entries(folder.dir / "processing")
                 if not e.name.startswith(".") and Path(e.path) not in self.pending]
        if not stray:
            return
        inodes = {(e.stat(follow_symlinks=False).st_dev, e.stat(follow_symlinks=False).st_ino)
                  for e in stray}
        for entry in entries(folder.dir):
            info = entry.stat(follow_symlinks=False)
            if (info.st_dev, info.st_ino) in inodes:
                os.unlink(entry.path)
        for entry in sorted(stray, key=lambda e: e.name):
            self._follow(folder, Path(entry.path))

    def _follow(self, folder: WatchFolder, path: Path) -> None:
        try:
            record = json.loads(journal_of(path).read_text())
            submitted = Submitted(record["jobs"], record["created"], record["skipped"])
        except (OSError, ValueError, KeyError, TypeError):
            self._submit(folder, path, path.name)  # no journal: submitted again, by its key
            return
        self.pending[path] = _Pending(folder, path, record.get("dropped_as", path.name),
                                      record.get("sha256", ""), submitted)

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
            _forget(taken)  # a journal left by an earlier drop of that name is not this one's
            move_into(path, taken)
        except FileNotFoundError:
            return  # moved away meanwhile
        except OSError as exc:
            self.trouble.failed(f"cannot move {entry.name!r} into processing/: "
                                f"{exc.strerror or exc}")
            return
        self._submit(folder, taken, entry.name)

    def _settled(self, path: Path, info: os.stat_result) -> bool:
        """Complete: nobody holds it open for writing, and its size and mtime held still for
        `watch_settle_s`. Where the lease says nobody writes, an mtime that old will do (what
        was dropped while the watcher was down is taken at once); where it cannot tell,
        only what the watcher saw hold still. An mtime in the future is a clock's, not age."""
        settle, now = self.settings.watch_settle_s, time.monotonic()
        shape = (info.st_size, info.st_mtime_ns)
        seen = self._sightings.get(path)
        since = seen[1] if seen is not None and seen[0] == shape else now
        self._sightings[path] = (shape, since)
        writing = open_for_writing(path) if self.leases else None
        age = time.time() - info.st_mtime
        if writing is False and info.st_size > 0 and age >= settle:
            return True
        if writing is not True and now - since >= settle and (age >= settle or age < 0):
            return True
        self._next_look = min(self._next_look, max(now, since + settle) + 0.01)
        return False

    def _submit(self, folder: WatchFolder, path: Path, dropped_as: str) -> None:
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
        try:
            write_journal(path, json.dumps(
                {**asdict(submitted), "dropped_as": dropped_as, "sha256": pending.sha256}))
        except OSError as exc:
            log.warning("no journal for %r (%s): a restart submits it again by its key",
                        dropped_as, exc)
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
            if not os.path.lexists(pending.path):  # someone took it out of processing/
                _forget(pending.path)
                del self.pending[pending.path]
            elif all(job is not None and job.state.is_terminal for job in jobs):
                self._finish(pending, rows)

    def _finish(self, pending: _Pending, rows: dict[str, Any]) -> None:
        jobs = {node: rows[job_id] for node, job_id in pending.submitted.jobs.items()}
        ok = all(job.state == JobState.SUCCEEDED for job in jobs.values())
        where = pending.folder.dir / ("done" if ok else "failed")
        sidecars: dict[str, str] = {}
        try:
            stem = free_name(where, pending.path, pending.path.name)
            sidecars[RESULT_SUFFIX] = result_text(self._result_doc(pending, jobs, where, stem))
            if not ok:
                failed = [f"{node} job {job.id[:12]} {job.state}: {job.error or 'no reason given'}"
                          for node, job in jobs.items() if job.state != JobState.SUCCEEDED]
                sidecars[ERROR_SUFFIX] = error_text("; ".join(failed), pending.dropped_as,
                                                    pending.submitted.jobs)
            self._place(pending.path, where, stem, sidecars)
        except Exception as exc:  # said once, and tried again on the next look
            log.warning("finishing %r", pending.dropped_as, exc_info=True)
            self.trouble.failed(f"cannot finish {pending.dropped_as!r}: {exc}")
            return
        del self.pending[pending.path]
        self.say(f"{pending.dropped_as!r}: {'done' if ok else 'failed'} -> "
                 f"{shown_path(where / stem)}")

    def _place(self, path: Path, where: Path, stem: str, sidecars: dict[str, str]) -> None:
        """The drop into `where` under `stem` beside its sidecars, the file moved last: by a
        hard link first where there are hard links (which claims the name), else by a rename
        after the sidecars."""
        target = where / f"{stem}{split_name(path.name)[1]}"
        linked = link_into(path, target)
        for suffix, text in sidecars.items():
            write_whole(where / f"{stem}{suffix}", text)
        _forget(path)  # before the file goes: a journal never outlives its drop
        if linked:
            unlink_twin(path, target)
        else:
            rename_new(path, target)

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
                               "bytes": a.bytes, "file": shown_path(sub / a.name)} for a in arts]}
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
            self._place(path, where, stem, {ERROR_SUFFIX: error_text(what, dropped_as)})
        except OSError as exc:
            self.trouble.failed(f"cannot move {dropped_as!r} into failed/: {exc.strerror or exc}")
            return
        self.pending.pop(path, None)
        self.say(f"{dropped_as!r}: failed -> {shown_path(where / stem)}{ERROR_SUFFIX}: {what}")

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
        """File events wake the loop; without them (the system's inotify limits reached) the
        periodic look alone finds drops."""
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        wake = self.wake

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                wake.set()

        observer = Observer()
        try:
            for folder in self.folders:
                observer.schedule(_Wake(), str(folder.dir), recursive=False)
            observer.daemon = True
            observer.start()
        except OSError as exc:
            self.say(f"farm watch: no file events ({exc.strerror or exc}); looking every "
                     f"{self.settings.watch_rescan_s:g} s instead")
            return None
        return observer


def _forget(drop: Path) -> None:
    """Remove the journal of a drop in processing/, if it has one."""
    if os.path.lexists(journal_of(drop)):
        os.unlink(journal_of(drop))


def _is_farm_trouble(exc: Exception) -> bool:
    """Redis, the catalog, the store or FARM_HOME away or broken: no fault of the drop."""
    from jobs.errors import BrokerUnreachable, FarmHomeUnwritable
    from storage.errors import CatalogDamaged, CatalogUnavailable, StoreWriteFailed

    return isinstance(exc, BrokerUnreachable | FarmHomeUnwritable | CatalogUnavailable
                      | CatalogDamaged | StoreWriteFailed)
