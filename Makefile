# Every target sets itself up on a fresh machine: uv is bootstrapped from PyPI into .tools/ when
# it is not on PATH, and the environment is created from the committed lock (uv.lock), so a fresh
# install is exactly the tested one.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?=

.PHONY: setup browser provider demo test faults crash bench bench-scale lint

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet "uv>=0.5,<1"

setup: $(UV)
	$(UV) sync --locked

demo: setup
	$(UV) run --locked python flows/demo.py

# The UI tests drive the real Prefect UI in Debian's Chromium (Playwright's own browser download
# cannot work here); installed when missing (CI runs as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The interop tests' third-party OAuth server (panva/oidc-provider), from its committed lock.
provider:
	@test -d tests/interop/provider/node_modules/oidc-provider || \
	  npm ci --prefix tests/interop/provider --no-audit --no-fund

test: setup browser provider
	$(UV) run --locked ruff check .
	$(UV) run --locked pytest --durations=15 $(PYTEST_ARGS)

# The fault matrix (also part of make test), printed as a table: fault, error, seconds, leaks.
faults: setup
	$(UV) run --locked python tests/faults/report.py

# The crash matrix (also part of make test): a worker SIGKILLed at each step of a refresh, on
# both stores, with and without a vendor reuse grace; the table of docs/crash-safety.md.
crash: setup
	$(UV) run --locked python tests/crash/report.py

# Ours against authlib and httpx-auth (the lock's bench group), a table and build/bench.json.
bench: setup
	$(UV) sync --locked --group bench
	$(UV) run --locked --group bench python -m bench.run $(BENCH_ARGS)

# The rotation flow and many workers on a Prefect server backed by PostgreSQL (Debian's package,
# installed when missing; started and removed by the benchmark). BENCH_ARGS="--accounts 10,100 --batch-size 1".
bench-scale: setup
	$(UV) run --locked python -m bench.scale $(BENCH_ARGS)

lint: setup
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
