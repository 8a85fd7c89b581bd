"""`farm demo` goes from nothing running to a catalogued MIDI file and leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mido

from jobs.config import load_settings
from tests.conftest import REPO, farm_json


def processes_of_home(home: Path) -> list[int]:
    """Live processes whose environment names this FARM_HOME."""
    marker = f"FARM_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_demo_makes_music_with_an_embedded_redis_and_stops_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARM_") and k != "REDIS_URL"}
    env.update({"FARM_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO), "FARM_THREADS": "1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "demo", "sad ballad in C major at 70 bpm, 8 bars",
         "--seed", "5", "--json"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell-less session of its own, so leftover children would show up as orphans of init.
        start_new_session=True,
    )
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert doc["state"] == "SUCCEEDED"
    assert doc["tier"] == "rules"  # no model configured: the brain's rules read the words
    assert doc["intent"]["genre"] == "ballad" and doc["intent"]["key"] == "C"
    assert doc["intent"]["tempo_bpm"] == 70 and doc["intent"]["bars"] == 8
    music = json.loads(Path(next(a["path"] for a in doc["artifacts"]
                                 if a["name"] == "music.music.json")).read_text())
    assert (music["key"], music["mode"], music["genre"], music["bars"]) == ("C", "major", "ballad", 8)
    midi = next(a for a in doc["artifacts"] if a["name"].endswith(".mid"))
    assert Path(midi["path"]).is_relative_to(tmp_path / "home" / "outputs")
    assert mido.MidiFile(midi["path"]).type == 1
    # Its row is in the catalog that FARM_HOME names.
    rows = farm_json(dict(env, REDIS_URL="redis://127.0.0.1:1/0"), "ls")
    assert sorted(r["job_id"] for r in rows) == sorted([doc["job_id"], doc["intent_job_id"]])
    # No redis-server or worker from this demo survives it.
    assert processes_of_home(tmp_path / "home") == []
    assert not load_settings(home=tmp_path / "home").embedded_socket.exists()
