# Run `make help` for the list. Everything is set up on first use and reused afterwards.
PYTHON ?= python3.12
VENV   := .venv
PY     := $(VENV)/bin/python
ZENML  := $(VENV)/bin/zenml
CONFIG ?= configs/training.yaml
# The docs site's builder (requirements-docs.lock), kept off the runtime packages' path: only
# `make docs` and the docs tests put it on PYTHONPATH.
DOCS_PACKAGES := $(VENV)/docs-packages
# The docs site's port: the local model server takes 8000.
DOCS_PORT ?= 8001
# The monitoring history's Evidently UI (history.path of configs/monitoring.yaml).
MONITORING_UI_PORT ?= 8002
MONITORING_HISTORY ?= data/monitoring_history
# Tests run on TEST_WORKERS processes (pytest-xdist), each test file whole on one of them: the
# tests of an integration module share its pipeline runs and servers. Files are handed out in
# collection order, tests/integration (the long ones) first, so the short unit files even out the
# end. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 --junitxml=test-artifacts/junit.xml

export ZENML_ANALYTICS_OPT_IN := false
export ZENML_ENABLE_RICH_TRACEBACK := false
export AUTO_OPEN_DASHBOARD := false

.DEFAULT_GOAL := help
.PHONY: help install init stack run serve drift-data monitor monitoring-ui notebooks test test-unit test-integration lint lock docs dashboard clean bench bench-drift bench-request-log bench-shadow score bench-batch bench-draft bench-scale bench-serving wrk bench-estimate bench-ingest install-docs docs-images

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.12 (seldon-core 1.19 needs it)"; exit 1; }
	@# --clear: a changed lock gets a fresh venv, with nothing left over from the old one
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-deps -r requirements.lock
	$(PY) -m pip check
	touch $@

install: $(VENV)/.installed ## Create .venv with Python 3.12 and the locked requirements

$(DOCS_PACKAGES)/.installed: requirements-docs.lock $(VENV)/.installed
	rm -rf $(DOCS_PACKAGES)
	$(PY) -m pip install --quiet --no-deps --target $(DOCS_PACKAGES) -r requirements-docs.lock
	PYTHONPATH=$(DOCS_PACKAGES) $(PY) -m pip check
	touch $@

install-docs: $(DOCS_PACKAGES)/.installed ## Install the docs site's builder into .venv/docs-packages

.zen: | $(VENV)/.installed
	$(ZENML) init

init: .zen ## Make this folder a ZenML repository (local store in ~/.config/zenml)

stack: init ## Register (idempotently) and activate the `local` stack
	$(PY) run.py stack local

run: stack ## Train on the bundled data with configs/training.yaml (CONFIG=... to change)
	$(PY) run.py --config $(CONFIG)

test: install install-docs ## Run the whole test suite (unit + integration) on TEST_WORKERS=2 processes
	$(PYTEST)

test-unit: install ## Only the fast unit tests
	$(PYTEST) tests/unit

test-integration: install ## Only the pipeline tests against a throwaway ZenML store
	$(PYTEST) tests/integration

docs-images: install ## Retake the docs' screenshots (dashboard, monitoring history) into docs/images/
	UPDATE_DOCS_IMAGES=1 $(PYTEST) tests/integration/test_dashboard.py tests/integration/test_monitoring_history.py

lint: install ## ruff
	$(VENV)/bin/ruff check .

docs: install-docs ## Serve the documentation site (docs/, mkdocs.yml) on http://127.0.0.1:8001 (DOCS_PORT=...)
	PYTHONPATH=$(DOCS_PACKAGES) NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve -a 127.0.0.1:$(DOCS_PORT)

lock: install ## Re-resolve requirements.txt into requirements.lock, requirements-docs.txt into requirements-docs.lock
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip freeze --exclude-editable > requirements.lock
	@# pip freeze never lists argparse (it takes it for the stdlib module), but aws-profile-manager
	@# needs the PyPI distribution and `pip check` checks it: add its pin back, in order.
	$(PY) -c "from importlib.metadata import version; from pathlib import Path; p = Path('requirements.lock'); \
		pins = set(p.read_text().split()) | {'argparse==' + version('argparse')}; \
		p.write_text(''.join(pin + chr(10) for pin in sorted(pins, key=lambda pin: pin.split('==')[0].lower())))"
	@# The docs lock: what the builder adds to the runtime set (pip's report of a dry run over it).
	$(PY) -m pip install --quiet --dry-run --ignore-installed --report $(VENV)/docs-report.json -r requirements-docs.txt -c requirements.lock
	$(PY) -c "import json; from pathlib import Path; \
		runtime = {line.split('==')[0].lower().replace('_', '-') for line in Path('requirements.lock').read_text().split()}; \
		report = json.loads(Path('$(VENV)/docs-report.json').read_text())['install']; \
		pins = sorted(((i['metadata']['name'], i['metadata']['version']) for i in report), key=lambda pin: pin[0].lower()); \
		Path('requirements-docs.lock').write_text(''.join(f'{n}=={v}' + chr(10) for n, v in pins if n.lower().replace('_', '-') not in runtime))"

serve: stack ## Serve the production version again after a crash or a reboot (no promotion)
	$(PY) run.py serve

drift-data: install ## Write a held-out slice and a drifted copy of the bundled data to data/drift/
	$(PY) -m scripts.simulate_drift --input data/raw/telco_churn.csv --out-dir data/drift --seed 7

monitor: stack ## Run the monitoring job once (CURRENT=path to compare; exit 3 on an alert)
	$(PY) run.py --config configs/monitoring.yaml $(if $(CURRENT),parameters.current.path=$(CURRENT))

monitoring-ui: install ## Start Evidently's UI on the monitoring history, http://127.0.0.1:$(MONITORING_UI_PORT)
	$(VENV)/bin/evidently ui --workspace $(MONITORING_HISTORY)/evidently --host 127.0.0.1 --port $(MONITORING_UI_PORT)

score: stack ## Batch-score with the production model version (configs/inference.yaml; SOURCE=path to score)
	$(PY) run.py --config configs/inference.yaml $(if $(SOURCE),parameters.source.path=$(SOURCE))

notebooks: install ## Execute notebooks/ headless into notebooks/executed/ (the second needs a training run: make run)
	$(PY) notebooks/execute.py

dashboard: stack ## Start the local ZenML dashboard on http://127.0.0.1:8237
	$(ZENML) login --local

bench: bench-drift bench-request-log bench-shadow bench-serving bench-batch bench-draft bench-estimate bench-scale bench-ingest ## Run every benchmark in bench/ (results in bench/results/)

bench-drift: install ## Monitoring drift check vs Evidently's DataDriftPreset on 1M rows
	$(PY) -m bench.drift --rows 1000000

bench-estimate: install ## Estimated vs realized ROC AUC / RMSE on 20 batches of 5,000 rows with growing covariate shift
	$(PY) -m bench.estimate

bench-batch: install ## Batch scoring: chunked path vs in-memory predict_proba on 1M rows; memory on 5M rows
	$(PY) -m bench.batch_scoring

bench-draft: install ## A config drafted by run.py draft-config vs configs/training.yaml: holdout ROC AUC on Telco
	$(PY) -m bench.drafted_config

bench-scale: install ## Training on 100k, 300k and 1M rows (BENCH_SCALE_ARGS=--ten-million adds 10M) vs a plain scikit-learn script
	$(PY) -m bench.scale --rows 100000 300000 1000000 --exhaustive-at 300000 $(BENCH_SCALE_ARGS)

wrk:
	@command -v wrk >/dev/null || { echo "wrk is missing: installing it with apt-get"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get install -y wrk || { $$sudo apt-get update && $$sudo apt-get install -y wrk; }; }

bench-ingest: install ## Peak memory of loading, cleaning, checking and splitting a 1M-row CSV (table on stdout)
	$(PY) -m bench.ingest_memory --rows 1000000

bench-request-log: install wrk ## Serving throughput/latency with the request log off vs on (wrk, installed if missing)
	$(PY) -m bench.request_log

bench-shadow: install wrk ## Production's serving latency with and without a challenger in shadow (wrk)
	$(PY) -m bench.shadow

bench-serving: install wrk ## Single-row serving of 3 models vs mlflow models serve, a no-op app (HTTP floor), in process; the explain route
	$(PY) -m bench.serving
	$(PY) -m bench.explain

clean: ## Remove the venv and generated state (not the ZenML store in ~/.config/zenml)
	rm -rf $(VENV) .zen .pytest_cache .ruff_cache
