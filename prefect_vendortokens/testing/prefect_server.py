"""A real ``prefect server start`` on 127.0.0.1 for tests and benchmarks that need what a user
runs (the UI, workers, other processes), not the in-process test harness."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from .openbao import free_port

STARTUP_TIMEOUT = 150.0  # healthy in 20-45 s on a 2-core machine


@contextlib.contextmanager
def prefect_server(
    env: Mapping[str, str],
    *,
    prefect: str | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    port: int | None = None,
) -> Iterator[tuple[str, dict[str, str]]]:
    """Start the server with ``env`` (give it a throwaway ``PREFECT_HOME``); yields its API URL
    and ``env`` plus ``PREFECT_API_URL``/``PREFECT_UI_API_URL`` for the processes that use it.
    The whole process group is stopped at the end. The same ``env`` and ``port`` again start it
    again on the same database (a restart, as its clients see it); ``log`` is appended to."""
    port = port or free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**env, "PREFECT_API_URL": api, "PREFECT_UI_API_URL": api}  # the UI needs it off 4200
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    command = [prefect or str(Path(sys.executable).parent / "prefect"), "server", "start"]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    server = subprocess.Popen(  # noqa: S603 - the prefect CLI of the environment under test
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text()[-3000:] if log else ""
                raise RuntimeError(f"prefect server start did not become healthy: {tail}")
            time.sleep(0.5)
        yield api, env
    finally:
        stop_group(server)
        if log:
            out.close()  # type: ignore[union-attr]


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started with ``start_new_session=True`` and everything it started."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
