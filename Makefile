# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
TORCH = torch==2.14.1 torchvision==0.29.1
export DYNAGUIDE_DATA ?= $(abspath ../shared/data)

.PHONY: demo test install install-dev readme export

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
