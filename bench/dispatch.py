"""Dispatch overhead: no-op jobs through the farm (catalog, outbox, claim, store, commit) against
bare Celery no-op tasks on the same kind of Redis, with the same delivery settings, same run.

Both sides get a fresh embedded redis-server and the same number of prefork worker processes.
Raw Celery runs twice: with Celery's default Redis queue layout (four priority sub-queues) and
with the farm's (ten), so that the farm's own cost is told apart from its queue layout's.
Prints throughput (jobs/s from the first submission to the last completion), the farm ÷ raw
ratios (target ≥ 0.5) and p50/p95 submit→done latency.

    python -m bench.dispatch [--jobs 300] [--concurrency 1] [--rounds 3]

FARM_BENCH_DIR=/dev/shm puts every side's farm home (catalog, blob store, outputs view) on
tmpfs, which shows how much of the farm's cost is the disk's fsync and metadata latency.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import redis

from bench.harness import REPO, BenchFarm, bench_farm, percentile, recorded

NOOP = {"kind": "probe", "params": {"tag": "midi", "vram_mb": 0, "run_s": 0}}


def farm_side(jobs: int, concurrency: int) -> tuple[float, list[float]]:
    with bench_farm({"FARM_THREADS": "1"}) as farm, farm.resident_submitter() as submit:
        farm.start_worker("midi", concurrency)
        # Warm, as the raw side is: the worker's and the submitter's imports and connections.
        farm.wait_all(submit([NOOP]))
        done = farm.wait_all(submit([NOOP] * jobs))
        assert all(j.state == "SUCCEEDED" for j in done), "a no-op job failed"
        first = min(recorded(j.created_at) for j in done)
        last = max(recorded(j.finished_at) for j in done)
        latencies = [(recorded(j.finished_at) - recorded(j.created_at)).total_seconds() * 1000
                     for j in done]
    return jobs / (last - first).total_seconds(), latencies


def raw_side(jobs: int, concurrency: int, farm_layout: bool) -> tuple[float, list[float]]:
    with bench_farm() as farm:
        client = redis.Redis.from_url(farm.env["REDIS_URL"])
        os.environ["RAW_BROKER_URL"] = farm.settings().broker_url
        os.environ["RAW_REDIS_URL"] = farm.env["REDIS_URL"]
        os.environ["RAW_FARM_LAYOUT"] = "1" if farm_layout else "0"
        import bench.raw_celery

        raw_celery = importlib.reload(bench.raw_celery)  # this run's broker and layout
        DONE_KEY, noop = raw_celery.DONE_KEY, raw_celery.noop
        worker = _raw_worker(farm, concurrency)
        try:
            _wait_done(client, DONE_KEY, [noop.apply_async().id])  # warm
            sent: dict[str, float] = {}
            for _ in range(jobs):
                started = time.time()
                sent[noop.apply_async().id] = started
            finished = _wait_done(client, DONE_KEY, list(sent))
        finally:
            worker.terminate()
            worker.wait(30)
    latencies = [(finished[t] - sent[t]) * 1000 for t in sent]
    return jobs / (max(finished[t] for t in sent) - min(sent.values())), latencies


def _raw_worker(farm: BenchFarm, concurrency: int) -> subprocess.Popen[bytes]:
    env = {**farm.env, **{k: os.environ[k] for k in
                          ("RAW_BROKER_URL", "RAW_REDIS_URL", "RAW_FARM_LAYOUT")}}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.raw_celery", "worker", "-Q", "raw",
         "-c", str(concurrency), "--pool", "prefork", "--loglevel", "WARNING"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_done(client: redis.Redis, key: str, ids: list[str], timeout_s: float = 600
               ) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        values = client.hmget(key, ids)
        if all(v is not None for v in values):
            return {i: float(v) for i, v in zip(ids, values, strict=True)}  # type: ignore[arg-type]
        time.sleep(0.02)
    raise RuntimeError("raw Celery tasks did not finish")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3,
                        help="sides run in turn this many times; medians are reported")
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, list[float]]]] = {name: [] for name in SIDES}
    for _ in range(args.rounds):  # in turn, so that a slow spell of the machine hits all sides
        for name, side in SIDES.items():
            runs[name].append(side(args.jobs, args.concurrency))
    print(f"{args.jobs} no-op jobs, {args.concurrency} worker process(es), "
          f"median of {args.rounds} rounds")
    print(f"{'':22}{'jobs/s':>10}{'p50 ms':>10}{'p95 ms':>10}   jobs/s each round")
    rates = {name: statistics.median(rate for rate, _ in done) for name, done in runs.items()}
    for name, done in runs.items():
        latencies = [ms for _, lat in done for ms in lat]
        each = " ".join(f"{rate:.0f}" for rate, _ in done)
        print(f"{name:22}{rates[name]:10.1f}{percentile(latencies, 0.5):10.1f}"
              f"{percentile(latencies, 0.95):10.1f}   {each}")
    for name in ("raw, Celery's queues", "raw, farm's queues"):
        print(f"farm / {name}: {rates['farm'] / rates[name]:.3f}  (target >= 0.5)")


SIDES: dict[str, Callable[[int, int], tuple[float, list[float]]]] = {
    "raw, Celery's queues": lambda jobs, conc: raw_side(jobs, conc, farm_layout=False),
    "raw, farm's queues": lambda jobs, conc: raw_side(jobs, conc, farm_layout=True),
    "farm": farm_side,
}


if __name__ == "__main__":
    main()
