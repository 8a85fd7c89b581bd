"""The API's parts that need no server: where a stream may read to (holes in the ids), the
settings it takes and refuses, the names it answers to, CORS only where configured."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from jobs.api.errors import status_of
from jobs.api.gate import _loopback_host
from jobs.api.streams import GapGuard, sse, start_cursor
from jobs.config import load_settings
from jobs.errors import BadJobSpec, BrokerUnreachable, ConfigError, IdempotencyConflict
from storage.errors import CatalogDamaged, UnknownJob


def test_a_stream_waits_at_a_young_hole_and_passes_an_old_one() -> None:
    guard = GapGuard(grace_s=2.0)
    assert guard.horizon(10, [11, 12, 13], now=0.0) == 13
    assert guard.horizon(13, [14, 16, 17], now=0.0) == 14  # 15 may still commit
    assert guard.horizon(14, [16, 17], now=1.0) == 14
    assert guard.horizon(14, [15, 16, 17], now=1.5) == 17  # it did
    assert guard.horizon(17, [19], now=2.0) == 17
    assert guard.horizon(17, [19], now=4.5) == 19  # rolled back: passed after the grace
    assert guard.first_seen == {}
    assert guard.horizon(19, [], now=5.0) == 19


def test_a_cursor_comes_from_last_event_id_then_after_then_the_default() -> None:
    assert start_cursor(None, None, 42) == 42
    assert start_cursor(None, 7, 42) == 7
    assert start_cursor("9", 7, 42) == 9
    for bad in ("x", "-1", "1.5", str(2**63)):
        with pytest.raises(BadJobSpec, match="Last-Event-ID"):
            start_cursor(bad, None, 0)
    assert sse("state", {"a": 1}, 5) == 'id: 5\nevent: state\ndata: {"a":1}\n\n'


def test_errors_map_to_the_status_their_exit_code_says() -> None:
    assert status_of(BadJobSpec("x")) == 400
    assert status_of(UnknownJob("x")) == 404
    assert status_of(IdempotencyConflict("x")) == 409
    assert status_of(BrokerUnreachable("x")) == 503
    assert status_of(CatalogDamaged("x")) == 503


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1:8750", True), ("localhost", True), ("[::1]:8750", True), ("LOCALHOST:1", True),
    ("studio.local:8750", False), ("127.0.0.1.nip.io", False), ("", False), ("[::2]", False)])
def test_only_loopback_names_are_loopback(host: str, loopback: bool) -> None:
    assert _loopback_host(host) is loopback


@pytest.mark.parametrize(("variable", "value", "needle"), [
    ("FARM_API__TOKEN", "short", "at least 16"),
    ("FARM_API__TOKEN", "sixteen chars with spaces", "without spaces"),
    ("FARM_API__CORS_ORIGINS", '["*"]', "not an origin"),
    ("FARM_API__CORS_ORIGINS", '["http://studio.local/path"]', "not an origin"),
    ("FARM_API__PORT", "0", "api.port"),
    ("FARM_API__UDS", "/" + "d" * 120, "shorter than"),
    ("FARM_API__MAX_BODY_BYTES", "10", "api.max_body_bytes")])
def test_bad_api_settings_are_one_line(monkeypatch, tmp_path, variable: str, value: str,
                                       needle: str) -> None:
    monkeypatch.setenv("FARM_HOME", str(tmp_path))
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=needle) as refused:
        load_settings()
    if variable == "FARM_API__TOKEN":  # a secret, even a bad one, is never echoed
        assert value not in str(refused.value)


def test_cors_answers_only_the_configured_origins(monkeypatch, tmp_path) -> None:
    from jobs.api.app import make_app

    monkeypatch.setenv("FARM_HOME", str(tmp_path))
    monkeypatch.setenv("FARM_API__CORS_ORIGINS", '["http://studio.local:3000"]')
    client = TestClient(make_app(load_settings()), base_url="http://127.0.0.1")
    asked = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization"}
    allowed = client.options("/jobs", headers={"Origin": "http://studio.local:3000", **asked})
    assert allowed.headers["access-control-allow-origin"] == "http://studio.local:3000"
    other = client.options("/jobs", headers={"Origin": "http://elsewhere.example", **asked})
    assert "access-control-allow-origin" not in other.headers


def test_a_stream_the_catalog_fails_ends_with_one_error_line() -> None:
    import asyncio

    from jobs.api.streams import ends_on_trouble

    @ends_on_trouble
    async def failing():  # type: ignore[no-untyped-def]
        yield "id: 1\n\n"
        raise UnknownJob("no job 'abcd' in the catalog;\nnot there")

    async def read() -> list[str]:
        return [chunk async for chunk in failing()]

    assert asyncio.run(read()) == [
        "id: 1\n\n", 'event: error\ndata: {"detail":"no job \'abcd\' in the catalog; not there"}\n\n']
