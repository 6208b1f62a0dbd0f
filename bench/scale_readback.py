"""Child of ``make bench-scale``: read every account's token back from its store and have the
vendor (the emulation) accept it, the benchmark's proof that a rotation left every account
with a working token.

    python -m bench.scale_readback API_URL MIN_TTL_SECONDS

Every Vendor Credentials block is listed in one call; each one's stored token is read through
the block's own store (as ``prefect-vendortokens status`` reads it: ``manager.store``), a few
accounts at a time, and sent to the emulation's API, which answers 200 only to a live token of
a grant that was never revoked. Prints one JSON line: how many were fine, the first problems
(block and reason, never a token) and each block's stored fingerprint.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

THREADS = 8


def blocks() -> list[Any]:
    from prefect.client.orchestration import get_client

    from prefect_vendortokens import VendorCredentials

    with get_client(sync_client=True) as client:
        documents = client.read_block_documents_by_type(
            VendorCredentials.get_block_type_slug(), include_secrets=True
        )
    return [VendorCredentials._from_block_document(d) for d in documents if d.name and not d.is_anonymous]


def main() -> int:
    api_url, min_ttl = sys.argv[1], float(sys.argv[2])
    started = time.monotonic()
    found = blocks()
    horizon = datetime.now(UTC) + timedelta(seconds=min_ttl)

    with httpx.Client(timeout=30) as vendor:

        def check(creds: Any) -> tuple[str, str, str]:
            """(block, fingerprint, problem or "")."""
            name = creds._block_document_name
            manager = creds.manager()
            try:
                token = manager.store.read(manager.store_key)
            except Exception as exc:
                return name, "", f"store unreadable: {type(exc).__name__}"
            if token is None:
                return name, "", "no stored token"
            if token.expires_at < horizon:
                return name, token.fingerprint, f"expires at {token.expires_at.isoformat()}"
            answer = vendor.get(api_url, headers={"Authorization": f"Bearer {token.secret()}"})
            if answer.status_code != 200:
                return name, token.fingerprint, f"the vendor answered {answer.status_code}"
            return name, token.fingerprint, ""

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(check, found))
    problems = [f"{name}: {problem}" for name, _, problem in results if problem]
    print(
        json.dumps(
            {
                "seconds": time.monotonic() - started,
                "accounts": len(results),
                "valid": len(results) - len(problems),
                "problems": problems[:5],
                "fingerprints": {name: fp for name, fp, _ in results},
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
