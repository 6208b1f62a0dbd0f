"""One of the processes calling ``get_token`` in a loop while a server restarts (or Vault is
sealed): every 50 ms until the stop file appears; prints what it saw as one JSON line. Any
error that is not a ``TokenError`` ends the process with a traceback (the test fails)."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

from prefect_vendortokens import TokenError
from tests.crash.accounts import block


def main(raw: str, stop: str) -> None:
    logging.basicConfig(format="%(asctime)s %(process)d %(levelname)s %(message)s")  # to stderr
    creds = block(json.loads(raw))
    print("ready", file=sys.stderr, flush=True)
    errors: Counter[str] = Counter()
    said: dict[str, str] = {}  # the first message of each error type
    fingerprints: set[str] = set()
    calls = oks = 0
    slowest = 0.0
    last_error = last_ok = 0.0
    deadline = time.monotonic() + 400
    while not Path(stop).exists() and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            token = creds.get_token()
            assert token.is_valid(0), "handed an expired token"
            oks += 1
            fingerprints.add(token.fingerprint)
            last_ok = time.time()
        except TokenError as exc:
            errors[type(exc).__name__] += 1
            said.setdefault(type(exc).__name__, str(exc)[:600])
            print(f"{time.time():.2f} {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            last_error = time.time()
        calls += 1
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.05)
    print(
        json.dumps(
            {
                "calls": calls,
                "oks": oks,
                "errors": dict(errors),
                "said": said,
                "slowest": round(slowest, 2),
                "tokens": len(fingerprints),
                "last_error": last_error,
                "last_ok": last_ok,
                "requests": creds.manager().requests,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
