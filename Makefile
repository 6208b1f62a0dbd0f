# Every target sets itself up on a fresh machine: uv is bootstrapped from PyPI into .tools/ when
# it is not on PATH, and the environment is created from the committed lock (uv.lock), so a fresh
# install is exactly the tested one.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?=

.PHONY: setup browser provider demo test test-prefect-min lock-prefect-min typecheck dist docs docs-build \
	faults crash bench bench-scale lint

# uv itself is pinned: the tool that installs the lock is part of what was tested.
.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet "uv==0.13.9"

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
	$(UV) run --locked mypy
	$(MAKE) docs-build
	$(UV) run --locked lint-imports
	$(UV) run --locked pytest --durations=15 $(PYTEST_ARGS)

# The oldest Prefect we allow (3.8.8), from its own pinned resolution (ci/prefect-3.8.8.txt: the
# lock's versions except Prefect and what 3.8.8 needs otherwise), in .venv-prefect-min: the wheel
# installed next to it, the CLI and the UIs. `.ci/run` runs it after `make test`.
PREFECT_MIN := ci/prefect-3.8.8.txt
PREFECT_MIN_TESTS ?= tests/test_install.py tests/test_cli.py tests/browser
test-prefect-min: $(UV) browser provider
	$(UV) venv --quiet --allow-existing --python 3.11 .venv-prefect-min
	$(UV) pip sync --quiet --python .venv-prefect-min/bin/python $(PREFECT_MIN)
	$(UV) pip install --quiet --python .venv-prefect-min/bin/python --no-deps -e .
	.venv-prefect-min/bin/python -c "import prefect; print('Prefect', prefect.__version__)"
	VENDORTOKENS_TEST_RESOLUTION=$(PREFECT_MIN) .venv-prefect-min/bin/python -m pytest \
	  --durations=5 $(PREFECT_MIN_TESTS) $(PYTEST_ARGS)

# Re-resolve ci/prefect-3.8.8.txt after `uv lock`: the lock's pins, but Prefect 3.8.8's own.
lock-prefect-min: $(UV)
	$(UV) export --locked --group dev --no-hashes --no-emit-project --no-header --no-annotate \
	  | grep -vE '^(prefect|fastapi|apprise|python-slugify)==' > .lock-pins.txt
	$(UV) pip compile pyproject.toml --group dev --python-version 3.11 --no-header --no-annotate \
	  -c ci/prefect-3.8.8.in -c .lock-pins.txt -o $(PREFECT_MIN)
	rm -f .lock-pins.txt

typecheck: setup
	$(UV) run --locked mypy

# The sdist and the wheel, checked as PyPI would (twine), and the wheel's contents listed.
dist: setup
	rm -rf dist
	$(UV) build --out-dir dist
	$(UV) run --locked twine check --strict dist/*
	$(UV) run --locked python -m zipfile -l dist/*.whl | grep -E "py.typed|METADATA"

# The documentation site (mkdocs.yml, docs/): --strict fails on a broken link, a missing anchor or
# an API object mkdocstrings cannot find. NO_MKDOCS_2_WARNING silences Material's banner about
# MkDocs 2.0, so the build prints only its own warnings (there are none).
DOCS_ENV := NO_MKDOCS_2_WARNING=1
docs-build: setup
	$(DOCS_ENV) $(UV) run --locked --group docs mkdocs build --strict

# Serves the site on http://127.0.0.1:8000 and rebuilds on every save.
docs: setup
	$(DOCS_ENV) $(UV) run --locked --group docs mkdocs serve -a 127.0.0.1:8000

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

# The rotation flow at scale: accounts x store (Prefect on PostgreSQL, Vault on OpenBao) x case
# (first tokens, all valid, all renewed) and `status`, one table and build/bench-scale.json; then
# many workers and freshness. PostgreSQL is Debian's package (installed when missing; a throwaway
# cluster, a new database per measure). BENCH_ARGS="--accounts 10000 --stores prefect --cases
# first,renewed --skip-workers"; `python -m bench.scale --help` lists the rest.
bench-scale: setup
	$(UV) run --locked python -m bench.scale $(BENCH_ARGS)

lint: setup
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked lint-imports
