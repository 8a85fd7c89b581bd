"""Watched-folder ingest: 1,000 drops, time until every one is submitted, and exactly once.

A real `farm watch DIR` process on a throw-away farm takes 1,000 job files dropped as fast as a
script can write them (each written under a hidden name and renamed, as a DAW script would);
100 of them are copies of others under new names. Timed from the first drop until the catalog
holds every job, the settle time included. The baseline, in the same run, submits the same
900 distinct specs through the real submit path from a resident process (what `farm submit`
costs without a Python start). No worker runs: this measures taking and submitting.

    python -m bench.watch_ingest [--drops 1000] [--settle 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import REPO, BenchFarm, bench_farm

COPY_EVERY = 10  # one drop in ten is a copy of an earlier one under another name


def specs(count: int, salt: str) -> list[dict[str, Any]]:
    return [{"kind": "midi", "seed": n, "project": f"ingest{salt}", "params": {"bars": 2}}
            for n in range(count)]


def job_count(farm: BenchFarm) -> int:
    import sqlite3

    try:
        with sqlite3.connect(farm.home / "catalog.db") as conn:
            return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
    except sqlite3.OperationalError:  # not made yet: the first submit makes it
        return 0


def taken(inbox: Path) -> int:
    """Drops in processing/ (their journals, hidden files, are not drops)."""
    return sum(1 for p in (inbox / "processing").iterdir() if not p.name.startswith("."))


def watch_side(farm: BenchFarm, drops: int, settle_s: float) -> dict[str, float]:
    inbox = farm.home / "inbox"
    inbox.mkdir()
    env = dict(farm.env, FARM_WATCH_SETTLE_S=str(settle_s))
    log = open(farm.home / "watch.log", "w")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "jobs.cli", "watch", str(inbox)], env=env,
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    while "watching" not in (farm.home / "watch.log").read_text():
        time.sleep(0.05)
    distinct = specs(drops - drops // COPY_EVERY, "w")
    files = [(f"job-{n}.json", json.dumps(s)) for n, s in enumerate(distinct)]
    files += [(f"copy-{n}.json", json.dumps(distinct[n * 3])) for n in range(drops // COPY_EVERY)]
    start = time.perf_counter()
    for name, text in files:
        (inbox / f".{name}").write_text(text)
        os.rename(inbox / f".{name}", inbox / name)
    written = time.perf_counter() - start
    while job_count(farm) < len(distinct) or taken(inbox) < drops:
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    proc.terminate()
    proc.wait(30)
    log.close()
    said = (farm.home / "watch.log").read_text()
    return {"seconds": elapsed, "write_s": written, "jobs": job_count(farm), "taken": taken(inbox),
            "distinct": len(distinct), "copies_named_known": said.count("already known")}


def direct_side(farm: BenchFarm, count: int) -> float:
    with farm.resident_submitter() as submit:
        submit(specs(1, "warm"))
        start = time.perf_counter()
        submit(specs(count, "d"))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drops", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=0.5, help="watch_settle_s")
    args = parser.parse_args()
    with bench_farm() as farm:
        watched = watch_side(farm, args.drops, args.settle)
    with bench_farm() as farm:
        direct = direct_side(farm, int(watched["distinct"]))
    rate = args.drops / watched["seconds"]
    direct_rate = watched["distinct"] / direct
    print(f"drops: {args.drops} ({int(watched['distinct'])} distinct, "
          f"{args.drops - int(watched['distinct'])} copies), settle {args.settle:g} s")
    print(f"watched folder: all submitted {watched['seconds']:.2f} s after the first drop "
          f"(writing them took {watched['write_s']:.2f} s): {rate:.0f} drops/s")
    print(f"direct submit_job from a resident process: {direct:.2f} s for "
          f"{int(watched['distinct'])} jobs: {direct_rate:.0f} jobs/s")
    print(f"ratio watched / direct (per distinct job): "
          f"{watched['distinct'] / watched['seconds'] / direct_rate:.2f}")
    ok = watched["jobs"] == watched["distinct"] and watched["taken"] == args.drops
    print(f"exactly once: {int(watched['jobs'])} jobs for {int(watched['distinct'])} distinct "
          f"drops, {int(watched['taken'])} of {args.drops} taken, "
          f"{int(watched['copies_named_known'])} copies named their job: {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
