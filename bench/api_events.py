"""The API's live events and submits: how soon a state change reaches an SSE client, and what
`POST /jobs` costs against the same submit from a resident process.

Latency: a real `farm api` process on a throw-away farm, one client following `GET /events`.
This process changes jobs' states in the catalog through the farm's own catalog (which
announces each event on Redis, as the workers' and the CLI's do): a job added, claimed, then
succeeded; one change at a time, each timed from just before the catalog write until the
client has read its event, p50 and p95 over every change.

Throughput: the same midi specs submitted through `POST /jobs` and through `submit_job` in a
resident process (what `farm submit` costs without a Python start, its specs written ahead:
the baseline), in alternating rounds on the same farm; the API from one kept-alive connection
(a request waits for the one before), then from four at once (several studio tools). No
worker runs.

    python -m bench.api_events [--changes 300] [--jobs 300]
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench.harness import REPO, BenchFarm, bench_farm, percentile
from tests.conftest import _free_port

ROUNDS = 6


def start_api(farm: BenchFarm) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "jobs.cli", "api", "--port", str(port)],
                            env=dict(farm.env, FARM_API__PORT=str(port)), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            httpx.get(f"{url}/health", timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.05)


def follow(url: str, heard: queue.Queue[tuple[int, float]], ready: threading.Event) -> None:
    """Put (event id, when read) for every event of the stream, as it is read, until the API
    stops."""
    try:
        with httpx.stream("GET", f"{url}/events", timeout=None) as response:
            ready.set()
            for line in response.iter_lines():
                if line.startswith("id: "):
                    heard.put((int(line[4:]), time.perf_counter()))
    except httpx.TransportError:
        return


def latency_side(farm: BenchFarm, url: str, changes: int) -> list[float]:
    from jobs.home import open_catalog
    from storage.models import JobRecord, JobState

    catalog = open_catalog(farm.settings())
    heard: queue.Queue[tuple[int, float]] = queue.Queue()
    ready = threading.Event()
    threading.Thread(target=follow, args=(url, heard, ready), daemon=True).start()
    ready.wait()
    time.sleep(0.5)  # the stream has read its starting point

    def timed(change: Any, *args: Any) -> float:
        started = time.perf_counter()
        change(*args)
        _, heard_at = heard.get(timeout=10)
        return (heard_at - started) * 1000

    samples: list[float] = []
    while len(samples) < changes:
        job = JobRecord(id=uuid.uuid4().hex, kind="midi", tag="midi", seed=1,
                        params_json='{"params": {}, "given": []}', project="bench")
        samples.append(timed(catalog.add_job, job))
        samples.append(timed(catalog.claim, job.id, "bench", 1, JobState.QUEUED, 0))
        samples.append(timed(catalog.commit_result, job.id, 1, [], []))
    return samples[:changes]


class Poster:
    """POST /jobs on one kept-alive connection with http.client: what the API costs, not a
    client library (httpx alone adds about a millisecond a request here)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port))

    def __call__(self, specs: list[dict[str, Any]]) -> None:
        for spec in specs:
            self.connection.request("POST", "/jobs", json.dumps(spec),
                                    {"content-type": "application/json"})
            answer = self.connection.getresponse()
            answer.read()
            assert answer.status == 201, answer.status


def throughput_side(farm: BenchFarm, url: str, jobs: int, clients: int) -> tuple[float, float]:
    """Seconds for `jobs` submits through the API (from `clients` connections at once) and
    through the resident process, in alternating rounds."""
    per_round = jobs // ROUNDS
    through_api = direct = 0.0
    posters = [Poster(url) for _ in range(clients)]

    def specs(side: str, start: int, count: int = per_round) -> list[dict[str, Any]]:
        return [{"kind": "midi", "seed": n, "project": side, "params": {"bars": 2}}
                for n in range(start, start + count)]

    with farm.resident_submitter() as submit, ThreadPoolExecutor(clients) as pool:
        submit(specs("warm", 0))
        list(pool.map(lambda p: p(specs("warm", 0, 5)), posters))
        for round_ in range(ROUNDS):
            started = time.perf_counter()
            submit(specs("direct", round_ * per_round))
            direct += time.perf_counter() - started
            shares = [specs(f"api{n}", round_ * per_round, per_round // clients)
                      for n in range(clients)]
            started = time.perf_counter()
            list(pool.map(lambda pair: pair[0](pair[1]), zip(posters, shares, strict=True)))
            through_api += time.perf_counter() - started
    return through_api, direct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=300)
    args = parser.parse_args()
    with bench_farm() as farm:
        api, url = start_api(farm)
        try:
            samples = latency_side(farm, url, args.changes)
            sides = {clients: throughput_side(farm, url, args.jobs, clients) for clients in (1, 4)}
        finally:
            api.terminate()
            api.wait(30)
    submitted = args.jobs // ROUNDS * ROUNDS
    p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
    print(f"state change in the catalog -> SSE event at the client, {len(samples)} changes: "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(samples):.1f} ms (target p95 < 50 ms)")
    for clients, (through_api, direct) in sides.items():
        print(f"POST /jobs from {clients} connection(s): {submitted / through_api:.0f} jobs/s; "
              f"submit_job from a resident process: {submitted / direct:.0f} jobs/s "
              f"({submitted} jobs each, {ROUNDS} alternating rounds); "
              f"ratio API / direct: {direct / through_api:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
