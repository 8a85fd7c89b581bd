"""compose.yaml, checked without a container engine: every farm command in it is a real
subcommand with valid options, its settings are valid, every variable it reads is documented,
and its volumes, GPUs, passwords and ports are as the farm promises."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from jobs.cli import cli
from jobs.config import load_settings
from tests.conftest import REPO

COMPOSE = REPO / "compose.yaml"
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:[:?-][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def farm_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if "build" in s}


def parse_farm_command(args: list[str]) -> click.Command:
    """Parse a `farm ...` command line as the CLI would, without running it; the command."""
    assert args[0] == "farm", args
    command: click.Command = cli
    rest, name = args[1:], "farm"
    while True:
        ctx = command.make_context(name, list(rest), resilient_parsing=False)
        if not isinstance(command, click.Group):
            return command
        words = [*ctx._protected_args, *ctx.args]
        if not words and command.invoke_without_command:  # `farm worker --tags midi`
            return command
        assert words, f"{args}: a group needs a subcommand"
        name, sub, rest = command.resolve_command(ctx, words)
        assert sub is not None, args
        command = sub


SAMPLES = {"FLOWER_AUTH": "studio:a-password", "REDIS_PASSWORD": "a-password",
           "API_TOKEN": "an-api-token-of-24-chars"}


def substituted(value: str) -> str:
    """A value as compose would give it, with sample values from .env."""
    return VARIABLE.sub(lambda m: SAMPLES.get(m.group(1), "x"), value)


def test_every_farm_command_is_a_real_subcommand_with_valid_options(compose) -> None:
    services = farm_services(compose)
    assert {"worker-midi", "worker-llm", "worker-image", "worker-audio", "watcher", "flower",
            "api", "reconciler"} <= set(services)
    for service in services.values():
        parse_farm_command(service["command"])
        check = service["healthcheck"]["test"]
        if check[1] == "farm":
            parse_farm_command(check[1:])
    with pytest.raises(click.UsageError):
        parse_farm_command(["farm", "worker", "--tag", "midi"])  # the check can fail
    with pytest.raises(click.UsageError):
        parse_farm_command(["farm", "serve"])


def test_every_service_environment_is_a_valid_farm_setting(compose, monkeypatch) -> None:
    found = {}
    for name, service in farm_services(compose).items():
        for var in [v for v in os.environ if v.startswith("FARM_") or v == "REDIS_URL"]:
            monkeypatch.delenv(var)
        for var, value in service["environment"].items():
            monkeypatch.setenv(var, substituted(str(value)))
        found[name] = load_settings()  # a ConfigError names the bad setting
        assert found[name].redis_url == "redis://:a-password@redis:6379/0", name
    assert found["flower"].flower.auth is not None
    assert found["api"].api.token is not None
    assert [str(f.dir) for f in found["watcher"].watch_folders] == ["/inbox"]


def test_every_variable_compose_reads_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    used = set(VARIABLE.findall(COMPOSE.read_text()))
    assert {"REDIS_PASSWORD", "FLOWER_AUTH", "API_TOKEN"} <= used
    assert [v for v in sorted(used) if v not in readme] == []
    text = COMPOSE.read_text()
    for secret in ("REDIS_PASSWORD", "FLOWER_AUTH", "API_TOKEN"):  # no default: compose refuses
        assert re.search(r"\$\{" + secret + r"(:?-|\})", text) is None, secret
        assert re.search(r"\$\{" + secret + r":\?", text), secret


def test_volumes_gpus_passwords_and_ports_are_consistent(compose) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, target, *mode = volume.split(":")
            if source.startswith("."):
                assert (target, mode) != ("/models", []), f"{name}: models must be read-only"
                continue
            assert source in declared, f"{name}: volume {source} is not declared"
            used.add(source)
    assert declared == used, f"declared but unused: {declared - used}"
    for name in ("worker-image", "worker-audio"):
        devices = compose["services"][name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
        assert any(v.endswith(":/models:ro") for v in compose["services"][name]["volumes"])
    redis = compose["services"]["redis"]["command"]
    assert "--requirepass" in redis and redis[redis.index("--appendonly") + 1] == "yes"
    for name in ("flower", "api"):
        for port in compose["services"][name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} is published on the host's loopback only"
    assert "FARM_FLOWER__AUTH" in compose["services"]["flower"]["environment"]
    assert "FARM_API__TOKEN" in compose["services"]["api"]["environment"]
    homes = {s["environment"]["FARM_HOME"] for s in farm_services(compose).values()}
    catalogs = {s["environment"]["FARM_DB_URL"] for s in farm_services(compose).values()}
    assert len(homes) == 1 and len(catalogs) == 1, "every service shares one home and catalog"


def test_the_dockerfile_installs_what_the_services_run() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    for package in ("jobs", "workers", "pipelines", "storage"):
        assert f"COPY {package} {package}" in dockerfile
    assert "USER farm" in dockerfile
    assert Path(REPO / "pyproject.toml").read_text().count('farm = "jobs.cli:main"') == 1
