# Two entry points (see README): `make app` launches the web UI, `make test` runs the whole test suite.
# Both create or reuse .venv/ and install torch from the local wheel cache plus the project (editable).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.normlab-installed

.PHONY: app test install bench mutate clean-venv gpu-bundle gpu-dry-run

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned resolve would pull a multi-GB CUDA build from PyPI.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# exec + NORMLAB_EXIT_WITH_PARENT: the server is make's own child and stops when make is stopped
app: $(STAMP)
	exec env NORMLAB_EXIT_WITH_PARENT=1 GRADIO_ANALYTICS_ENABLED=False $(PY) -m app

PY_SOURCES := app models norms tests tools train.py
# test workers (pytest-xdist): one per core, at most 4 (each holds torch, Gradio and its own fixtures in memory)
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(min(4, os.cpu_count() or 1))")

# lint and format checks first (seconds), then the suite
test: $(STAMP)
	$(VENV)/bin/ruff check $(PY_SOURCES)
	$(VENV)/bin/ruff format --check $(PY_SOURCES)
	GRADIO_ANALYTICS_ENABLED=False $(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

bench: $(STAMP)
	$(PY) -m norms.bench
	$(PY) -m models.bench adain
	$(PY) -m models.bench spade

# mutation testing of the critical modules ([tool.mutmut] in pyproject.toml); scores go to docs/testing.md
mutate: $(STAMP)
	$(PY) -m tools.mutate

clean-venv:
	rm -rf $(VENV)

# The GPU run (README, "Training on a GPU"): pack the images + wheels a bare GPU machine lacks, then carry them.
gpu-bundle: $(STAMP)
	test -d data/full || $(VENV)/bin/normlab data build --out data/full
	$(PY) -m models.gpu_run bundle --data data/full --out gpu_bundle

gpu-dry-run: $(STAMP)
	$(PY) -m models.gpu_run run --dry-run --minutes 2 --out runs/gpu_dry_run
