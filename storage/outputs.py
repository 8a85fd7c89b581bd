"""The readable view `outputs/<project>/<job>/<name>` whose entries link into the store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from storage.errors import StoreWriteFailed


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


def export_file(blob: Path, dest_dir: Path, name: str) -> Path:
    """Copy a blob out of the store as a plain, writable file."""
    dest = dest_dir / name
    tmp = dest_dir / f".{name}.part"
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(blob, tmp)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreWriteFailed(f"cannot export to {dest}: {exc.strerror or exc}") from exc
    return dest
