# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
# Reading: `make lab` (JupyterLab on nbs/ with the venv as the `dynaguide` kernel), `make docs` (static site in _docs/).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
TORCH = torch==2.14.1 torchvision==0.29.1
export DYNAGUIDE_DATA ?= $(abspath ../shared/data)

.PHONY: demo test install install-dev readme export lab kernel docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.py settings.ini
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev,all]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/dynaguide demo --out results/demo

test: install-dev
	$(BIN)/nbdev_test --n_workers 2
	$(BIN)/pytest -q tests

readme: install-dev
	$(BIN)/jupyter nbconvert --to markdown --TagRemovePreprocessor.remove_cell_tags remove_cell --output-dir . --output README nbs/index.ipynb

export: install-dev
	$(BIN)/nbdev_export

# The venv's Python as a Jupyter kernel named `dynaguide`, registered inside the venv (no file outside the repository).
kernel: install-dev
	$(BIN)/python -m ipykernel install --sys-prefix --name dynaguide --display-name "Python (dynaguide)" >/dev/null

LAB_PORT ?= 8888
LAB_ARGS ?=
lab: kernel   # e.g. `make lab LAB_ARGS=--no-browser` on a machine without a screen
	$(BIN)/jupyter lab --notebook-dir=nbs --port=$(LAB_PORT) --MappingKernelManager.default_kernel_name=dynaguide $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Every notebook of nbs/ and nbs/paper/ as stored (outputs included), the API of each module and the README, as static HTML.
docs: install-dev
	$(BIN)/python tools/build_docs.py --out _docs
