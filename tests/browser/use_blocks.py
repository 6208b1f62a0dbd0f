"""The Python side of the UI tests, run in its own process against the UI test server
(PREFECT_API_URL set by ``UIServer.run``): load a block a person made in the form and use it.
Prints one JSON line; never a secret.

    use_blocks.py token NAME [--force]   load the Vendor Credentials block, get a token
    use_blocks.py vault NAME PATH        load the Vault Credentials block, read a secret's keys
    use_blocks.py save NAME JSON         save a Vendor Credentials block from a JSON document
    use_blocks.py rotate NAME...         run the rotation flow; the artifact's id
"""

from __future__ import annotations

import json
import sys


def main(command: str, *args: str) -> dict:
    from prefect_vendortokens import VaultCredentials, VendorCredentials

    if command == "token":
        creds = VendorCredentials.load(args[0])
        token = creds.get_token(force_refresh="--force" in args)
        return {
            "vendor": creds.vendor,
            "dialect": creds.effective_dialect.name,
            "token_vendor": token.vendor,
            "fingerprint": token.fingerprint,
            "valid": token.is_valid(),
            "vault": creds.vault is not None,
            "requests": creds.manager().requests,
        }
    if command == "vault":
        return {"keys": sorted(VaultCredentials.load(args[0]).read_secret(args[1]))}
    if command == "save":
        VendorCredentials.model_validate(json.loads(args[1])).save(args[0], overwrite=True)
        return {"saved": args[0]}
    if command == "rotate":
        from prefect.client.orchestration import get_client

        from prefect_vendortokens.flows import rotate_tokens

        try:
            rotate_tokens(block_names=list(args), horizon_seconds=60)
            failed = False
        except Exception:
            failed = True
        body = {"artifacts": {"key": {"any_": ["vendor-token-rotation"]}}, "sort": "CREATED_DESC", "limit": 1}
        with get_client(sync_client=True) as client:
            artifact = client.request("POST", "/artifacts/filter", json={**body, "offset": 0}).json()[0]
        return {"artifact_id": artifact["id"], "failed": failed}
    raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
