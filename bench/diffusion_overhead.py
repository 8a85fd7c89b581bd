"""Diffusion overhead: the farm's `image` job against calling the same pipeline by hand, in the
same run, same model, request, seed and threads. Target: resident farm ÷ direct ≤ 1.03.

    python -m bench.diffusion_overhead [--model DIR] [--steps 20] [--size 512] [--runs 5]
                                       [--threads 2]

Resident: the model already loaded on both sides; the farm side is submit → result (catalog
times), as a user waits for it. Cold: a fresh worker's first job (imports, lease, load, run)
against a fresh process that imports, loads and runs once. Without --model the tiny
random-weight pipeline (farm models tiny) is built and used; on it a job takes about a second,
so the farm's fixed cost per job weighs far more than on a real model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import REPO, bench_farm, recorded

_DIRECT = """
import json, sys, time
started = time.perf_counter()
import torch
from pipelines.diffusion import RunOptions
from pipelines.image import ImagePipeline, ImageRequest
from pipelines.model_folder import inspect_model
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
pipeline = ImagePipeline()
pipeline.load(inspect_model(__import__("pathlib").Path(args["model"]), "image"),
              RunOptions(threads=args["threads"]))
loaded = time.perf_counter()
request = ImageRequest(args["prompt"], steps=args["steps"], width=args["size"],
                       height=args["size"], seed=0)
pipeline(request)
cold = time.perf_counter() - started
resident = []
for run in range(args["runs"]):
    t = time.perf_counter()
    pipeline(ImageRequest(args["prompt"], steps=args["steps"], width=args["size"],
                          height=args["size"], seed=run + 1))
    resident.append(time.perf_counter() - t)
print(json.dumps({"cold": cold, "load": loaded - started, "resident": resident}))
"""
PROMPT = "an album cover: a lighthouse in the rain, moody, film grain"


def direct(model: Path, steps: int, size: int, runs: int, threads: int) -> dict[str, Any]:
    """Cold and resident times of the pipeline by hand, in a fresh process."""
    args = {"model": str(model), "steps": steps, "size": size, "runs": runs, "threads": threads,
            "prompt": PROMPT}
    out = subprocess.run([sys.executable, "-c", _DIRECT, json.dumps(args)], cwd=REPO,
                         capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def through_farm(model: Path, steps: int, size: int, runs: int, threads: int
                 ) -> dict[str, Any]:
    env = {"FARM_IMAGE__MODEL_PATH": str(model), "FARM_THREADS": str(threads),
           "FARM_IDLE_UNLOAD_S": "600"}
    with bench_farm(env) as farm, farm.resident_submitter() as submit:
        farm.start_worker("image")

        def job(seed: int) -> float:
            spec = {"kind": "image", "seed": seed, "params": {
                "prompt": PROMPT, "steps": steps, "width": size, "height": size}}
            done = farm.wait_all(submit([spec]))[0]
            assert done.state == "SUCCEEDED", done.error
            return (recorded(done.finished_at) - recorded(done.created_at)).total_seconds()

        cold = job(0)
        resident = [job(run + 1) for run in range(runs)]
    return {"cold": cold, "resident": resident}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a diffusers SD folder (default: tiny)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="farm and direct, in turn")
    args = parser.parse_args()
    model = args.model
    if model is None:
        from pipelines.tiny import build_tiny

        model = build_tiny(Path(tempfile.mkdtemp(prefix="tiny-")), ("image",))["image"]
    farm_resident, direct_resident, farm_cold, direct_cold = [], [], [], []
    for _ in range(args.rounds):
        mine = through_farm(model, args.steps, args.size, args.runs, args.threads)
        by_hand = direct(model, args.steps, args.size, args.runs, args.threads)
        farm_resident += mine["resident"]
        direct_resident += by_hand["resident"]
        farm_cold.append(mine["cold"])
        direct_cold.append(by_hand["cold"])
        time.sleep(1)
    f, d = statistics.median(farm_resident), statistics.median(direct_resident)
    fc, dc = statistics.median(farm_cold), statistics.median(direct_cold)
    print(f"model {model.name}, {args.size}x{args.size}, {args.steps} steps, "
          f"{args.threads} threads; {args.rounds} rounds of {args.runs} (medians)")
    print(f"resident  direct {d:7.3f} s   farm submit -> result {f:7.3f} s   "
          f"farm / direct {f / d:.3f} (target <= 1.03)")
    print(f"cold      direct {dc:7.3f} s   farm submit -> result {fc:7.3f} s   "
          f"farm / direct {fc / dc:.3f}")


if __name__ == "__main__":
    main()
