"""Jobs through the real stack: CLI subprocess, real Redis, real `farm worker` processes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from jobs.kinds import KINDS
from tests.conftest import farm, farm_json


def test_submitted_midi_job_succeeds_with_a_verified_artifact(farm_env, start_worker) -> None:
    start_worker()
    job_id = farm_json(farm_env, "submit", "midi", "--seed", "7")["job_id"]
    doc = farm_json(farm_env, "wait", job_id, "--timeout", "60")
    assert doc["state"] == "SUCCEEDED" and doc["attempts"] == 1
    assert doc["worker_pid"] and doc["started_at"] and doc["finished_at"]
    names = sorted(a["name"] for a in doc["artifacts"])
    assert names == ["music.mid", "music.music.json", "pianoroll.png", "report.json"]
    assert names == sorted(KINDS["midi"].outputs)  # what the kind declares is what it makes
    midi = next(a for a in doc["artifacts"] if a["name"] == "music.mid")
    data = Path(midi["path"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == midi["sha256"] and len(data) == midi["bytes"]
    assert Path(midi["path"]).parent == Path(farm_env["FARM_HOME"]) / "outputs" / "default" / job_id
    song = mido.MidiFile(midi["path"])
    assert song.type == 1 and len(song.tracks) >= 5


def test_job_file_with_empty_params_makes_music(farm_env, start_worker, tmp_path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text("kind: midi\nseed: 7\nparams: {}\n")
    start_worker()
    job_id = farm(farm_env, "submit", "-f", str(spec)).stdout.strip()
    assert farm_json(farm_env, "wait", job_id, "--timeout", "60")["state"] == "SUCCEEDED"


def test_cancelled_queued_job_never_runs(farm_env, start_worker) -> None:
    job_id = farm_json(farm_env, "submit", "midi")["job_id"]
    status = farm_json(farm_env, "status", job_id)
    assert status["state"] == "QUEUED"
    assert "no worker consumes queue 'midi'" in status["reason"]
    assert farm_json(farm_env, "cancel", job_id)["cancelled"] is True
    start_worker()
    marker = farm_json(farm_env, "submit", "midi")["job_id"]  # runs after the cancelled one
    farm_json(farm_env, "wait", marker, "--timeout", "60")
    doc = farm_json(farm_env, "status", job_id)
    assert doc["state"] == "CANCELLED" and doc["attempts"] == 0 and doc["artifacts"] == []
    assert farm(farm_env, "wait", job_id).returncode == 1


def test_retry_runs_a_cancelled_job_as_its_next_attempt(farm_env, start_worker) -> None:
    job_id = farm_json(farm_env, "submit", "midi", "--seed", "3")["job_id"]
    farm_json(farm_env, "cancel", job_id)
    assert farm_json(farm_env, "retry", job_id)["state"] == "QUEUED"
    start_worker()
    doc = farm_json(farm_env, "wait", job_id, "--timeout", "60")
    assert doc["state"] == "SUCCEEDED" and doc["attempts"] == 1 and doc["seed"] == 3
    again = farm(farm_env, "retry", job_id)
    assert again.returncode == 2 and "succeeded" in again.stderr


def test_same_idempotency_key_gives_one_job(farm_env) -> None:
    first = farm_json(farm_env, "submit", "midi", "-p", "bars=4", "--idempotency-key", "take-1")
    second = farm_json(farm_env, "submit", "midi", "-p", "bars=4", "--idempotency-key", "take-1")
    assert first["job_id"] == second["job_id"]
    assert (first["created"], second["created"]) == (True, False)
    assert len(farm_json(farm_env, "ls")) == 1


@pytest.mark.parametrize(("other", "named"), [
    (["-p", "bars=8"], "params"), (["-p", "bars=4", "--seed", "9"], "seed"),
    (["-p", "bars=4", "--priority", "9"], "priority"),
])
def test_a_reused_idempotency_key_naming_another_job_is_a_conflict(farm_env, other, named) -> None:
    first = farm_json(farm_env, "submit", "midi", "-p", "bars=4", "--seed", "3",
                      "--idempotency-key", "take-2")
    refused = farm(farm_env, "submit", "midi", *other, "--idempotency-key", "take-2")
    assert refused.returncode == 2 and refused.stdout == ""
    assert f"already names job {first['job_id'][:12]} with another {named}" in refused.stderr
    assert [d["job_id"] for d in farm_json(farm_env, "ls")] == [first["job_id"]]


def test_same_seed_same_bytes_other_seeds_other_music(farm_env, start_worker) -> None:
    start_worker(concurrency=2)
    seeds = ["11", "11", "12", "13", "14", "15"]
    ids = [farm_json(farm_env, "submit", "midi", "--seed", s)["job_id"] for s in seeds]
    hashes = []
    for job_id in ids:
        doc = farm_json(farm_env, "wait", job_id, "--timeout", "90")
        hashes.append(next(a["sha256"] for a in doc["artifacts"] if a["name"] == "music.mid"))
    assert hashes[0] == hashes[1]
    assert len(set(hashes[1:])) == 5


def test_job_after_a_failed_input_fails_with_the_reason(farm_env, start_worker) -> None:
    parent = farm_json(farm_env, "submit", "midi")["job_id"]
    child = farm_json(farm_env, "submit", "midi", "--after", parent)["job_id"]
    assert farm_json(farm_env, "status", child)["reason"].startswith("waiting for inputs")
    farm_json(farm_env, "cancel", parent)
    doc = farm_json(farm_env, "status", child)
    assert doc["state"] == "FAILED" and parent[:12] in doc["error"]


def test_job_after_a_succeeded_input_runs_with_lineage(farm_env, start_worker) -> None:
    start_worker()
    parent = farm_json(farm_env, "submit", "midi")["job_id"]
    child = farm_json(farm_env, "submit", "midi", "--after", parent[:10])["job_id"]
    doc = farm_json(farm_env, "wait", child, "--timeout", "60")
    assert doc["state"] == "SUCCEEDED" and doc["depends_on"] == [parent]


def test_duplicate_delivery_of_a_finished_job_does_not_run_it_again(farm_env, start_worker) -> None:
    start_worker()
    job_id = farm_json(farm_env, "submit", "midi")["job_id"]
    farm_json(farm_env, "wait", job_id, "--timeout", "60")
    resend = (
        "from jobs.home import open_catalog; from jobs.config import load_settings;"
        "from jobs.dispatch import send_job; s = load_settings();"
        f"send_job(s, open_catalog(s).get_job('{job_id}'))"
    )
    subprocess.run([sys.executable, "-c", resend], env=farm_env, check=True, timeout=60)
    marker = farm_json(farm_env, "submit", "midi")["job_id"]
    farm_json(farm_env, "wait", marker, "--timeout", "60")
    doc = farm_json(farm_env, "status", job_id)
    assert doc["attempts"] == 1 and len(doc["artifacts"]) == len(KINDS["midi"].outputs)


def test_export_copies_artifacts_as_plain_files(farm_env, start_worker, tmp_path) -> None:
    start_worker()
    job_id = farm_json(farm_env, "submit", "midi")["job_id"]
    doc = farm_json(farm_env, "wait", job_id, "--timeout", "60")
    paths = farm_json(farm_env, "export", job_id, str(tmp_path / "out"))
    assert sorted(Path(p).name for p in paths) == sorted(a["name"] for a in doc["artifacts"])
    music = json.loads((tmp_path / "out" / "music.music.json").read_text())
    assert music["ppq"] == 480
