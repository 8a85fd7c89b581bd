"""Bad input gets one clear line, the documented exit code, and nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.catalog import Catalog
from storage.models import JobRecord, JobState
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


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("FARM_DB_URL", "mysql://user@127.0.0.1/farm", "catalog URL scheme 'mysql' is not supported"),
        ("FARM_DB_URL", "sqlite://relative.db", "three slashes"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0?bogus=1", "Redis URL option 'bogus' is not supported"),
        ("REDIS_URL", "http://127.0.0.1:6379/0", "Redis URL scheme 'http' is not supported"),
        ("REDIS_URL", "redis://127.0.0.1:notaport/0", "Redis URL is malformed"),
    ],
)
def test_a_url_of_the_wrong_kind_is_bad_config_exit_2(farm_env, variable, value, needle) -> None:
    env = dict(farm_env, **{variable: value})
    for args in (["ls"], ["submit", "midi"], ["doctor"]):
        assert_one_line_error(farm(env, *args), 2, needle)


def test_a_damaged_catalog_is_exit_3_and_doctor_says_how_to_recover(farm_env, tmp_path) -> None:
    job_id = farm_json(farm_env, "submit", "midi")["job_id"]
    for n in range(30):  # enough rows that the tables span pages past the first
        farm_json(farm_env, "submit", "midi", "--seed", str(n))
    backup = farm_json(farm_env, "catalog", "backup")["backup"]
    db = Path(farm_env["FARM_DB_URL"].removeprefix("sqlite:///"))
    with open(db, "r+b") as handle:  # garbage over every page but the first (the header)
        size = handle.seek(0, 2)
        handle.seek(4096)
        handle.write(b"\xa5" * (size - 4096))
    for args in (["ls"], ["status", job_id]):
        assert_one_line_error(farm(farm_env, *args), 3, "damaged", "farm doctor")
    doctor = farm(farm_env, "doctor")
    assert doctor.returncode == 3 and "Traceback" not in doctor.stderr
    line = next(ln for ln in doctor.stdout.splitlines() if ln.split()[1] == "catalog")
    assert line.startswith("FAIL") and ".recover" in line and backup in line, doctor.stdout


def test_echoed_values_are_escaped_and_cut(farm_env, tmp_path) -> None:
    huge = "x" * 100_000  # about what one argument may carry; the 1 MB prompt comes in a file
    prompt = tmp_path / "prompt.json"
    prompt.write_text(json.dumps({"kind": "llm", "params": {"prompt": "y" * 1_000_000}}))
    for args, needle in ((["submit", "-f", str(prompt)], "params.prompt"),
                         (["submit", "llm", "-p", f"prompt={huge}"], "params.prompt"),
                         (["submit", f"mi\x1b[31mdi{huge[:500]}"], "unknown job kind"),
                         (["status", f"ab\x07{huge}"], "is not a job id"),
                         (["submit", "midi", "-p", f"ke\ry{huge[:300]}=1"], "unknown field")):
        result = farm(farm_env, *args)
        assert_one_line_error(result, 2, needle)
        assert len(result.stderr.encode()) < 1024 and "\x1b" not in result.stderr
        assert "\x07" not in result.stderr and "\r" not in result.stderr


def test_yaml_anchors_and_aliases_are_refused_at_once(farm_env, tmp_path) -> None:
    laughs = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        laughs.append(f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("kind: midi\nparams:\n" + "\n".join(f"  {line}" for line in laughs) + "\n")
    assert len(bomb.read_bytes()) < 700
    assert_one_line_error(farm(farm_env, "submit", "-f", str(bomb), timeout=30), 2,
                          "anchors (&name) are not allowed")
    assert farm_json(farm_env, "ls") == []


def test_a_job_file_over_the_cap_is_refused_before_it_is_parsed(farm_env, tmp_path) -> None:
    spec = tmp_path / "big.json"
    spec.write_text('{"kind": "midi", "params": {}, "project": "' + "p" * 3000 + '"}')
    env = dict(farm_env, FARM_MAX_JOB_FILE_BYTES="2048")
    assert_one_line_error(farm(env, "submit", "-f", str(spec)), 2, "at most 2048 bytes")


def test_job_ids_are_never_patterns_and_an_ambiguous_prefix_lists_candidates(farm_env) -> None:
    ids = [farm_json(farm_env, "submit", "midi", "--seed", str(n))["job_id"] for n in range(3)]
    for pattern in (f"%{ids[0][-7:]}", f"{ids[0][:5]}_", "%", "____"):
        assert_one_line_error(farm(farm_env, "cancel", pattern), 2, "is not a job id")
    assert {farm_json(farm_env, "status", j)["state"] for j in ids} == {"QUEUED"}
    catalog = Catalog(farm_env["FARM_DB_URL"])
    twins = ["abce" + "1" * 28, "abce" + "2" * 28]
    for twin in twins:
        catalog.add_job(JobRecord(id=twin, kind="midi", tag="midi", seed=1,
                                  params_json='{"params": {}, "given": []}'))
    assert_one_line_error(farm(farm_env, "cancel", "abce"), 2,
                          f"ambiguous: {twins[0][:12]}, {twins[1][:12]}")
    assert {catalog.get_job(t).state for t in twins} == {JobState.QUEUED}


@pytest.mark.parametrize("dest", ["/dev/null", "file"])
def test_export_into_something_that_is_not_a_folder_is_exit_2(farm_env, tmp_path, dest) -> None:
    job_id = farm_json(farm_env, "submit", "midi")["job_id"]
    target = tmp_path / "a-file" if dest == "file" else Path(dest)
    if dest == "file":
        target.write_text("keep")
    assert_one_line_error(farm(farm_env, "export", job_id, str(target)), 2, "is not a folder")
