"""Music quality: share of report-card metrics inside the real-music bands, generator vs random.

8 styles x 10 seeds of `midi` jobs run through a throw-away farm (embedded Redis, a real
worker process); their stored report.json artifacts are read back from the catalog and the
store. The baseline, in the same run, replaces every note of each stored piece with a uniformly
random one (same tracks, note counts, tempo, metre and key; see pipelines.midi.random_notes)
and scores it with the same report code.

    python -m bench.music_quality [--seeds 10] [--styles triphop,lofi,...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from typing import Any

from bench.harness import bench_farm

STYLES = ("triphop", "lofi", "house", "ballad", "jazz", "folk", "rock", "ambient")


def run_jobs(styles: tuple[str, ...], seeds: int) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(style, stored report, stored music) of every job, read from the catalog and the store."""
    from storage.catalog import Catalog
    from storage.store import BlobStore

    with bench_farm({"FARM_THREADS": "1"}) as farm:
        farm.start_worker("midi", concurrency=2)
        specs = [{"kind": "midi", "seed": seed, "params": {"genre": style}}
                 for style in styles for seed in range(seeds)]
        ids = farm.submit(specs)
        jobs = farm.wait_all(ids, timeout_s=900)
        failed = [j.id for j in jobs if j.state != "SUCCEEDED"]
        if failed:
            raise SystemExit(f"{len(failed)} midi jobs did not succeed: {failed[:3]}")
        catalog, store = Catalog(farm.env["FARM_DB_URL"]), BlobStore(farm.home / "store")
        out = []
        for spec, job_id in zip(specs, ids, strict=True):
            blobs = {a.name: store.read_bytes(a.sha256) for a in catalog.artifacts(job_id)}
            params: dict[str, Any] = spec["params"]  # type: ignore[assignment]
            out.append((params["genre"], json.loads(blobs["report.json"]),
                        json.loads(blobs["music.music.json"])))
        catalog.close()
    return out


def random_fraction(music: dict[str, Any], seed: int) -> tuple[float, dict[str, Any]]:
    from pipelines.midi.random_notes import random_like
    from pipelines.midi.report import report_music

    report = report_music(random_like(music, seed))
    return report["bands_inside_fraction"], report


def outside_counts(reports: list[dict[str, Any]]) -> Counter[str]:
    return Counter(name for r in reports for name, c in r["bands"].items() if c["inside"] is False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--styles", default=",".join(STYLES))
    args = parser.parse_args()
    styles = tuple(s.strip() for s in args.styles.split(",") if s.strip())
    started = time.monotonic()
    results = run_jobs(styles, args.seeds)
    farm_s = time.monotonic() - started
    print(f"{len(results)} midi jobs through the farm in {farm_s:.1f} s; fraction of report-card "
          "metrics inside the real-music bands (mean over seeds)")
    print(f"{'style':10} {'generator':>10} {'random':>8} {'ratio':>7}")
    generated, randoms = [], []
    for style in styles:
        mine = [(report, music) for s, report, music in results if s == style]
        gen = [report["bands_inside_fraction"] for report, _ in mine]
        rnd = [random_fraction(music, seed)[0] for seed, (_, music) in enumerate(mine)]
        generated += gen
        randoms += rnd
        print(f"{style:10} {statistics.fmean(gen):10.3f} {statistics.fmean(rnd):8.3f} "
              f"{statistics.fmean(gen) / statistics.fmean(rnd):7.2f}")
    gen_all, rnd_all = statistics.fmean(generated), statistics.fmean(randoms)
    print(f"{'all':10} {gen_all:10.3f} {rnd_all:8.3f} {gen_all / rnd_all:7.2f}")
    print(f"targets: generator >= 0.85 {'met' if gen_all >= 0.85 else 'MISSED'}, "
          f"random < 0.4 {'met' if rnd_all < 0.4 else 'MISSED'}")
    stored = [report for _, report, _ in results]
    print("generator metrics most often outside:",
          ", ".join(f"{k} {v}/{len(stored)}" for k, v in outside_counts(stored).most_common(6)))


if __name__ == "__main__":
    main()
