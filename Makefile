# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: venv test test-lanes test-all test-lowest lint demo bench clean conformance

# One .venv for both: `make demo` installs only what the demo runs (the server and workflow extras);
# `make test` (and `make venv`) adds the dev extra. Either order works: each step has its own stamp, and
# the full install stamps the demo's too.
venv: $(VENV)/.installed

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e '.[server,dev,workflow]'
	touch $@ $(VENV)/.demo-installed

$(VENV)/.demo-installed: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e '.[server,workflow]'
	touch $@

lint: venv
	$(VENV)/bin/ruff check .

# The long lanes (pytest markers registered in pyproject.toml): a real SLURM cluster, a real browser
# (both apt-install their packages on a fresh machine) and the cluster-generic simulations. `make test`
# deselects them to fit CI's 20-minute budget on 2 cores and says so at the end of the run (tests/lanes.py);
# `make test-lanes` runs only them, `make test-all` everything.
LANES := slurm browser cluster
empty :=
LANE_EXPR := $(subst $(empty) $(empty), or ,$(LANES))

test: venv lint
	@echo "make test: the lanes $(LANES) are deselected; make test-lanes runs them, make test-all everything."
	$(PY) -m pytest -m "not ($(LANE_EXPR))"

test-lanes: venv
	$(PY) -m pytest -m "$(LANE_EXPR)"

test-all: venv lint
	$(PY) -m pytest

# The lowest Snakemake and plugin interfaces pyproject.toml allows (tests/constraints-lowest.txt), in a
# separate venv, with the plugin and workflow tests (CI runs it as its own lane; ~10 min on 2 cores).
LOWEST_VENV ?= .venv-lowest
LOWEST_TESTS ?= tests/test_plugin_storage.py tests/test_plugin_settings.py tests/test_plugin_offline.py \
	tests/test_plugin_discovery.py tests/test_plugin_workflow.py tests/test_workflow_e2e.py

test-lowest:
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/pip install -q -e '.[server,workflow]' 'pytest>=8' 'pytest-timeout>=2.3' \
		-c tests/constraints-lowest.txt
	$(LOWEST_VENV)/bin/python -c "import snakemake; print('snakemake', snakemake.__version__)"
	$(LOWEST_VENV)/bin/python -m pytest -q $(LOWEST_TESTS)

# Replays the corpus recorded from the real Majora (../shared/majora-conformance) against majora-lite.
conformance: venv
	CONFORMANCE_ONLY="$(ONLY)" $(PY) tests/conformance/replay.py

demo: $(VENV)/.demo-installed
	$(PY) -m snakemake_majora.demo

bench: venv
	$(PY) bench/bench_token.py
	$(PY) bench/bench_plugin.py
	$(PY) bench/bench_workflow.py

clean:
	rm -rf $(VENV) $(LOWEST_VENV) .pytest_cache build dist
