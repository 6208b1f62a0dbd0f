"""A real `prefect server start` and its two UIs in Debian's Chromium, for the tests that do
what a person does in the Prefect UI (clicks and typing, never API posts).

The server runs with its own throwaway PREFECT_HOME, apart from the session test server of
``tests/conftest.py``; Python-side checks run in subprocesses pointed at it (``UIServer.run``),
so the test process's own Prefect settings are never switched around.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from prefect_vendortokens.testing.prefect_server import prefect_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"  # Debian's package: Playwright's own download cannot work here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("VENDORTOKENS_UI_SCREENSHOTS", ROOT / "build" / "ui-screenshots"))


@dataclass
class UIServer:
    url: str
    env: dict[str, str]
    log: Path

    def run(self, *args: str, timeout: float = 180) -> dict:
        """``tests/browser/use_blocks.py ARGS`` against this server; its last line as JSON."""
        result = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(ROOT / "tests/browser/use_blocks.py"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def ui_server() -> Iterator[UIServer]:
    home = Path(tempfile.mkdtemp(prefix="pvt-ui-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    log = home / "server.log"
    with prefect_server(env, log=log) as (api, env):
        register = subprocess.run(  # noqa: S603
            [str(Path(sys.executable).parent / "prefect"), "block", "register", "-m", "prefect_vendortokens"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert register.returncode == 0, register.stdout + register.stderr
        yield UIServer(url=api.removesuffix("/api"), env=env, log=log)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped on purpose: Playwright's sync API keeps an event loop running in the main
    thread while it is open, which would turn every later test's sync calls async."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        folder = SHOTS / request.node.name
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / "failure.png"), full_page=True)
    context.close()


@pytest.fixture
def shots(request) -> Path:
    """The folder this test's screenshots go to (``build/ui-screenshots/<test>/``)."""
    folder = SHOTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
