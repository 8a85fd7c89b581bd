"""The readable view `outputs/<project>/<job>/<name>` whose entries link into the store."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from storage.errors import ExportRefused, StoreCorrupt, StoreWriteFailed


def link_output(outputs_root: Path, project: str, job_id: str, name: str, blob: Path) -> Path:
    """Point `outputs/<project>/<job>/<name>` at a blob; safe to call again after a crash."""
    link = outputs_root / project / job_id / name
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        target = os.path.relpath(blob, link.parent)
        try:
            link.symlink_to(target)  # a symlink appears whole or not at all
            return link
        except FileExistsError:  # linked before (a re-run): replace it in one step
            pass
        tmp = link.with_name(f".{name}.link")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
    except OSError as exc:
        raise StoreWriteFailed(f"cannot write the outputs view at {link}: {exc.strerror or exc}") from exc
    return link


def export_blobs(items: list[tuple[str, Path, str]], dest: Path) -> list[Path]:
    """Copy blobs out of the store into `dest` as plain files, all or nothing.

    `items` are (name, blob path, sha256). Everything is first written into a fresh folder of
    the farm's own making, each file created new (never through a link someone planted) and
    checked against its hash; only then does it take its place in `dest`: as the folder
    itself when `dest` did not exist, else file by file (a rename replaces a link at `dest`,
    it never writes through it)."""
    for name, _, _ in items:
        if not name or name.startswith(".") or "/" in name or "\0" in name:
            raise ExportRefused(f"artifact name {name[:60]!r} cannot be exported as a file name")
    fresh = not os.path.lexists(dest)
    if not fresh and not dest.is_dir():
        raise ExportRefused(f"{dest} is not a folder; give a folder to export into")
    try:
        (dest.parent if fresh else dest).mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.export-",
                                        dir=dest.parent if fresh else dest))
    except OSError as exc:
        raise StoreWriteFailed(f"cannot export to {dest}: {exc.strerror or exc}") from exc
    try:
        for name, blob, sha256 in items:
            _copy_checked(blob, staging / name, sha256)
        return _put_in_place(staging, dest, [name for name, _, _ in items], fresh)
    except OSError as exc:
        raise StoreWriteFailed(f"cannot export to {dest}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_checked(blob: Path, target: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with open(blob, "rb") as source, os.fdopen(fd, "wb") as out:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != sha256:
        raise StoreCorrupt(f"blob {sha256[:12]} at {blob} does not match its hash; nothing was "
                           "exported (`farm catalog verify` lists every damaged blob)")


def _put_in_place(staging: Path, dest: Path, names: list[str], fresh: bool) -> list[Path]:
    if fresh:
        os.chmod(staging, 0o777 & ~_umask())
        os.rename(staging, dest)
        return [dest / name for name in names]
    for name in names:
        if (dest / name).is_dir() and not (dest / name).is_symlink():
            raise ExportRefused(f"{dest / name} is a folder; move it away to export {name}")
    for name in names:
        os.rename(staging / name, dest / name)
    return [dest / name for name in names]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
