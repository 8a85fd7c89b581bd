"""Bad input gets one clear line, the documented exit code, and nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import farm, farm_json


def assert_one_line_error(result, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["submit", "polka"], ["unknown job kind 'polka'", "midi"]),
        (["submit", "midi", "-p", "tempo_bpm=900"], ["params.tempo_bpm", "300"]),
        (["submit", "midi", "-p", "flavour=sweet"], ["params.flavour", "unknown field"]),
        (["submit", "midi", "-p", "genre=polka"], ["genre 'polka' is not one of", "triphop"]),
        (["submit", "midi", "-p", "bars"], ["name=value"]),
        (["submit", "midi", "--priority", "12"], ["priority"]),
        (["status", "deadbeefdead"], ["no job 'deadbeefdead'"]),
        (["worker", "--tags", "gpu-magic"], ["known tags are"]),
        (["submit", "probe", "-p", "tag=tpu"], ["params.tag", "unknown tag"]),
        (["ls", "--state", "SLEEPING"], ["--state must be one of"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(farm_env, args, needles) -> None:
    assert_one_line_error(farm(farm_env, *args), 2, *needles)
    assert not list(Path(farm_env["FARM_HOME"]).glob("store/sha256/*"))


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("job.json", '{"kind": "midi", "params": {', "not valid JSON"),
        ("job.yaml", "kind: midi\nparams: [1, 2\n", "not valid YAML"),
        ("job.toml", "kind = ", "not valid TOML"),
        ("job.yaml", "- just\n- a list\n", "must be a mapping"),
        ("job.yaml", "kind: midi\nsede: 3\n", "sede: unknown field"),
        ("job.txt", "kind: midi\n", "must end in"),
    ],
)
def test_malformed_job_file_is_rejected_and_nothing_is_queued(farm_env, tmp_path, name, content,
                                                              needle) -> None:
    spec = tmp_path / name
    spec.write_text(content)
    assert_one_line_error(farm(farm_env, "submit", "-f", str(spec)), 2, needle)
    assert farm_json(farm_env, "ls") == []


def test_unreachable_redis_exits_3_and_queues_nothing(farm_env) -> None:
    env = dict(farm_env, REDIS_URL="redis://127.0.0.1:1/0")
    assert_one_line_error(farm(env, "submit", "midi"), 3, "cannot reach Redis", "REDIS_URL")
    assert farm_json(env, "ls") == []


def test_missing_embedded_redis_says_how_to_start_it(farm_env) -> None:
    env = {k: v for k, v in farm_env.items() if k != "REDIS_URL"}
    assert_one_line_error(farm(env, "submit", "midi"), 3, "farm up")


def test_unreachable_database_exits_3(farm_env) -> None:
    env = dict(farm_env, FARM_DB_URL="postgresql://nobody@127.0.0.1:1/none")
    assert_one_line_error(farm(env, "ls"), 3, "cannot open the catalog", "127.0.0.1:1")


def test_unwritable_farm_home_exits_2(farm_env, tmp_path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    env = dict(farm_env, FARM_HOME=str(blocker / "home"))
    env.pop("FARM_DB_URL")
    assert_one_line_error(farm(env, "submit", "midi"), 2, "FARM_HOME", "not writable")


def test_bad_config_file_exits_2(farm_env, tmp_path) -> None:
    config = tmp_path / "farm.yaml"
    config.write_text("visibility_timeout_s: soon\n")
    assert_one_line_error(farm(farm_env, "--config", str(config), "ls"), 2, "visibility_timeout_s")


def test_wait_times_out_with_exit_4(farm_env) -> None:
    job_id = farm_json(farm_env, "submit", "midi")["job_id"]
    assert_one_line_error(farm(farm_env, "wait", job_id, "--timeout", "0.5"), 4, "still QUEUED")
