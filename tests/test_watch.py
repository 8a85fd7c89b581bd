"""The watched folder: drops become jobs exactly once, end beside their result, survive a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from jobs.drop_results import split_name
from jobs.watch import Watcher
from storage.catalog import Catalog
from tests.conftest import REPO


class WatchProcess:
    """A real `farm watch DIR` process."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.log = Path(env["FARM_HOME"]).parent / f"watch-{uuid.uuid4().hex[:8]}.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "jobs.cli", "watch", str(folder)],
                                         env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while "watching" not in self.log.read_text():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the watcher did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def watch_env(farm_env: dict[str, str]) -> dict[str, str]:
    farm_env.update({"FARM_WATCH_SETTLE_S": "0.3", "FARM_WATCH_RESCAN_S": "1"})
    return farm_env


@pytest.fixture
def start_watch(watch_env: dict[str, str]):
    started: list[WatchProcess] = []

    def start(folder: Path) -> WatchProcess:
        started.append(WatchProcess(watch_env, folder))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def finished(folder: Path) -> list[Path]:
    """Dropped files in done/ or failed/ beside their sidecar (written last: what a script
    waits for)."""
    return [p for sub, tail in (("done", ".result.json"), ("failed", ".error.txt"))
            for p in (folder / sub).iterdir()
            if p.is_file() and not p.name.endswith((".result.json", ".error.txt"))
            and (p.parent / f"{split_name(p.name)[0]}{tail}").exists()]


def wait_finished(folder: Path, count: int, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while len(finished(folder)) < count or any((folder / "processing").iterdir()):
        assert time.monotonic() < deadline, f"{len(finished(folder))} of {count} finished"
        time.sleep(0.1)


def job_file(i: int) -> tuple[str, str]:
    """A distinct valid drop: a MIDI job file in one of the three formats, or an intent."""
    genre = ["jazz", "lofi", "house", "folk"][i % 4]
    if i % 8 == 7:
        return f"intent-{i}.txt", f"{genre} at {80 + i} bpm, short"
    body = {"kind": "midi", "seed": i, "params": {"genre": genre, "bars": 2}}
    if i % 3 == 0:
        return f"job-{i}.json", json.dumps(body)
    if i % 3 == 1:
        return f"job-{i}.yaml", f"kind: midi\nseed: {i}\nparams: {{genre: {genre}, bars: 2}}\n"
    return f"job-{i}.toml", f'kind = "midi"\nseed = {i}\n[params]\ngenre = "{genre}"\nbars = 2\n'


BROKEN = [
    ("b0.json", "{not json"), ("b1.json", "[1, 2, 3]"), ("b2.yaml", "kind: nosuchkind\n"),
    ("b3.toml", "kind = 'midi'\n[params]\nbars = -4\n"), ("b4.json", '{"kind": "midi", "x": 1}'),
    ("b5.json", '{"kind": "midi", "params": {"tempo_bpm": 1e308}}'), ("b6.mp3", "ID3 not a job"),
    ("b7.json", '{"kind": "midi", "project": "../x"}'), ("b8.txt", "   "),
    ("b9.json", '{"kind": "probe", "params": {"model": "../../etc/passwd"}}'),
    ("b10.yaml", "a: &x [1]\nb: *x\n"), ("b11.json", "[" * 5000 + "]" * 5000),
    ("b12.json", '{"kind": "midi", "params": {"genre": 7}}'), ("b13.toml", "kind = "),
    ("b14.json", '{"kind": "midi", "priority": 99}'), ("b15", "no suffix at all"),
    ("b16.txt", b"\xff\xfe not UTF-8"),
    ("b17.json", '{"kind": "midi", "depends_on": ["0000000000000000"]}'),
    ("b18.yml", "- just\n- a list\n"), ("b19.json", '{"kind": "midi", "seed": -1}'),
]


def write_drops(folder: Path, drops: list[tuple[str, str | bytes]]) -> None:
    for name, text in drops:
        data = text if isinstance(text, bytes) else text.encode()
        tmp = folder / f".{name}.part"
        tmp.write_bytes(data)
        os.rename(tmp, folder / name)  # each drop appears whole, as a DAW script would make it


def test_a_burst_of_drops_and_a_killed_watcher_make_each_job_once(watch_env, start_worker,
                                                                  start_watch, tmp_path) -> None:
    """200 drops (160 distinct, 20 copies under other names, 20 broken); the watcher is
    SIGKILLed mid-batch and 10 more are dropped while it is down: every file ends in done/ or
    failed/ exactly once, with one sidecar, and no job is submitted twice."""
    start_worker("midi,llm", concurrency=2)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    distinct = [job_file(i) for i in range(160)]
    copies = [(f"copy-{n}-{distinct[n * 7][0]}", distinct[n * 7][1]) for n in range(20)]
    drops = distinct + copies + BROKEN
    watcher = start_watch(inbox)
    write_drops(inbox, drops)
    deadline = time.monotonic() + 60
    while len(list((inbox / "processing").iterdir())) + len(finished(inbox)) < 60:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    watcher.kill()  # mid-batch: some taken, some submitted, some finished, many not seen yet
    late = [job_file(i) for i in range(160, 170)]
    write_drops(inbox, late)
    start_watch(inbox)
    wait_finished(inbox, len(drops) + len(late))

    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == [".farm-watch.lock"]
    assert not list((inbox / "processing").iterdir())
    done = [p for p in finished(inbox) if p.parent.name == "done"]
    failed = [p for p in finished(inbox) if p.parent.name == "failed"]
    assert sorted(p.name for p in done + failed) == sorted(n for n, _ in drops + late)
    assert len(failed) == len(BROKEN) and {p.name for p in failed} == {n for n, _ in BROKEN}
    for path in failed:
        error = path.parent / f"{split_name(path.name)[0]}.error.txt"
        assert f"file: {path.name!r}" in error.read_text(), path
    results = [json.loads(p.read_text()) for p in (inbox / "done").glob("*.result.json")]
    assert len(results) == len(distinct) + len(copies) + len(late)
    assert all(r["state"] == "SUCCEEDED" for r in results)
    by_content: dict[str, set[str]] = {}
    for r in results:
        ids = json.dumps({node: job["job_id"] for node, job in r["jobs"].items()}, sort_keys=True)
        by_content.setdefault(r["sha256"], set()).add(ids)
    assert len(by_content) == len(distinct) + len(late)
    assert all(len(jobs) == 1 for jobs in by_content.values())  # a copy names the same jobs

    catalog = Catalog(watch_env["FARM_DB_URL"])
    jobs = catalog.list_jobs(limit=10_000)
    intents = sum(1 for name, _ in distinct + late if name.endswith(".txt"))
    assert len(jobs) == len(distinct) + len(late) + intents  # an intent is a graph of two
    keys = Counter(j.idempotency_key for j in jobs)
    assert all(n == 1 for n in keys.values()) and None not in keys
    named = {job["job_id"] for r in results for job in r["jobs"].values()}
    assert named == {j.id for j in jobs}
    some = next(r for r in results if r["dropped_as"] == "job-0.json")
    music = inbox / "done" / some["jobs"]["job"]["artifacts"][0]["file"]
    assert music.read_bytes() == catalog_blob(watch_env, some["jobs"]["job"]["artifacts"][0])


def catalog_blob(env: dict[str, str], artifact: dict) -> bytes:
    sha = artifact["sha256"]
    return (Path(env["FARM_HOME"]) / "store" / "sha256" / sha[:2] / sha[2:]).read_bytes()


def test_a_file_written_slowly_is_taken_once_complete(watch_env, start_worker, start_watch,
                                                      tmp_path) -> None:
    """A writer holds the file open and pauses longer than the settle time between chunks:
    the watcher waits until it is closed, and the job has everything the file says."""
    start_worker("midi")
    inbox = tmp_path / "inbox"
    start_watch(inbox)
    chunks = ["kind: midi\n", "seed: 5\n", "params:\n", "  bars: 3\n", "  genre: jazz\n"]
    with open(inbox / "slow.yaml", "w") as handle:
        for chunk in chunks:
            handle.write(chunk)
            handle.flush()
            time.sleep(0.7)  # over twice FARM_WATCH_SETTLE_S
            assert not (inbox / "processing" / "slow.yaml").exists()
    wait_finished(inbox, 1, timeout_s=60)
    result = json.loads((inbox / "done" / "slow.result.json").read_text())
    jobs = Catalog(watch_env["FARM_DB_URL"]).list_jobs()
    assert len(jobs) == 1 and jobs[0].id == result["jobs"]["job"]["job_id"]
    params = json.loads(jobs[0].params_json)["params"]
    assert (params["bars"], params["genre"], jobs[0].seed) == (3, "jazz", 5)


def test_names_that_collide_get_a_suffix_and_nothing_is_overwritten(watch_env, start_worker,
                                                                   start_watch, tmp_path) -> None:
    start_worker("midi")
    inbox = tmp_path / "inbox"
    (inbox / "done").mkdir(parents=True)
    (inbox / "done" / "song.json").write_text("a file the musician put here")
    (inbox / "done" / "song-2.result.json").write_text("another")
    start_watch(inbox)
    write_drops(inbox, [("song.json", '{"kind": "midi", "seed": 1, "params": {"bars": 2}}')])
    wait_finished(inbox, 1, timeout_s=60)
    write_drops(inbox, [("song.json", '{"kind": "midi", "seed": 2, "params": {"bars": 2}}')])
    wait_finished(inbox, 2, timeout_s=60)
    assert (inbox / "done" / "song.json").read_text() == "a file the musician put here"
    assert (inbox / "done" / "song-2.result.json").read_text() == "another"
    seeds = {json.loads(p.read_text())["jobs"]["job"]["seed"]
             for p in (inbox / "done").glob("song-*.result.json") if p.name != "song-2.result.json"}
    assert seeds == {1, 2}
    assert (inbox / "done" / "song-3" / "music.mid").is_file()
    assert (inbox / "done" / "song-4.json").is_file()


# the watcher in this process, against real Redis and catalog ---------------------------------

def settle_all(watcher, folder: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    watcher.run_once()
    while watcher.pending or [p for p in (folder / "processing").iterdir()
                              if not p.name.startswith(".")]:
        assert time.monotonic() < deadline, "drops never ended"
        time.sleep(0.05)
        watcher.run_once()


def in_process(folder: Path, **options) -> Watcher:
    from jobs.config import WatchFolder, load_settings

    return Watcher(load_settings(watch_settle_s=0, **options.pop("settings", {})),
                   [WatchFolder(dir=folder, **options)], lambda line: None)


def test_a_drop_taken_while_redis_is_away_is_submitted_once_it_is_back(farm_process,
                                                                         tmp_path) -> None:
    from jobs.broker import redis_server_binary
    from tests.conftest import _answers, _free_port

    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"

    def redis_server() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind",
                                 "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL)
        while not _answers(url):
            time.sleep(0.05)
        return proc

    inbox = tmp_path / "inbox"
    watcher = in_process(inbox, settings={"redis_url": url})
    prepare_folder(inbox)
    write_drops(inbox, [("late.json", '{"kind": "midi", "seed": 4, "params": {"bars": 2}}')])
    watcher.run_once()  # Redis is not running: the drop waits in processing/
    assert (inbox / "processing" / "late.json").exists() and not watcher.pending
    server = redis_server()
    try:
        watcher.run_once()
        watcher.run_once()
        assert list(watcher.pending) == [inbox / "processing" / "late.json"]
        jobs = Catalog(farm_process["FARM_DB_URL"]).list_jobs()
        assert [j.seed for j in jobs] == [4]
    finally:
        server.terminate()
        server.wait(10)


def prepare_folder(folder: Path) -> None:
    from jobs.watch_folder import prepare

    prepare(folder).close()


def test_a_restart_with_other_folder_options_follows_the_jobs_the_drop_was_given(
        farm_process, tmp_path) -> None:
    inbox = tmp_path / "inbox"
    first = in_process(inbox, project="album", priority=3)
    prepare_folder(inbox)
    write_drops(inbox, [("song.txt", "sad ballad at 70 bpm")])
    first.run_once()
    given = next(iter(first.pending.values())).submitted.jobs
    again = in_process(inbox, project="sketches", priority=8)  # the config changed meanwhile
    again.run_once()
    assert next(iter(again.pending.values())).submitted.jobs == given
    assert len(Catalog(farm_process["FARM_DB_URL"]).list_jobs()) == len(given) == 2


def test_a_name_that_is_not_utf8_ends_in_done_beside_its_result(farm_process, start_worker,
                                                                 tmp_path) -> None:
    start_worker("midi")
    inbox = tmp_path / "inbox"
    watcher = in_process(inbox)
    prepare_folder(inbox)
    name = os.fsdecode(b"\xffsong \xe9.json")
    (inbox / name).write_text('{"kind": "midi", "seed": 9, "params": {"bars": 2}}')
    settle_all(watcher, inbox)
    stem = os.fsdecode(b"\xffsong \xe9")
    result = json.loads((inbox / "done" / f"{stem}.result.json").read_text())
    assert result["state"] == "SUCCEEDED" and (inbox / "done" / name).is_file()
    assert (inbox / "done" / stem / "music.mid").is_file()


@pytest.mark.parametrize("planted", ["processing", "done", ".farm-watch.lock"])
def test_links_where_the_watcher_keeps_its_own_are_refused_in_one_line(watch_env, tmp_path,
                                                                      planted) -> None:
    from tests.conftest import farm

    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    inbox.mkdir()
    outside.mkdir()
    (outside / "victim.txt").write_text("precious")
    (inbox / planted).symlink_to(outside / ("victim.txt" if planted.startswith(".") else ""))
    result = farm(watch_env, "watch", str(inbox))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert (outside / "victim.txt").read_text() == "precious"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


def test_a_folder_that_cannot_be_made_is_one_line(watch_env) -> None:
    from tests.conftest import farm

    result = farm(watch_env, "watch", "/etc/passwd/inbox")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "cannot watch" in result.stderr


def test_each_watched_folder_gives_its_own_project_defaults_and_limits(farm_process,
                                                                      tmp_path) -> None:
    from jobs.config import WatchFolder, load_settings

    album, sketches = tmp_path / "album", tmp_path / "sketches"
    watcher = Watcher(load_settings(watch_settle_s=0), [
        WatchFolder(dir=album, project="album", priority=7),
        WatchFolder(dir=sketches, project="sketches", kinds=["midi"], max_file_bytes=100)],
        lambda line: None)
    for folder in (album, sketches):
        prepare_folder(folder)
        write_drops(folder, [("a.json", '{"kind": "midi", "seed": 1, "params": {"bars": 2}}')])
    write_drops(sketches, [("idea.txt", "jazz at 120 bpm"),
                           ("big.json", '{"kind": "midi", "params": {"bars": 2}}' + " " * 100)])
    watcher.run_once()
    jobs = {j.project: j for j in Catalog(farm_process["FARM_DB_URL"]).list_jobs()}
    assert set(jobs) == {"album", "sketches"}  # the same content, two folders: two jobs
    assert (jobs["album"].priority, jobs["sketches"].priority) == (7, 5)
    refused = {p.name: p.read_text() for p in (sketches / "failed").glob("*.error.txt")}
    assert "kind 'intent' is not taken in this folder" in refused["idea.error.txt"]
    assert "more than this folder takes (100" in refused["big.error.txt"]
