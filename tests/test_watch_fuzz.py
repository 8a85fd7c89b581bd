"""Whatever is dropped, the watcher ends it beside a sidecar, never dies, and touches nothing
outside its folder: hypothesis drops random bytes, wrong types, huge numbers, deep nesting,
unicode names, path traversal in names and fields, links, pipes and YAML alias bombs into a
real watcher (in this process) on a real Redis and catalog, with a real MIDI worker."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jobs.config import WatchFolder, load_settings
from jobs.drop_results import ERROR_SUFFIX, RESULT_SUFFIX, split_name
from jobs.watch import Watcher
from tests.test_watch import prepare_folder, settle_all

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SUFFIXES = [".json", ".yaml", ".yml", ".toml", ".txt", ".JSON", ".mp3", "", ".part", "~"]
name_chars = st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters="/")
stems = st.one_of(st.text(name_chars, min_size=1, max_size=40),
                  st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b)
                  .map(os.fsdecode))  # names that are not UTF-8, as a file system may hold them
names = st.tuples(stems, st.sampled_from(SUFFIXES)).map("".join).filter(
    lambda n: n not in (".", "..") and len(os.fsencode(n)) < 200)
leaves = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(),
                   st.text(max_size=40), st.sampled_from(["../../etc/passwd", "/etc/shadow",
                                                          "~root", "midi", "probe", "intent"]))
trees = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20)
specs = st.fixed_dictionaries({"kind": st.sampled_from(["midi", "probe", "nosuch", ""])},
                              optional={"params": st.dictionaries(
                                  st.sampled_from(["genre", "bars", "tempo_bpm", "model", "key",
                                                   "tag", "seed"]), leaves, max_size=3),
                                        "project": st.sampled_from(["../x", "ok", "a/b", ""]),
                                        "seed": leaves, "priority": leaves})
contents = st.one_of(
    st.binary(max_size=300),
    trees.map(lambda t: json.dumps(t, default=str).encode()),
    specs.map(lambda s: json.dumps(s, default=str).encode()),
    st.just(b'{"kind": "midi", "params": {"bars": 2}}'),
    st.integers(1, 3000).map(lambda n: ("[" * n + "]" * n).encode()),
    st.just(b"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"),  # an alias bomb
    st.just(b"kind = 'midi'\n[params]\nbars = 1e999\n"),
    st.just("tristesse \u00e0 70 bpm \U0001f3b9".encode()),
)
drops = st.lists(st.tuples(names, contents, st.sampled_from(["file", "file", "file", "link",
                                                             "dirlink", "fifo", "dir"])),
                 min_size=1, max_size=6, unique_by=lambda d: d[0])


@pytest.fixture
def watch_process(farm_process: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("FARM_WATCH_SETTLE_S", "0")
    return farm_process


def make(path: Path, content: bytes, how: str, outside: Path) -> bool:
    """Drop one thing; False when this file system cannot have that name."""
    try:
        if how == "file":
            path.write_bytes(content)
        elif how == "link":
            path.symlink_to(outside / "secret.txt")
        elif how == "dirlink":
            path.symlink_to(outside)
        elif how == "fifo":
            os.mkfifo(path)
        else:
            path.mkdir()
    except OSError:
        return False
    return True


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@FUZZ
@given(batch=drops)
def test_every_drop_ends_beside_a_sidecar_and_nothing_outside_is_touched(
        watch_process, start_worker, tmp_path, batch) -> None:
    if not hasattr(test_every_drop_ends_beside_a_sidecar_and_nothing_outside_is_touched, "w"):
        start_worker("midi,llm,image,audio")  # once for all examples; intents by rules
        test_every_drop_ends_beside_a_sidecar_and_nothing_outside_is_touched.w = True
    outside = tmp_path / "outside"
    if not outside.exists():
        outside.mkdir()
        (outside / "secret.txt").write_text("not the farm's")
    before = snapshot(outside)
    folder = tmp_path / f"drops{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    made = [(name, how) for name, content, how in batch
            if make(folder / name, content, how, outside)]
    assume(made)
    said: list[str] = []
    watcher = Watcher(load_settings(), [WatchFolder(dir=folder)], said.append)
    prepare_folder(folder)
    settle_all(watcher, folder)
    assert not list((folder / "processing").iterdir()), said  # journals go with their drops

    for name, how in made:
        hidden = name.startswith(".") or name.endswith((".part", "~"))
        if how == "dir" or hidden:
            assert os.path.lexists(folder / name), f"{name!r} ({how}) was not left alone"
            continue
        assert not os.path.lexists(folder / name), f"{name!r} ({how}) was not taken"
        stem, _ = split_name(name)
        ended = [sub for sub, tail in (("done", RESULT_SUFFIX), ("failed", ERROR_SUFFIX))
                 if os.path.lexists(folder / sub / name) and (folder / sub / f"{stem}{tail}").exists()]
        assert len(ended) == 1, f"{name!r} ({how}) did not end beside one sidecar"
        if how in ("link", "dirlink", "fifo"):
            assert ended == ["failed"]
    assert snapshot(outside) == before
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(("drops", "worker-"))
            } <= {"home", "outside"}
