"""One process of the crash matrix: refresh the account's token once (``get_token(force_refresh=
True)``: the refresh lock, the store, the vendor) and print what it got as one JSON line. The
first process of a case runs with ``VENDORTOKENS_PAUSE_AT`` and is killed at that point; the
next one is started ahead and waits for a go file, so it asks right after the kill."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from prefect_vendortokens import TokenError
from tests.crash.accounts import block


def main(raw: str, go: str | None) -> None:
    creds = block(json.loads(raw))
    manager = creds.manager()
    if go is not None:  # started ahead (imports done), it asks the moment the holder is killed
        print("ready", file=sys.stderr, flush=True)
        deadline = time.monotonic() + 180
        while not Path(go).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("never told to go")
            time.sleep(0.01)
    told: list[str] = []
    manager.listeners.append(lambda grant, token, error: told.append(grant))
    started = time.monotonic()
    try:
        token = creds.get_token(force_refresh=True)
        result = {"got": "token", "fingerprint": token.fingerprint}
    except TokenError as exc:
        result = {"got": type(exc).__name__, "message": str(exc)}
    result |= {
        "seconds": round(time.monotonic() - started, 2),
        "finished": time.time(),
        "told": told,
        "requests": manager.requests,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
