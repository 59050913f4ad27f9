# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: venv test lint demo bench clean conformance

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[server,dev,workflow]'
	touch $@

lint: venv
	$(VENV)/bin/ruff check .

test: venv lint
	$(PY) -m pytest

# Replays the corpus recorded from the real Majora (../shared/majora-conformance) against majora-lite.
conformance: venv
	CONFORMANCE_ONLY="$(ONLY)" $(PY) tests/conformance/replay.py

demo: venv
	$(PY) -m snakemake_majora.demo

bench: venv
	$(PY) bench/bench_token.py
	$(PY) bench/bench_plugin.py
	$(PY) bench/bench_workflow.py

clean:
	rm -rf $(VENV) .pytest_cache build dist
