# vadbench — developer entry points. `make install demo` then `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
VB     := $(VENV)/bin/vadbench
RESULTS ?= runs/ci-results.csv

.PHONY: install demo test test-all realdata bench lint leaderboard regress clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The main job on the embedded synthetic dataset (generated on first use into the cache).
demo: install
	$(VB) run --method vadclip --dataset synthetic --preset small

# Unit, conformance and learning tests (no benchmarks, nothing slow), then the AUC regression gate.
test: install
	$(PY) -m pytest -m "not slow and not bench" -q
	$(MAKE) --no-print-directory regress

# The AUC regression gate: re-run every baseline row's run (method, dataset, preset, seed, protocol read from
# leaderboards/baselines.csv) and compare with it.
regress: install
	rm -f $(RESULTS)
	$(VB) regress --rerun --results $(RESULTS) --baseline leaderboards/baselines.csv --no-allow-empty

test-all: install
	$(PY) -m pytest -q

realdata: install
	$(PY) -m pytest -m realdata -q

bench: install
	$(PY) -m pytest -m bench --benchmark-enable --benchmark-columns=min,mean,max,rounds -q -s

lint: install
	$(VENV)/bin/ruff check vadbench tests

leaderboard: install
	$(VB) leaderboard --format md --update-readme README.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .benchmarks runs
