"""GPU scheduling: makespan of a mixed heavy workload against its lower bound, farm vs FIFO.

60 probe jobs over 3 models, submitted interleaved. Lower bound: the sum of run times plus
one load per model. The farm keeps a model resident and prefers jobs for it within the
aging window; the FIFO baseline is the same farm with the window at 0, so it runs in submit
order and reloads on every model switch. Also prints the lease hand-over latency (release
to the next grant) from the lease's own event log.

    python -m bench.gpu_schedule [--jobs 60] [--load-s 1.5] [--run-s 0.5] [--workers 1]
"""

from __future__ import annotations

import argparse

import redis

from bench.harness import bench_farm, percentile, recorded

MODELS = ("sd15", "sdxl", "stable-audio")


def run_workload(window_s: float, jobs: int, load_s: float, run_s: float,
                 workers: int) -> tuple[float, list[float]]:
    env = {"FARM_AFFINITY_WINDOW_S": str(window_s), "FARM_IDLE_UNLOAD_S": "600",
           "FARM_THREADS": "1"}
    with bench_farm(env) as farm:
        for _ in range(workers):
            farm.start_worker("image")
        specs = [{"kind": "probe", "params": {"model": MODELS[i % len(MODELS)],
                                              "load_s": load_s, "run_s": run_s}}
                 for i in range(jobs)]
        ids = farm.submit(specs)
        done = farm.wait_all(ids)
        # From the first submission to the last result, as the catalog recorded them.
        makespan = (max(recorded(j.finished_at) for j in done)
                    - min(recorded(j.created_at) for j in done)).total_seconds()
        assert all(j.state == "SUCCEEDED" for j in done), "a probe job failed"
        handoffs = lease_handoffs(farm.env["REDIS_URL"])
    return makespan, handoffs



def lease_handoffs(redis_url: str) -> list[float]:
    """Milliseconds from each release to the grant that follows it."""
    from jobs.gpu_state import read_events
    from jobs.keys import FarmKeys

    events = read_events(redis.Redis.from_url(redis_url), FarmKeys("farm").gpu("gpu0"))
    gaps = []
    for before, after in zip(events, events[1:], strict=False):
        if before["event"] == "release" and after["event"] == "grant":
            gaps.append((after["t"] - before["t"]) * 1000)
    return gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--load-s", type=float, default=1.5)
    parser.add_argument("--run-s", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    bound = max(1e-9, args.jobs * args.run_s + len(MODELS) * args.load_s)
    farm_s, farm_gaps = run_workload(600, args.jobs, args.load_s, args.run_s, args.workers)
    fifo_s, _ = run_workload(0, args.jobs, args.load_s, args.run_s, args.workers)
    print(f"jobs={args.jobs} models={len(MODELS)} load_s={args.load_s} run_s={args.run_s} "
          f"workers={args.workers}")
    print(f"lower bound            {bound:8.1f} s")
    print(f"farm (residency)       {farm_s:8.1f} s   makespan / bound = {farm_s / bound:.3f}")
    print(f"naive FIFO (reloads)   {fifo_s:8.1f} s   makespan / bound = {fifo_s / bound:.3f}")
    print(f"farm / FIFO            {farm_s / fifo_s:.3f}")
    if farm_gaps:
        print(f"lease hand-over (release -> next grant, {len(farm_gaps)} samples): "
              f"p50 {percentile(farm_gaps, 0.5):.1f} ms, p95 {percentile(farm_gaps, 0.95):.1f} ms")


if __name__ == "__main__":
    main()
