"""``sandbox``: the vendor emulation as a local service, with stable credentials (a seed kept in
its env file), that env file for ``save-blocks``, and HTTP control endpoints (see
``prefect_vendortokens.testing.control``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from cyclopts import Parameter

from .app import EXIT_OK, app, show, show_commands

if TYPE_CHECKING:
    from ..testing.sandbox import VendorSandbox


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
    from ..testing.service import serve

    def announce(server: VendorSandbox, env_file: Path) -> None:
        rows = [
            {"vendor": v, "token_url": server.token_url(v), "api_url": server.api_url(v)}
            for v in server.counts()
        ]
        title = f"Vendor sandbox at {server.base_url}"
        show(rows, ["vendor", "token_url", "api_url"], as_json=False, title=title)
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

    serve(port=port, seed=seed, env_file=env_file, seconds=seconds, announce=announce)
    return EXIT_OK
