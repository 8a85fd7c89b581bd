"""The studio page in Debian's chromium (headless, over the DevTools protocol): the token entered
once, an intent rendered with a cover and a texture on real workers (tiny diffusion models, the
MIDI preview through fluidsynth), the graph followed live, and the results played and shown.
The screenshot lands in tests/artifacts/."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator

import pytest

from tests.api_server import ApiProcess
from tests.browser import Browser

TOKEN = secrets.token_urlsafe(24)
INTENT = "a calm lofi groove at 80 bpm, 2 bars"


@pytest.fixture
def studio(diffusion_env: dict[str, str], start_worker) -> Iterator[ApiProcess]:
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed (make test installs it)")
    diffusion_env.update({"FARM_API__TOKEN": TOKEN, "FARM_MIDI__PREVIEW": "true"})
    start_worker(tags="llm,midi")
    start_worker(tags="image,audio")
    server = ApiProcess(diffusion_env, token=TOKEN)
    yield server
    server.stop()


def _type(browser: Browser, element: str, value: str) -> None:
    browser.evaluate(f"(() => {{ const e = document.getElementById({json.dumps(element)});"
                     f" e.value = {json.dumps(value)}; e.dispatchEvent(new Event('change')); }})()")


def test_the_studio_page_renders_follows_plays_and_shows(studio, tmp_path) -> None:
    browser = Browser(tmp_path / "chromium")
    try:
        browser.open(studio.url + "/")
        _type(browser, "token", TOKEN)
        _type(browser, "project", "browser")
        _type(browser, "intent", INTENT)
        browser.evaluate("document.getElementById('images').checked = true;"
                         "document.getElementById('texture').checked = true;"
                         "document.getElementById('render').click()")
        nodes = browser.wait_for("document.querySelectorAll('#graph li').length")
        assert nodes == 4, browser.evaluate("document.getElementById('error').textContent")
        browser.wait_for("document.getElementById('live').className === 'on'")
        played = ("(() => { const ok = (id) => document.getElementById(id);"
                  " return ok('texture-audio').duration > 0 && ok('preview').duration > 0"
                  " && ok('cover').naturalWidth > 0 && ok('pianoroll').naturalWidth > 0; })()")
        browser.wait_for(played, timeout_s=300)
        states = browser.evaluate("[...document.querySelectorAll('#graph li')]"
                                  ".map(li => li.dataset.node + ':' + li.dataset.state)")
        assert sorted(states) == ["audio:SUCCEEDED", "image:SUCCEEDED", "intent:SUCCEEDED",
                                  "midi:SUCCEEDED"]
        assert browser.evaluate("document.getElementById('downloads').children.length") >= 8
        shot = browser.screenshot("studio-page.png")
        assert shot.stat().st_size > 10_000
        # The token was entered once: the page opened again finds it, and the history.
        browser.open(studio.url + "/")
        assert browser.evaluate("localStorage.getItem('farm.token')") == TOKEN
        history = browser.wait_for("document.getElementById('history').textContent")
        assert INTENT in history
    finally:
        browser.close()
