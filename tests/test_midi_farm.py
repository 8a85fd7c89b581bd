"""The report card and the audio preview through the farm and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import farm, farm_json


def _artifact(doc: dict, name: str) -> dict:
    return next(a for a in doc["artifacts"] if a["name"] == name)


@pytest.mark.skipif(shutil.which("fluidsynth") is None,
                    reason="fluidsynth not installed (make test installs it with apt-get)")
def test_midi_job_with_preview_makes_audible_unclipped_wav(farm_env, start_worker) -> None:
    farm_env["FARM_MIDI__PREVIEW"] = "true"
    start_worker()
    job = farm_json(farm_env, "submit", "midi", "--param", "bars=4", "--seed", "3")["job_id"]
    doc = farm_json(farm_env, "wait", job, "--timeout", "120")
    assert Path(_artifact(doc, "preview.wav")["path"]).read_bytes()[:4] == b"RIFF"
    card = json.loads(Path(_artifact(doc, "report.json")["path"]).read_text())
    assert card["preview"]["silent"] is False and card["preview"]["clipping"] is False
    assert card["preview"]["rms_dbfs"] > -45
    shown = farm(farm_env, "artifacts", job).stdout
    assert "report card:" in shown and "preview:" in shown


def test_midi_job_says_why_a_required_preview_is_impossible(farm_env, start_worker, tmp_path) -> None:
    farm_env.update({"FARM_MIDI__PREVIEW": "true",
                     "FARM_MIDI__SOUNDFONT": str(tmp_path / "missing.sf2")})
    start_worker()
    job = farm_json(farm_env, "submit", "midi", "--param", "bars=2")["job_id"]
    assert farm(farm_env, "wait", job, "--timeout", "60").returncode == 1
    error = farm_json(farm_env, "status", job)["error"]
    assert "midi.preview is on but" in error and "missing.sf2" in error


def test_farm_midi_report_reads_any_midi_file_and_the_job_draws_its_piano_roll(farm_env, start_worker,
                                                                               tmp_path) -> None:
    start_worker()
    job = farm_json(farm_env, "submit", "midi", "--param", "genre=jazz", "--seed", "4")["job_id"]
    doc = farm_json(farm_env, "wait", job, "--timeout", "120")
    card = farm_json(farm_env, "midi", "report", _artifact(doc, "music.mid")["path"])
    stored = json.loads(Path(_artifact(doc, "report.json")["path"]).read_text())
    assert Path(_artifact(doc, "pianoroll.png")["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "pianoroll.png" in farm(farm_env, "artifacts", job).stdout
    assert card["metrics"]["in_key_ratio"] == pytest.approx(stored["metrics"]["in_key_ratio"])
    assert 0 <= card["bands_inside_fraction"] <= 1
    bad = tmp_path / "not.mid"
    bad.write_bytes(b"this is not midi")
    result = farm(farm_env, "midi", "report", str(bad))
    assert result.returncode == 2 and "farm: error:" in result.stderr
    assert "Traceback" not in result.stderr
