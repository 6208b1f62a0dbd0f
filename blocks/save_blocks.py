"""Save the example block documents of this folder as VendorCredentials blocks.

Secrets come from the environment (see README.md here), never from the documents.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from prefect_vendortokens import VaultCredentials, VendorCredentials

HERE = Path(__file__).resolve().parent


def save(document: Path) -> str | None:
    data = json.loads(document.read_text())
    prefix = "VENDORTOKENS_" + data["vendor"].upper()
    name = data.pop("name")
    if url := os.environ.get(f"{prefix}_TOKEN_URL"):
        data["token_url"] = url
    if "vault_secret" in data:
        vault_block = os.environ.get("VENDORTOKENS_VAULT_BLOCK")
        if not vault_block:
            return None
        data["vault"] = VaultCredentials.load(vault_block)
    else:
        client_id, secret = os.environ.get(f"{prefix}_CLIENT_ID"), os.environ.get(f"{prefix}_CLIENT_SECRET")
        if not (client_id and secret):
            return None
        data.update(client_id=client_id, client_secret=secret)
    VendorCredentials(**data).save(name, overwrite=True)
    return name


def main(vendors: list[str]) -> int:
    documents = [HERE / f"{v}.json" for v in vendors] if vendors else sorted(HERE.glob("*.json"))
    saved = [name for d in documents if (name := save(d))]
    skipped = len(documents) - len(saved)
    print(
        f"saved {', '.join(saved) or 'nothing'}"
        + (f"; {skipped} skipped (variables not set)" if skipped else "")
    )
    return 0 if saved else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
