# Serving Patterns Lab — two commands on a fresh machine:
#   make serve   create .venv, install, build the site (lesson + executed notebooks + offline
#                JupyterLite) and serve it on http://127.0.0.1:8000
#   make test    create .venv if needed, install, run the whole test suite
#   make lab     create .venv if needed, install, run JupyterLab on 127.0.0.1 over notebooks/
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
LAB_PORT ?= 8888
# jupyter refuses to run as root without --allow-root: pass it only when running as root
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: serve test site demo install system-deps clean benchmarks lab bench-venvs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

# Outside tools in their own venvs under .cache/bench-venvs (pinned, installed once, reused):
# aiperf for tests/servers/test_llm_outside.py and benchmarks/bench_outside_llm.py (about 3 min
# on a fresh machine, seconds when cached).
AIPERF_VENV := .cache/bench-venvs/aiperf/.bench-pins.json
$(AIPERF_VENV): lesson/loadtest/outside/aiperf.py | $(STAMP)
	$(BIN)/python -c "from lesson.loadtest.outside.aiperf import ensure_venv; print(ensure_venv())"

bench-venvs: $(AIPERF_VENV)

# Debian packages the tests need: chromium (browser tests), redis-server (the streaming broker),
# prometheus (scrapes the servers in tests/servers/test_observe.py),
# wrk and h2load (benchmarks).
system-deps:
	bash scripts/install-system-deps.sh

# `make test` builds JupyterLite while the notebooks execute (--overlap-lite, ~45 s sooner);
# `make site` / `make serve` one after the other, so the notebooks measure an idle machine.
SITE_ARGS ?=
site: install system-deps
	$(BIN)/python tools/build_site.py $(SITE_ARGS)

serve: site
	@echo "Serving the lesson site on http://127.0.0.1:$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory site

# A local Jupyter: the notebooks start the real REST and gRPC servers on 127.0.0.1. No browser
# is opened; jupyter prints the address (with its token) to open. Ctrl-C to stop.
lab: install
	$(BIN)/jupyter lab --no-browser --ip=127.0.0.1 --port=$(LAB_PORT) \
		--ServerApp.root_dir=notebooks $(ALLOW_ROOT)

demo: install
	$(BIN)/python -m lesson

test: SITE_ARGS = --overlap-lite
test: install system-deps site bench-venvs
	$(BIN)/python -m pytest --nbmake --nbmake-timeout=300 --durations=20 notebooks tests

benchmarks: install system-deps bench-venvs
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf site _build .cache build dist *.egg-info test-artifacts
