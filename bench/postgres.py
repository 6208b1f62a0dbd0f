"""A throwaway PostgreSQL for the scale benchmark: Debian's ``postgresql`` package (installed when
missing; the benchmark runs as root), data in a temp dir, on 127.0.0.1, stopped and deleted at
the end. Prefect talks to it with asyncpg, as a production server would."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from prefect_vendortokens.testing.openbao import free_port


def _bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        subprocess.run(["apt-get", "update", "-qq"], check=True)  # noqa: S607
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True)  # noqa: S607
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent


def _as_postgres(*cmd: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=120)  # noqa: S603, S607


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """Yields an asyncpg connection URL for a fresh database ``prefect``."""
    bin_dir = _bin()
    data = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    shutil.chown(data, "postgres", "postgres")
    os.chmod(data, 0o700)
    port = free_port()
    _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -h 127.0.0.1 -k {data} -c max_connections=300"
    _as_postgres(
        str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "log"), "-w", "start"
    )
    try:
        _as_postgres(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "prefect")
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)
