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

unit: install
	$(BIN)/pytest

test: lint typecheck unit

demo: install
	$(BIN)/python demo/run_demo.py

# Benchmarks (bench/, BENCHMARKS.md): N records, default 100000; writes bench/results.json.
bench: install
	$(BIN)/pip install -q ".[bench]"
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info

# Execute demo/convergence.ipynb in place (outputs kept) and write demo/divergence.png.
notebook: install
	$(BIN)/python demo/run_notebook.py

# kill -9 trials (tests/killtrials.py): 200 by default (ROAMSYNC_KILL_TRIALS=N, ROAMSYNC_KILL_SEED=S).
.PHONY: durability
durability: install
	ROAMSYNC_KILL_TRIALS=$${ROAMSYNC_KILL_TRIALS:-200} $(BIN)/pytest tests/test_durability.py -s -q --timeout 3600

# The long fuzzing run (bench/fuzz.py, RELIABILITY.md): 2M frames through the wire decoder,
# 2M updates through apply_remote, 200k frames through sessions, on 2 worker processes.
# FUZZ_ARGS="--seed 7 --apply 200000" to change it; ends with a FUZZ-RESULT {json} line.
fuzz: install
	$(BIN)/python bench/fuzz.py $(FUZZ_ARGS)

# Long reliability runs (RELIABILITY.md). Chaos: 5 daemons under random edits, SIGKILLs,
# partitions and a skewed clock, ROAMSYNC_CHAOS_ROUNDS seeds of ROAMSYNC_CHAOS_SECONDS each
# (ROAMSYNC_CHAOS_SEED=N replays a schedule). Load: 10 daemons writing for 60 s.
.PHONY: chaos load
chaos: install
	ROAMSYNC_CHAOS_SECONDS=$${ROAMSYNC_CHAOS_SECONDS:-300} \
	ROAMSYNC_CHAOS_ROUNDS=$${ROAMSYNC_CHAOS_ROUNDS:-3} \
		$(BIN)/pytest tests/test_chaos.py::test_chaos -s -p no:cacheprovider
	$(MAKE) -s load

load: install
	ROAMSYNC_LOAD_PEERS=$${ROAMSYNC_LOAD_PEERS:-10} \
	ROAMSYNC_LOAD_SECONDS=$${ROAMSYNC_LOAD_SECONDS:-60} \
	ROAMSYNC_LOAD_WARMUP=$${ROAMSYNC_LOAD_WARMUP:-20} \
		$(BIN)/pytest tests/test_load.py -s -p no:cacheprovider
