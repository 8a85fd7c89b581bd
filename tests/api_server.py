"""A real `farm api` process for tests, and a small Server-Sent Events reader over httpx."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO, _free_port


@dataclass
class Event:
    type: str
    id: int | None
    data: dict[str, Any]


class ApiProcess:
    """`farm api` on a free port (and a unix socket when asked), ready once /health answers."""

    def __init__(self, env: dict[str, str], *args: str, token: str | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.log = Path(env["FARM_HOME"]).parent / f"api-{uuid.uuid4().hex[:6]}.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jobs.cli", "api", "--port", str(self.port), *args],
                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self._answers():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code in (200, 503)
        except httpx.TransportError:
            return False

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=30, **options)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def events(response: httpx.Response, timeout_s: float = 120) -> Iterator[Event]:
    """The events of an SSE response as they come (comments skipped), within a deadline."""
    deadline = time.monotonic() + timeout_s
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        assert time.monotonic() < deadline, f"no end to the stream within {timeout_s} s"
        if line == "":
            if "data" in fields:
                yield Event(fields.get("event", "message"),
                            int(fields["id"]) if "id" in fields else None,
                            json.loads(fields["data"]))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def read_until(response: httpx.Response, done: Any, timeout_s: float = 120) -> list[Event]:
    """Events until `done(event)` is true (that one included)."""
    found: list[Event] = []
    for event in events(response, timeout_s):
        found.append(event)
        if done(event):
            return found
    raise AssertionError(f"the stream ended first: {found}")
