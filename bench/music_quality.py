"""Music quality: the report card of 8 styles x 10 seeds (32 bars) against two baselines in the same run.

Per style: the chord-tone ratio (what sounds), the melody's bar-to-bar rhythm repetition, the drum
onsets on the swing-aware grid, the cross-seed overlap of melody and progression n-grams between
the style's pieces, and the share of report-card metrics inside the real-music bands. The
baselines replace every piece's notes: uniformly random notes (pipelines.midi.random_notes), and
C-major random walks on the sixteenth grid, which pass surface metrics, so the generator must
beat them on structure.

Pieces are made in-process by the same pipeline a `midi` job runs (same request, same bytes);
`--farm` runs them as jobs through a throw-away farm (embedded Redis, a real worker) instead and
reads the stored report.json and music.music.json back.

    python -m bench.music_quality [--seeds 10] [--bars 32] [--styles triphop,lofi,...] [--farm]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

STYLES = ("triphop", "lofi", "house", "ballad", "jazz", "folk", "rock", "ambient")
COLUMNS = ("chord_tone_ratio", "melodic_rhythm_repetition", "drum_on_grid")
TARGETS = {"chord_tone_ratio": 0.55, "melodic_rhythm_repetition": 0.6, "drum_on_grid": 0.9,
           "bands_inside_fraction": 0.9}
Made = tuple[str, dict[str, Any], dict[str, Any]]  # style, report, music


def run_in_process(styles: tuple[str, ...], seeds: int, bars: int) -> list[Made]:
    from pipelines.midi import MidiPipeline, MidiRequest

    pipeline, out = MidiPipeline(), []
    for style in styles:
        for seed in range(seeds):
            result = pipeline(MidiRequest(genre=style, bars=bars, seed=seed))
            out.append((style, result.report, result.music))
    return out


def run_jobs(styles: tuple[str, ...], seeds: int, bars: int) -> list[Made]:
    """(style, stored report, stored music) of every job, read from the catalog and the store."""
    from bench.harness import bench_farm
    from storage.catalog import Catalog
    from storage.store import BlobStore

    with bench_farm({"FARM_THREADS": "1"}) as farm:
        farm.start_worker("midi", concurrency=2)
        specs = [{"kind": "midi", "seed": seed, "params": {"genre": style, "bars": bars}}
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


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def summary(reports: list[dict[str, Any]], musics: list[dict[str, Any]]) -> dict[str, float | None]:
    """The table's figures for one group of pieces (a style, or a baseline of it)."""
    from pipelines.midi.metrics_diversity import cross_piece_overlap

    row = {name: _mean([r["metrics"][name] for r in reports]) for name in COLUMNS}
    diversity = cross_piece_overlap(musics)
    row.update(melody_overlap=diversity["melody"], progression_overlap=diversity["progression"],
               overlap=diversity["overlap"],
               bands_inside_fraction=_mean([r["bands_inside_fraction"] for r in reports]))
    return row


def baseline(musics: list[dict[str, Any]], make: Callable[[dict[str, Any], int], dict[str, Any]]
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from pipelines.midi.report import report_music

    fakes = [make(music, seed) for seed, music in enumerate(musics)]
    return [report_music(f) for f in fakes], fakes


def _cell(value: float | None) -> str:
    return f"{'-':>7}" if value is None else f"{value:7.3f}"


def print_row(name: str, row: dict[str, float | None]) -> None:
    cells = [row[c] for c in (*COLUMNS, "melody_overlap", "progression_overlap", "overlap",
                              "bands_inside_fraction")]
    print(f"{name:14}" + " ".join(_cell(v) for v in cells))


# The table's overlap columns and the memorisation bands they are held to (bands.json).
OVERLAPS = {"melody_overlap": "melody_overlap", "progression_overlap": "progression_overlap",
            "overlap": "cross_piece_overlap"}


def check_targets(rows: dict[str, dict[str, float | None]], memo: dict[str, Any]) -> list[str]:
    """One line per missed target, naming the style, the figure and the target."""
    missed = []
    for style, row in rows.items():
        for name, target in TARGETS.items():
            value = row[name]
            if value is None or value < target:
                missed.append(f"{style} {name} {_cell(value).strip()} < {target}")
        for column, band_name in OVERLAPS.items():
            top = memo.get(band_name, {}).get("band", [0, None])[1]
            value = row[column]
            if top is not None and value is not None and value > top:
                missed.append(f"{style} {column} {value:.3f} > {top} (memorisation band)")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--bars", type=int, default=32)
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--farm", action="store_true", help="run the pieces as jobs through a farm")
    args = parser.parse_args()
    from pipelines.midi.bands import load_bands
    from pipelines.midi.random_notes import random_like, random_walk_like

    styles = tuple(s.strip() for s in args.styles.split(",") if s.strip())
    started = time.monotonic()
    made = (run_jobs if args.farm else run_in_process)(styles, args.seeds, args.bars)
    where = "through the farm" if args.farm else "in-process"
    print(f"{len(made)} pieces ({args.bars} bars) made {where} in {time.monotonic() - started:.1f} s")
    memo = load_bands().get("memorization", {})
    print(f"{'':14}{'ct-ratio':>8}{'rhythm':>8}{'on-grid':>8}{'mel-ov':>8}{'prog-ov':>8}{'overlap':>8}"
          f"{'inside':>8}")
    rows: dict[str, dict[str, float | None]] = {}
    randoms: dict[str, list[Any]] = {"random notes": [[], []], "C-major walk": [[], []]}
    for style in styles:
        reports = [r for s, r, _ in made if s == style]
        musics = [m for s, _, m in made if s == style]
        rows[style] = summary(reports, musics)
        print_row(style, rows[style])
        for name, make in (("random notes", random_like), ("C-major walk", random_walk_like)):
            fake_reports, fakes = baseline(musics, make)
            randoms[name][0].append(summary(fake_reports, fakes))
    for name, (per_style, _) in randoms.items():
        pooled = {k: _mean([row[k] for row in per_style]) for k in per_style[0]}
        print_row(name, pooled)
    print("memorisation bands (real pieces, pairwise): " + ", ".join(
        f"{name} {spec['band']}" for name, spec in memo.items()) if memo else "no memorisation bands")
    missed = check_targets(rows, memo)
    print("targets: all met" if not missed else "targets missed:\n  " + "\n  ".join(missed))
    outside = Counter(name for _, r, _ in made for name, c in r["bands"].items() if c["inside"] is False)
    print("generator metrics most often outside:",
          ", ".join(f"{k} {v}/{len(made)}" for k, v in outside.most_common(6)) or "none")


if __name__ == "__main__":
    main()
