"""The rotation flow run again and again (each a flow run on the Prefect server) while the
server restarts: prints each run's outcome and the slowest run as one JSON line."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path


def main(block_name: str, stop: str) -> None:
    from prefect_vendortokens.flows.rotation import rotate_tokens

    print("ready", file=sys.stderr, flush=True)
    outcomes: Counter[str] = Counter()
    slowest, last_ok = 0.0, 0.0
    deadline = time.monotonic() + 400
    while not Path(stop).exists() and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            rows = rotate_tokens(block_names=[block_name], horizon_seconds=3600)
            outcomes["ok" if [r["status"] for r in rows] == ["refreshed"] else "other"] += 1
            last_ok = time.time()
        except Exception as exc:  # the run failed: which way, and how long it took
            outcomes[type(exc).__name__] += 1
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.5)
    print(
        json.dumps({"outcomes": dict(outcomes), "slowest": round(slowest, 1), "last_ok": last_ok}), flush=True
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
