"""``save-blocks``: one Vendor Credentials block per vendor from the example documents (the same
as the repository's ``blocks/*.json``), secrets from ``VENDORTOKENS_<VENDOR>_*`` variables or an
env file (``prefect-vendortokens sandbox`` writes one); the real environment wins over the file,
as dotenv tools do. A skipped vendor is told exactly which variable it needs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from cyclopts import Parameter

from ..testing.service import read_env_file
from .app import EXIT_BLOCK, EXIT_OK, JsonFlag, app, fail, show
from .prefect_api import Stop, prefect_api

# Secrets never live here: they come from the environment at save time.
EXAMPLE_BLOCKS: dict[str, dict[str, Any]] = {
    "sqod": {
        "name": "sqod",
        "vendor": "sqod",
        "token_url": "https://auth.app.sqod.co.uk/oauth2/token",
        "token_store": {"kind": "prefect"},
    },
    "cobee": {
        "name": "cobee",
        "vendor": "cobee",
        "token_url": "https://partners-api.cobee.io/api/v3/oauth/token",
        "token_store": {"kind": "prefect"},
        "vault_secret": {"path": "vendors/cobee", "mount": "secret"},
    },
    "slashid": {
        "name": "slashid",
        "vendor": "slashid",
        "token_url": "https://api.slashid.com/oauth2/tokens",
        "scopes": ["openid", "offline_access"],
        "token_store": {"kind": "prefect"},
    },
    "sqr": {
        "name": "sqr",
        "vendor": "sqr",
        "token_url": "https://api.sqr-group.com/v1/oauth/token",
        "token_store": {"kind": "prefect"},
    },
    "resales_online": {
        "name": "resales-online",
        "vendor": "resales_online",
        "token_url": "https://api.propq.com/oauth/token",
        "token_store": {"kind": "prefect"},
    },
}
VAULT_BLOCK_VARIABLE = "VENDORTOKENS_VAULT_BLOCK"


def document_for(vendor: str, env: dict[str, str], prefix: str = "") -> tuple[dict[str, Any] | None, str]:
    """The block document for ``vendor`` with its secrets filled in, or None and what is missing.
    Inline id and secret win; a document with a Vault path falls back to the Vault block."""
    data = {k: v for k, v in EXAMPLE_BLOCKS[vendor].items() if k != "name"}
    var = f"VENDORTOKENS_{vendor.upper()}"
    if url := env.get(f"{var}_TOKEN_URL"):
        data["token_url"] = url
    client_id, secret = env.get(f"{var}_CLIENT_ID"), env.get(f"{var}_CLIENT_SECRET")
    vault_secret = data.pop("vault_secret", None)
    if client_id and secret:
        return data | {"client_id": client_id, "client_secret": secret}, ""
    needs = " and ".join(
        v for v, present in ((f"{var}_CLIENT_ID", client_id), (f"{var}_CLIENT_SECRET", secret)) if not present
    )
    if vault_secret is not None:
        if vault_block := env.get(VAULT_BLOCK_VARIABLE):
            from ..blocks.vault import VaultCredentials

            return data | {"vault": VaultCredentials.load(vault_block), "vault_secret": vault_secret}, ""
        needs += (
            f", or {VAULT_BLOCK_VARIABLE} (a saved Vault Credentials block; the secret at "
            f"{vault_secret['mount']}/{vault_secret['path']})"
        )
    return None, needs


def _names() -> str:
    return ", ".join(
        f"{vendor} (block `{doc['name']}`)" if doc["name"] != vendor else vendor
        for vendor, doc in EXAMPLE_BLOCKS.items()
    )


@app.command(name="save-blocks")
def save_blocks(
    *vendors: Annotated[str, Parameter(help=f"Vendors to save (default: all): {_names()}.")],
    env_file: Annotated[
        Path | None,
        Parameter(
            help="Also read VENDORTOKENS_* values from this KEY=VALUE file (`prefect-vendortokens "
            "sandbox` writes one). A variable set in the environment wins over the file's."
        ),
    ] = None,
    prefix: Annotated[str, Parameter(help="Put this before each block name (e.g. `test-`).")] = "",
    json: JsonFlag = False,
) -> int:
    """Save the example blocks of the vendors whose client id and secret are given.

    For each vendor: `VENDORTOKENS_<VENDOR>_CLIENT_ID` and `_CLIENT_SECRET` (and `_TOKEN_URL`
    to change the token URL), from the environment or --env-file; the environment wins. Cobee
    can take its secret from Vault instead (`VENDORTOKENS_VAULT_BLOCK`). A block of the same name
    is overwritten. A skipped vendor's row names the variables it needs. Exit 2 if none was
    saved.
    """
    from ..blocks.credentials import VendorCredentials

    env: dict[str, str] = {}
    if env_file is not None:
        if not env_file.is_file():
            return fail(f"no env file at {env_file}", EXIT_BLOCK, as_json=json)
        env = read_env_file(env_file)
    env |= os.environ  # the real environment wins, as dotenv tools do
    unknown = [v for v in vendors if v not in EXAMPLE_BLOCKS]
    if unknown:
        return fail(
            f"no example block for {', '.join(unknown)}; vendors: {_names()}", EXIT_BLOCK, as_json=json
        )
    rows = []
    try:
        with prefect_api():
            for vendor in vendors or tuple(EXAMPLE_BLOCKS):
                name = prefix + EXAMPLE_BLOCKS[vendor]["name"]
                document, needs = document_for(vendor, env)
                if document is None:
                    rows.append({"block": name, "vendor": vendor, "saved": False, "needs": needs})
                    continue
                VendorCredentials.model_validate(document).save(name, overwrite=True)
                rows.append({"block": name, "vendor": vendor, "saved": True, "needs": ""})
    except Stop as stop:
        return fail(stop.message, stop.code, as_json=json)
    show(rows, ["block", "vendor", "saved", "needs"], as_json=json, title="Example blocks")
    return EXIT_OK if any(r["saved"] for r in rows) else EXIT_BLOCK
