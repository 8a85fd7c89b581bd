"""Settings come from defaults < farm.yaml < environment < CLI flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.config import THREAD_VARS, apply_thread_caps, load_settings
from jobs.errors import ConfigError


@pytest.fixture
def clean_env(monkeypatch, tmp_path: Path) -> Path:
    for var in ("REDIS_URL", "FARM_REDIS_URL", "FARM_DB_URL", "FARM_CONFIG", "FARM_THREADS",
                "FARM_HEARTBEAT_S", "FARM_LLM__N_CTX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FARM_HOME", str(tmp_path))
    return tmp_path


def test_file_beats_defaults_and_env_beats_file(clean_env: Path, monkeypatch) -> None:
    (clean_env / "farm.yaml").write_text(
        "threads: 3\nllm: {n_ctx: 2048, n_gpu_layers: 35}\nredis_url: redis://file:6379/0\n"
    )
    settings = load_settings()
    assert (settings.threads, settings.llm.n_ctx, settings.llm.n_gpu_layers) == (3, 2048, 35)
    assert settings.redis_url == "redis://file:6379/0"
    monkeypatch.setenv("FARM_THREADS", "2")
    monkeypatch.setenv("FARM_LLM__N_CTX", "4096")
    monkeypatch.setenv("REDIS_URL", "redis://:secret@env:6379/1")
    settings = load_settings()
    assert (settings.threads, settings.llm.n_ctx, settings.llm.n_gpu_layers) == (2, 4096, 35)
    assert settings.redis_url == "redis://:secret@env:6379/1"
    assert load_settings(threads=1).threads == 1


def test_defaults_point_at_the_embedded_farm(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.catalog_url == f"sqlite:///{clean_env / 'catalog.db'}"
    assert settings.broker_url == f"redis+socket://{clean_env / 'run' / 'redis.sock'}"
    assert settings.llm.n_ctx == 3072 and "gpu0" in settings.devices


def test_deep_home_gets_a_short_socket_path(monkeypatch, tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120)
    monkeypatch.setenv("FARM_HOME", str(deep))
    assert len(str(load_settings().embedded_socket)) < 100


@pytest.mark.parametrize(
    ("content", "needle"),
    [("threads: 0\n", "threads"), ("llm: {n_ctxx: 1}\n", "llm.n_ctxx"),
     ("[1, 2]\n", "must be a mapping"), ("a: [\n", "cannot read config")],
)
def test_bad_config_is_one_config_error(clean_env: Path, content: str, needle: str) -> None:
    (clean_env / "farm.yaml").write_text(content)
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.").replace("[", r"\[")):
        load_settings()


def test_named_config_file_must_exist(clean_env: Path, monkeypatch) -> None:
    monkeypatch.setenv("FARM_CONFIG", str(clean_env / "nope.yaml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


def test_thread_caps_are_exported(clean_env: Path, monkeypatch) -> None:
    for var in THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    apply_thread_caps(load_settings(threads=3))
    import os

    assert all(os.environ[var] == "3" for var in THREAD_VARS)


def test_deep_or_strange_config_values_are_one_config_error(clean_env: Path, monkeypatch) -> None:
    (clean_env / "farm.yaml").write_text("devices: " + "[" * 5000 + "\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings()
    (clean_env / "farm.yaml").unlink()
    monkeypatch.setenv("FARM_DEVICES", "[" * 5000)
    with pytest.raises(ConfigError, match="devices"):
        load_settings()
    monkeypatch.delenv("FARM_DEVICES")
    monkeypatch.setenv("FARM_HOME", "[1]")  # text, not JSON: a (strange) folder name
    assert str(load_settings().home) == "[1]"
