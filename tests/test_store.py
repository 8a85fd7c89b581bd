"""The blob store writes atomically, names blobs by hash and notices corruption."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from storage.errors import ExportRefused, StoreCorrupt, StoreWriteFailed
from storage.outputs import export_blobs, link_output
from storage.store import BlobStore


def test_put_bytes_names_the_blob_by_its_sha256(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "store")
    blob = store.put_bytes(b"MThd music")
    assert blob.sha256 == hashlib.sha256(b"MThd music").hexdigest()
    assert blob.path == tmp_path / "store" / "sha256" / blob.sha256[:2] / blob.sha256[2:]
    assert blob.path.read_bytes() == b"MThd music"
    assert store.put_bytes(b"MThd music") == blob
    assert list(store.iter_hashes()) == [blob.sha256]


def test_unwritable_store_fails_with_a_clear_error(tmp_path: Path) -> None:
    # A file where the shard folder should be: fails even for root, like a read-only disk.
    store = BlobStore(tmp_path / "store")
    sha = hashlib.sha256(b"x" * 10).hexdigest()
    store.blobs.mkdir(parents=True)
    (store.blobs / sha[:2]).write_bytes(b"")
    with pytest.raises(StoreWriteFailed, match="cannot write blob"):
        store.put_bytes(b"x" * 10)
    assert not store.has(sha)


def test_write_failure_midway_removes_the_temporary_file(tmp_path: Path, monkeypatch) -> None:
    store = BlobStore(tmp_path / "store")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StoreWriteFailed, match="No space left"):
        store.put_bytes(b"half a song")
    monkeypatch.undo()
    leftovers = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert leftovers == []


def test_verify_reports_corrupt_and_missing_blobs(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "store")
    good = store.put_bytes(b"good")
    bad = store.put_bytes(b"bad")
    os.chmod(bad.path, 0o644)
    bad.path.write_bytes(b"flipped")
    assert store.verify(good.sha256) is None
    assert store.verify(bad.sha256) == "corrupt"
    assert store.verify("0" * 64) == "missing"
    with pytest.raises(StoreCorrupt, match="does not match"):
        store.read_bytes(bad.sha256)


def test_outputs_view_links_into_the_store_and_export_copies(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "store")
    blob = store.put_bytes(b"notes")
    link = link_output(tmp_path / "outputs", "demo", "job1", "music.mid", blob.path)
    assert link.is_symlink() and link.read_bytes() == b"notes"
    assert link_output(tmp_path / "outputs", "demo", "job1", "music.mid", blob.path) == link
    [copied] = export_blobs([("music.mid", blob.path, blob.sha256)], tmp_path / "out")
    assert not copied.is_symlink() and copied.read_bytes() == b"notes"


def test_a_damaged_blob_is_replaced_by_fresh_bytes_not_reused(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "store")
    blob = store.put_bytes(b"the real song")
    os.chmod(blob.path, 0o644)
    blob.path.write_bytes(b"\0" * len(b"the real song"))  # same size, other content
    again = store.put_bytes(b"the real song")
    assert again.path == blob.path and again.path.read_bytes() == b"the real song"
    assert store.verify(blob.sha256) is None


def _exportable(tmp_path: Path) -> tuple[BlobStore, list[tuple[str, Path, str]]]:
    store = BlobStore(tmp_path / "store")
    items = []
    for name, data in (("music.mid", b"notes"), ("report.json", b"{}")):
        blob = store.put_bytes(data)
        items.append((name, blob.path, blob.sha256))
    return store, items


def test_export_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    _, items = _exportable(tmp_path)
    dest, outside = tmp_path / "dest", tmp_path / "outside.txt"
    dest.mkdir()
    outside.write_bytes(b"keep me")
    for planted in (".music.mid.part", "music.mid"):
        (dest / planted).symlink_to(outside)
    paths = export_blobs(items, dest)
    assert outside.read_bytes() == b"keep me"
    assert [p.read_bytes() for p in paths] == [b"notes", b"{}"]
    assert not (dest / "music.mid").is_symlink()


@pytest.mark.parametrize("where", ["file", "devnull"])
def test_export_refuses_a_destination_that_is_not_a_folder(tmp_path: Path, where: str) -> None:
    _, items = _exportable(tmp_path)
    dest = Path(os.devnull) if where == "devnull" else tmp_path / "a-file"
    if where == "file":
        dest.write_bytes(b"x")
    with pytest.raises(ExportRefused, match="is not a folder"):
        export_blobs(items, dest)


@pytest.mark.parametrize("existing", [False, True])
def test_export_is_all_or_nothing_when_a_blob_is_bad(tmp_path: Path, existing: bool) -> None:
    _, items = _exportable(tmp_path)
    bad = items[1][1]
    os.chmod(bad, 0o644)
    bad.write_bytes(b"[]")
    dest = tmp_path / "dest"
    if existing:
        dest.mkdir()
    with pytest.raises(StoreCorrupt, match="nothing was exported"):
        export_blobs(items, dest)
    assert (list(dest.iterdir()) == []) if existing else not dest.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_shard_folder_removed_behind_the_stores_back_is_made_again(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "store")
    first = store.put_bytes(b"first")
    shutil.rmtree(store.blobs)
    again = store.put_bytes(b"first")
    assert again.path == first.path and store.read_bytes(again.sha256) == b"first"
