# Everything runs in a project-local virtualenv that these targets create and fill.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-stamp
PKGS := -p roamsync.peer -p roamsync.schema -p roamsync.transport

.PHONY: test lint typecheck unit demo bench install clean notebook fuzz

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools>=69" wheel
	$(BIN)/pip install -q ".[test]"
	touch $(STAMP)

# Reinstall the package itself (not its dependencies) so tests and mypy see the current code.
install: $(STAMP)
	$(BIN)/pip install -q --no-deps --no-build-isolation --force-reinstall .
	rm -rf build

lint: install
	$(BIN)/ruff check peer schema transport tests demo bench
	$(BIN)/ruff format --check peer schema transport tests demo bench

typecheck: install
	$(BIN)/mypy $(PKGS)
	$(BIN)/mypy tests bench demo

# The browser tests (tests/browser) drive Debian's Chromium through Playwright: installed
# here when missing (as root, else with sudo). Playwright's own browser download is not used.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: browser
browser:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

# Two workers on two cores; tests of one xdist_group (zeroconf, timing-sensitive daemons)
# run on one worker, one after the other. The long runs (marker `long`) are not in it.
unit: install browser
	$(BIN)/pytest -n auto --dist loadgroup

test: lint typecheck unit

demo: install
	$(BIN)/python demo/run_demo.py

# The README's pictures of the web pages (demo/screenshots/), in Debian's Chromium.
.PHONY: screenshots
screenshots: install browser
	$(BIN)/python demo/screenshots.py

# Benchmarks (bench/, BENCHMARKS.md): N records, default 100000; writes bench/results.json.
bench: install
	$(BIN)/pip install -q ".[bench]"
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info

# Execute demo/convergence.ipynb in place (outputs kept) and write demo/divergence.png.
notebook: install
	$(BIN)/python demo/run_notebook.py

# The long reliability runs (tests/long, marker `long`; RELIABILITY.md). Seeds are fixed
# (20261202) and printed; ROAMSYNC_*_SEED=N draws another.
# kill -9 trials: 200 by default (ROAMSYNC_KILL_TRIALS=N, ROAMSYNC_KILL_SEED=S).
.PHONY: durability chaos load long
durability: install
	$(BIN)/pytest -m long tests/long/test_durability_long.py -s -q

# The long fuzzing run (bench/fuzz.py, RELIABILITY.md): 2M frames through the wire decoder,
# 2M updates through apply_remote, 200k frames through sessions, on 2 worker processes.
# FUZZ_ARGS="--seed 7 --apply 200000" to change it; ends with a FUZZ-RESULT {json} line.
# (tests/long/test_fuzz_long.py runs the same as a test: ROAMSYNC_FUZZ_ARGS.)
fuzz: install
	$(BIN)/python bench/fuzz.py $(FUZZ_ARGS)

# Chaos: 5 daemons under random edits, SIGKILLs, partitions and a skewed clock,
# ROAMSYNC_CHAOS_ROUNDS rounds (3) of ROAMSYNC_CHAOS_SECONDS (300), then `make load`.
# Load: 10 daemons writing for 60 s after a 20 s warm-up (ROAMSYNC_LOAD_*).
chaos: install
	$(BIN)/pytest -m long tests/long/test_chaos_long.py -s -p no:cacheprovider
	$(MAKE) -s load

load: install
	$(BIN)/pytest -m long tests/long/test_load_long.py -s -p no:cacheprovider

# Every long run, one after the other (hours).
long: install
	$(BIN)/pytest -m long tests/long -s -p no:cacheprovider
