"""The sandbox as a local service: stable credentials (a seed kept in its env file), that env
file for ``save-blocks``, and a run until stopped. ``prefect-vendortokens sandbox`` and
``python -m prefect_vendortokens.testing`` both run it; each prints its own summary."""

from __future__ import annotations

import secrets
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from .sandbox import VendorSandbox

SEED_VARIABLE = "VENDORTOKENS_SANDBOX_SEED"
DEFAULT_ENV_FILE = Path(".vendortokens-sandbox.env")


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments and blank lines ignored)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def serve(
    *,
    port: int = 8765,
    seed: str | None = None,
    env_file: Path = DEFAULT_ENV_FILE,
    seconds: float | None = None,
    announce: Callable[[VendorSandbox, Path], None] = lambda sandbox, env_file: None,
) -> None:
    """Run the emulation on 127.0.0.1 until SIGTERM, Ctrl-C or ``seconds``; the seed defaults to
    the env file's, so blocks saved against it keep working across restarts."""
    if seed is None:
        previous = read_env_file(env_file) if env_file.is_file() else {}
        seed = previous.get(SEED_VARIABLE) or secrets.token_urlsafe(16)
    server = VendorSandbox(seed).start(port)
    lines = [f"{SEED_VARIABLE}={seed}", *(f"{k}={v}" for k, v in server.env().items())]
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)  # it holds the emulated client secrets
    announce(server, env_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
