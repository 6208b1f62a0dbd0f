"""Child of ``make bench-scale``: save N Vendor Credentials blocks (distinct accounts) fast.

    python -m bench.scale_setup SPEC.json

The first block is saved the ordinary way (registering the block types); its document is then
reused for the others with only the name and scope changed, created through Prefect's async
client with a bounded number in flight: one API call per block (Prefect's own
``_to_block_document`` costs ~0.3 s of CPU per block, an hour for 10,000). Each account asks
for ``offline_access``, so the emulation issues a refresh token with every token and renewals
use (and rotate) it: a refresh token sent twice would revoke the grant, which the benchmark
counts. With store ``vault`` every block references one saved Vault block (token auth) for
its token store; the client secrets stay inline in the blocks either way.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

VAULT_BLOCK = "bench-vault"


def account_name(prefix: str, i: int) -> str:
    return f"{prefix}-{i:05d}"


def first_block(spec: dict[str, Any]) -> Any:
    from prefect_vendortokens import VaultCredentials, VendorCredentials

    account = spec["account"]
    fields: dict[str, Any] = {
        "vendor": "oauth2",
        "token_url": account["token_url"],
        "client_id": account["client_id"],
        "client_secret": account["client_secret"],
        "token_store": spec["store"],
    }
    if spec["store"] == "vault":
        vault = spec["vault"]
        VaultCredentials(address=vault["address"], token=vault["token"]).save(VAULT_BLOCK, overwrite=True)
        fields["token_store_vault"] = VaultCredentials.load(VAULT_BLOCK)  # saved: a reference
    name = account_name(spec["prefix"], 0)
    block = VendorCredentials(**fields, scopes=[name, "offline_access"])
    block.save(name, overwrite=True)
    return block


async def create_rest(spec: dict[str, Any], block: Any) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import BlockDocumentCreate

    name0 = account_name(spec["prefix"], 0)
    data = block._to_block_document(
        name=name0,
        block_schema_id=block._block_schema_id,
        block_type_id=block._block_type_id,
        include_secrets=True,
    ).data
    bound = asyncio.Semaphore(spec["concurrency"])
    async with get_client() as client:

        async def create(i: int) -> None:
            name = account_name(spec["prefix"], i)
            document = BlockDocumentCreate(
                name=name,
                data={**copy.deepcopy(data), "scopes": [name, "offline_access"]},
                block_schema_id=block._block_schema_id,
                block_type_id=block._block_type_id,
            )
            async with bound:
                await client.create_block_document(document)

        await asyncio.gather(*(create(i) for i in range(1, spec["count"])))


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    started = time.monotonic()
    block = first_block(spec)
    asyncio.run(create_rest(spec, block))
    print(json.dumps({"saved": spec["count"], "seconds": time.monotonic() - started}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
