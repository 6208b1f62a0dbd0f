"""Run one benchmark step as its own process (as a deployment's flow run is) and measure it from
outside: wall time, CPU time and peak RSS from the kernel's accounting of that one child
(``wait4``), so nothing in the measured process has to report on itself."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "build" / "bench-logs"


class ChildFailed(RuntimeError):
    """The child exited non-zero or overran its bound; the message has its stderr's tail."""

    def __init__(self, message: str, seconds: float = 0.0) -> None:
        super().__init__(message)
        self.seconds = seconds  # how long it ran


@dataclass(frozen=True)
class Finished:
    stdout: str
    seconds: float  # wall time of the whole process, start-up included
    cpu_seconds: float  # user + system of the process
    peak_rss_mb: float  # its high-water mark of resident memory

    def result(self) -> dict[str, Any]:
        """The JSON object on the last line of its output."""
        lines = self.stdout.strip().splitlines()
        if not lines:
            raise ChildFailed("the child printed no result")
        return dict(json.loads(lines[-1]))


def run_module(module: str, *args: str, env: dict[str, str], timeout: float) -> Finished:
    """``python -m module args`` from the checkout (see ``run``)."""
    return run([sys.executable, "-m", module, *args], env=env, timeout=timeout)


def run(argv: list[str], *, env: dict[str, str], timeout: float) -> Finished:
    """Run ``argv`` from the checkout, bounded by ``timeout`` seconds (then killed with its
    process group: a Prefect flow run may have started helpers)."""
    name = " ".join(argv[1:3]) if argv[0] == sys.executable else Path(argv[0]).name
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(  # noqa: S603 - our interpreter and module
            argv,
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        deadline = started + timeout
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    raise ChildFailed(f"{name} overran its {timeout:g} s bound and was killed", timeout)
                time.sleep(0.02)
        except BaseException:  # overran, or the benchmark itself was interrupted
            os.killpg(proc.pid, signal.SIGKILL)
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    LOGS.mkdir(parents=True, exist_ok=True)  # every child's stderr, for a failed check's why
    (LOGS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".stderr")).write_text(stderr)
    if proc.returncode != 0:
        raise ChildFailed(f"{name} exited {proc.returncode}: {stderr[-3000:]}", seconds)
    return Finished(
        stdout=stdout,
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
    )
