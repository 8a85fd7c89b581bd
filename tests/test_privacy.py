"""The farm's state is its user's alone: private folders and files, and an embedded Redis that
only the farm's user can have started."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

from jobs.config import load_settings
from tests.conftest import farm, farm_json
from tests.test_farm_up import FarmUp, _embedded_env, _stop

NOBODY = 65534


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_farm_keeps_its_folders_0700_and_its_files_0600(farm_env, tmp_path) -> None:
    env = _embedded_env(farm_env, tmp_path)
    up = FarmUp(env, tmp_path / "up.log")
    try:
        job = farm_json(env, "submit", "midi", "-p", "bars=2")["job_id"]
        assert farm_json(env, "wait", job, "--timeout", "60")["state"] == "SUCCEEDED"
        farm_json(env, "catalog", "backup")
    finally:
        _stop(up)
    home = Path(env["FARM_HOME"])
    folders = [home, home / "run", home / "redis", home / "logs", home / "backups"]
    assert {str(f): _mode(f) for f in folders} == {str(f): 0o700 for f in folders}
    files = [home / "catalog.db", *(home / "redis").rglob("*"), *(home / "logs").glob("*"),
             *(home / "backups").glob("*")]
    files = [f for f in files if f.is_file()]
    assert any("appendonly" in f.name or f.suffix == ".aof" for f in files), files
    assert {str(f): _mode(f) & 0o077 for f in files} == {str(f): 0 for f in files}
    checks = json.loads(farm(env, "doctor", "--json").stdout)
    assert [c["status"] for c in checks if c["check"] == "permissions"] == ["ok"]


def test_doctor_names_a_file_others_may_read_and_the_fix(farm_env) -> None:
    farm_json(farm_env, "submit", "midi")
    db = Path(farm_env["FARM_HOME"]) / "catalog.db"
    os.chmod(db, 0o644)
    result = farm(farm_env, "doctor", "--json")
    problems = [c for c in json.loads(result.stdout) if c["check"] == "permissions"]
    assert result.returncode == 2 and problems[0]["status"] == "fail"
    assert f"chmod 600 {db}" in problems[0]["detail"]


def _deep_home(farm_env: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A FARM_HOME too long for a socket path: the socket goes to a private folder of the
    user's under XDG_RUNTIME_DIR (here a folder of the test's own)."""
    env = _embedded_env(farm_env, tmp_path)
    env["FARM_HOME"] = str(tmp_path / ("deep" * 30))
    env["FARM_DB_URL"] = f"sqlite:///{tmp_path / 'catalog.db'}"
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    env["XDG_RUNTIME_DIR"] = str(runtime)
    return env, runtime / f"studio-farm-{os.getuid()}"


def test_a_deep_home_keeps_its_socket_in_a_private_folder(farm_env, tmp_path) -> None:
    env, private = _deep_home(farm_env, tmp_path)
    up = FarmUp(env, tmp_path / "up.log")
    try:
        assert _mode(private) == 0o700 and os.lstat(private).st_uid == os.getuid()
        [sock] = list(private.glob("*.sock"))
        assert stat.S_ISSOCK(os.lstat(sock).st_mode)
        job = farm_json(env, "submit", "midi", "-p", "bars=2")["job_id"]
        assert farm_json(env, "wait", job, "--timeout", "60")["state"] == "SUCCEEDED"
    finally:
        _stop(up)


def test_a_socket_folder_of_another_user_is_refused(farm_env, tmp_path) -> None:
    env, private = _deep_home(farm_env, tmp_path)
    private.mkdir(mode=0o777)
    os.chown(private, NOBODY, NOBODY)  # someone else made it first, to listen in
    for args in (["up"], ["submit", "midi"]):
        result = farm(env, *args, timeout=60)
        assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert str(private) in result.stderr, result.stderr
        assert "another user" in result.stderr or "not private" in result.stderr, result.stderr


def test_a_socket_another_user_made_is_refused(farm_env, tmp_path, monkeypatch) -> None:
    env, private = _deep_home(farm_env, tmp_path)
    private.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", env["XDG_RUNTIME_DIR"])
    path = load_settings(home=Path(env["FARM_HOME"])).embedded_socket
    impostor = socket.socket(socket.AF_UNIX)
    impostor.bind(str(path))
    impostor.listen()
    os.chown(path, NOBODY, NOBODY)
    try:
        result = farm(env, "submit", "midi")
        assert result.returncode == 3 and "not a Redis socket of yours" in result.stderr, \
            result.stderr
    finally:
        impostor.close()


def test_farm_up_serves_the_api_and_its_token_stays_out_of_logs_pages_and_command_lines(
        farm_env, tmp_path) -> None:
    import secrets

    import httpx

    from tests.conftest import _free_port

    token = secrets.token_urlsafe(24)
    env = _embedded_env(farm_env, tmp_path)
    port = _free_port()
    env.update({"FARM_UP__API": "true", "FARM_API__TOKEN": token, "FARM_API__PORT": str(port)})
    up = FarmUp(env, tmp_path / "up.log")
    try:
        url = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token}"}
        assert f"API and studio page at {url}/" in up.log.read_text()
        assert httpx.get(f"{url}/jobs", timeout=10).status_code == 401
        job = httpx.post(f"{url}/jobs", json={"kind": "midi", "params": {"bars": 2}}, headers=auth,
                         timeout=10).json()["job_id"]
        assert farm_json(env, "wait", job, "--timeout", "60")["state"] == "SUCCEEDED"
        pages = [httpx.get(f"{url}{path}", headers=auth, timeout=10).text
                 for path in ("/", "/static/studio.js", "/openapi.json", f"/jobs/{job}", "/health")]
        command_lines = [(Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace")
                         for pid in up.group_pids()]
        doctor = farm(env, "doctor", "--json").stdout
    finally:
        _stop(up)
    logs = [f.read_text(errors="replace") for f in (Path(env["FARM_HOME"]) / "logs").glob("*")]
    assert any("GET /jobs" in log for log in logs)  # the API's own log is among them
    for text in [up.log.read_text(), *logs, *pages, *command_lines, doctor]:
        assert token not in text
