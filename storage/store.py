"""Content-addressed blob store: `store/sha256/ab/cdef…`, written atomically."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.errors import StoreCorrupt, StoreWriteFailed


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    path: Path
    size: int


def sha256_of_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class BlobStore:
    """Blobs named by their sha256; a crash never leaves a partial blob under its name."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "sha256"
        self._shards: set[Path] = set()  # shard folders known to exist: no mkdir per blob

    def path_for(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def put_bytes(self, data: bytes) -> StoredBlob:
        """Store `data` under its hash. A blob already there is reused only if it holds these
        very bytes; a damaged one (same name, other content) is replaced by them."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path_for(sha)
        try:
            if target.read_bytes() == data:
                return StoredBlob(sha, target, len(data))
        except OSError:  # not there (or unreadable): writing it says what is wrong
            pass
        try:
            self._write_atomically(target, data)
        except OSError as exc:
            raise StoreWriteFailed(f"cannot write blob under {self.root}: {exc.strerror or exc}") from exc
        return StoredBlob(sha, target, len(data))

    def _write_atomically(self, target: Path, data: bytes) -> None:
        if target.parent not in self._shards:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._shards.add(target.parent)
        # A name no other writer uses (pid and thread). A crashed writer's leftover of the
        # same name (a reused pid) goes first: it is read-only and would refuse the open.
        tmp = target.with_name(f".tmp-{target.name[:16]}-{os.getpid()}-{threading.get_ident()}")
        tmp.unlink(missing_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            try:
                fd = os.open(tmp, flags, 0o444)
            except FileNotFoundError:  # its shard folder was removed since this store made it
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(tmp, flags, 0o444)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def read_bytes(self, sha256: str) -> bytes:
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise StoreCorrupt(f"blob {sha256[:12]} is missing from {self.blobs}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoreCorrupt(f"blob {sha256[:12]} at {path} does not match its hash; "
                               "`farm catalog verify` lists every damaged blob")
        return data

    def verify(self, sha256: str) -> str | None:
        """Return None when the blob is intact, else why not ("missing" or "corrupt")."""
        path = self.path_for(sha256)
        if not path.is_file():
            return "missing"
        return None if sha256_of_file(path) == sha256 else "corrupt"

    def _files(self) -> Iterator[Path]:
        """Every file in the shard folders, blobs and temporary files alike, in order."""
        if not self.blobs.is_dir():
            return
        for shard in sorted(self.blobs.iterdir()):
            yield from sorted(shard.iterdir())

    def iter_hashes(self) -> Iterator[str]:
        for path in self._files():
            if not path.name.startswith(".tmp-"):
                yield path.parent.name + path.name

    def iter_leftovers(self, older_than_s: float) -> Iterator[Path]:
        """Temporary files of writers that died before renaming them (older than a live
        write could be: a write in flight is never reported)."""
        before = time.time() - older_than_s
        for path in self._files():
            if not path.name.startswith(".tmp-"):
                continue
            try:
                if path.stat().st_mtime < before:
                    yield path
            except FileNotFoundError:  # its writer finished or cleaned up meanwhile
                continue

    def remove(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)
