"""A throwaway PostgreSQL for the benchmarks: Debian's ``postgresql`` package (installed when
missing; the benchmark runs as root), data in a temp dir, on 127.0.0.1, stopped and deleted at
the end. Prefect talks to it with asyncpg, as a production server would. One cluster, a fresh
database per measure (``Postgres.database``), so every measure starts from an empty server."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Postgres:
    bin_dir: Path
    port: int

    def _client(self, tool: str, *args: str) -> None:
        _as_postgres(str(self.bin_dir / tool), "-h", "127.0.0.1", "-p", str(self.port), *args)

    @contextlib.contextmanager
    def database(self, name: str) -> Iterator[str]:
        """A new database ``name`` for the ``with`` block (dropped after); yields its asyncpg URL."""
        self._client("createdb", name)
        try:
            yield f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"
        finally:
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self._client("dropdb", "--force", name)


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A running cluster for the ``with`` block; stopped and its data deleted after."""
    bin_dir = _bin()
    data = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    shutil.chown(data, "postgres", "postgres")
    os.chmod(data, 0o700)
    port = free_port()
    _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -h 127.0.0.1 -k {data} -c max_connections=300"
    try:
        _as_postgres(
            str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "log"), "-w", "start"
        )
        yield Postgres(bin_dir, port)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)
