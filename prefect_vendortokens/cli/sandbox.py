"""``sandbox``: the vendor emulation as a local service, with stable credentials (a seed kept in
its env file), that env file for ``save-blocks``, and HTTP control endpoints (see
``prefect_vendortokens.testing.control``)."""

from __future__ import annotations

import secrets
import signal
import threading
from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

from .app import EXIT_OK, app, show, show_commands
from .example_blocks import read_env_file

SEED_VARIABLE = "VENDORTOKENS_SANDBOX_SEED"


@app.command(name="sandbox")
def sandbox(
    *,
    port: Annotated[int, Parameter(help="Port on 127.0.0.1; 0 picks a free one.")] = 8765,
    seed: Annotated[str | None, Parameter(help="Seed of the credentials; default: the env file's.")] = None,
    env_file: Annotated[Path, Parameter(help="Where to write the VENDORTOKENS_* values.")] = Path(
        ".vendortokens-sandbox.env"
    ),
    seconds: Annotated[float | None, Parameter(help="Stop after this long (default: Ctrl-C).")] = None,
) -> int:
    """Run the emulation of the five vendors (and OAuth2) on 127.0.0.1 until stopped.

    Writes the emulated client ids and secrets to an env file for `save-blocks --env-file`. The
    same seed gives the same credentials, so saved blocks keep working across restarts. Needs no
    Prefect API.
    """
    from ..testing.sandbox import VendorSandbox

    if seed is None:
        previous = read_env_file(env_file) if env_file.is_file() else {}
        seed = previous.get(SEED_VARIABLE) or secrets.token_urlsafe(16)
    server = VendorSandbox(seed).start(port)
    lines = [f"{SEED_VARIABLE}={seed}", *(f"{k}={v}" for k, v in server.env().items())]
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)  # it holds the emulated client secrets
    rows = [
        {"vendor": v, "token_url": server.token_url(v), "api_url": server.api_url(v)} for v in server.counts()
    ]
    show(
        rows, ["vendor", "token_url", "api_url"], as_json=False, title=f"Vendor sandbox at {server.base_url}"
    )
    show_commands(
        [
            (
                f"Credentials in {env_file}; save a block per vendor with",
                f"prefect-vendortokens save-blocks --env-file {env_file}",
            ),
            (
                "Controls",
                f"{server.base_url}/_control/{{revoke,fail,fail-api,delay,lifetime,reset,counts}}",
            ),
        ]
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK
