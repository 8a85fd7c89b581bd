# Two commands on a fresh machine: `make demo` makes music, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint clean system-packages

# Debian packages the tests need: fluidsynth and a General MIDI soundfont for the WAV preview,
# PostgreSQL's server binaries (the tests start a throwaway cluster when none answers), and
# chromium, which the browser tests drive headless (no browser is ever downloaded).
APT_PACKAGES := fluidsynth fluid-soundfont-gm postgresql chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.core
	$(BIN)/farm demo

system-packages:
	@if command -v fluidsynth >/dev/null && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] \
	    && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q $(APT_PACKAGES); \
	elif command -v sudo >/dev/null; then sudo apt-get update -q && sudo apt-get install -y -q $(APT_PACKAGES); \
	else echo "make: cannot install $(APT_PACKAGES) without root; the preview and PostgreSQL tests may be skipped"; fi

test: system-packages $(VENV)/.dev
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev
	$(BIN)/ruff check jobs workers pipelines storage tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV)
