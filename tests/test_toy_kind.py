"""Adding a kind is one registry entry, its pipeline and its handler (tests/toy_kind.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO, farm


def toy_farm(env: dict[str, str], *args: str) -> Any:
    result = subprocess.run([sys.executable, "-m", "tests.toy_farm", *args, "--json"], env=env,
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_kind_registered_in_one_place_runs_end_to_end(farm_env, start_worker) -> None:
    start_worker("midi", module="tests.toy_farm")
    job = toy_farm(farm_env, "submit", "reverse", "-p", "text=studio")["job_id"]
    doc = toy_farm(farm_env, "wait", job, "--timeout", "60")
    assert doc["state"] == "SUCCEEDED" and [a["name"] for a in doc["artifacts"]] == ["reversed.txt"]
    assert Path(doc["artifacts"][0]["path"]).read_text() == "oiduts"
    refused = subprocess.run([sys.executable, "-m", "tests.toy_farm", "submit", "reverse", "-p",
                              "colour=red"], env=farm_env, cwd=REPO, capture_output=True, text=True)
    assert refused.returncode == 2 and "params.colour: unknown field" in refused.stderr


def test_a_farm_without_the_kind_says_so(farm_env) -> None:
    result = farm(farm_env, "submit", "reverse")
    assert result.returncode == 2 and "unknown job kind 'reverse'" in result.stderr
