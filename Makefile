# Every target sets itself up on a fresh machine: uv is bootstrapped from PyPI into .tools/ when
# it is not on PATH, and the environment is created from the committed lock (uv.lock), so a fresh
# install is exactly the tested one.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?=

.PHONY: setup demo test lint bench

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet "uv>=0.5,<1"

setup: $(UV)
	$(UV) sync --locked

demo: setup
	$(UV) run --locked python flows/demo.py

test: setup
	$(UV) run --locked ruff check .
	$(UV) run --locked pytest $(PYTEST_ARGS)

lint: setup
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
