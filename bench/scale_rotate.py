"""Child of ``make bench-scale``: one run of the rotation flow over every saved block, as the
deployment runs it (no block names: the flow lists them).

    python -m bench.scale_rotate HORIZON_SECONDS

Prints one JSON line: the flow's own seconds, what it did per account, the first errors, and
each block's token fingerprint (no secret), which the benchmark compares with the store's.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter


def main() -> int:
    from prefect_vendortokens.flows import RotationFailed, rotate_tokens

    horizon = float(sys.argv[1])
    started = time.monotonic()
    try:
        rows = rotate_tokens(horizon_seconds=horizon)
    except RotationFailed as exc:  # some accounts failed: their rows say why
        rows = exc.rows
    seconds = time.monotonic() - started
    statuses = Counter(r["status"] for r in rows)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "accounts": len(rows),
                "statuses": dict(statuses),
                "errors": [f"{r['block']}: {r['error']}" for r in rows if r["status"] == "failed"][:5],
                "fingerprints": {r["block"]: r["fingerprint"] for r in rows},
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
