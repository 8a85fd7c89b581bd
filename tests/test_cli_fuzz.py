"""Whatever a user types, the CLI ends with a documented exit code and at most one short error line.

Hypothesis drives the real `farm` entry point (jobs.cli.main, in this process for speed) with
generated params, job files, ids and URLs against a real Redis and catalog: every run exits 0,
1, 2, 3 or 4, writes at most one line under 1 KB to stderr, and never a traceback.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.cli import main

CODES = {0, 1, 2, 3, 4}
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
NAMES = ["genre", "mood", "key", "mode", "tempo_bpm", "bars", "energy", "energy_curve", "text",
         "prompt", "max_tokens", "tag", "vram_mb", "run_s", "instrumentation", "swing"]
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)
values = st.one_of(text, st.integers(-10**12, 10**12).map(str), st.floats().map(str),
                   st.lists(st.integers(-5, 600), max_size=6).map(str),
                   st.sampled_from(["", "[", "{a: 1}", "&x 1", "*x", "null", "1e999", "-1"]))


def run_farm(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, err.getvalue()


def assert_contract(args: tuple[str, ...], code: int, stderr: str) -> None:
    shown = [a[:80] for a in args]
    assert code in CODES, (shown, code, stderr[:2000])
    assert "Traceback" not in stderr, (shown, stderr[:4000])
    assert len(stderr.strip().splitlines()) <= 1, (shown, stderr[:2000])
    assert len(stderr.encode()) < 1024, (shown, len(stderr))


@FUZZ
@given(kind=st.sampled_from(["midi", "intent", "llm", "probe", "polka", ""]),
       pairs=st.lists(st.tuples(st.one_of(st.sampled_from(NAMES), text), values), max_size=4),
       extra=st.lists(st.sampled_from(["--seed", "--priority", "--project", "--after",
                                       "--idempotency-key"]), max_size=2),
       extra_value=st.one_of(text, st.integers(-5, 2**40).map(str)))
def test_submit_with_any_params(farm_process, kind, pairs, extra, extra_value) -> None:
    args = ["submit", kind] + [a for name, value in pairs for a in ("-p", f"{name}={value}")]
    args += [a for option in extra for a in (option, extra_value)]
    assert_contract(tuple(args), *run_farm(*args))


@FUZZ
@given(suffix=st.sampled_from([".json", ".yaml", ".yml", ".toml", ".txt"]),
       body=st.one_of(text, st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
                      st.builds(lambda k, v: f"kind: {k}\nparams: {v}\n",
                                st.sampled_from(["midi", "probe", "x"]), values),
                      st.builds(lambda v: '{"kind": "midi", "params": ' + v + "}", values)))
def test_submit_any_job_file(farm_process, tmp_path_factory, suffix, body) -> None:
    path = tmp_path_factory.mktemp("jobfile") / f"job{suffix}"
    path.write_text(body, encoding="utf-8", errors="surrogateescape")
    assert_contract(("submit", "-f", str(path)), *run_farm("submit", "-f", str(path)))


@FUZZ
@given(command=st.sampled_from(["status", "cancel", "retry", "artifacts", "lineage", "wait"]),
       job_id=st.one_of(text, st.text("0123456789abcdefABCDEF%_", max_size=40)))
def test_any_job_id(farm_process, command, job_id) -> None:
    args = [command, job_id] + (["--timeout", "0"] if command == "wait" else [])
    assert_contract(tuple(args), *run_farm(*args))


@FUZZ
@given(redis_scheme=st.sampled_from(["redis", "rediss", "unix", "http", "", "redis+socket"]),
       db_scheme=st.sampled_from(["sqlite:///", "postgresql://", "mysql://", "sqlite://", ""]),
       port=st.integers(1, 65535), query=text, tail=text)
def test_any_urls(farm_process, tmp_path_factory, redis_scheme, db_scheme, port, query,
                  tail) -> None:
    # Hosts stay on this machine (no name lookups); a port may well answer in another protocol.
    redis_url = f"{redis_scheme}://127.0.0.1:{port}/0?{query}"
    home = Path(tmp_path_factory.mktemp("urls"))
    db_url = (f"sqlite:///{home / 'catalog.db'}" if db_scheme == "sqlite:///"
              else f"{db_scheme}nobody@127.0.0.1:{port}/{tail}")
    for args in (("--redis-url", redis_url, "submit", "midi"), ("--db-url", db_url, "ls"),
                 ("--redis-url", redis_url, "--db-url", db_url, "status", "abcd")):
        assert_contract(args, *run_farm(*args))
