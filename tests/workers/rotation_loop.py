"""The rotation flow started every second (back to back when a run takes longer) in its own
process, as a served deployment would run it. Prints "ready" after the first run, then a JSON
report when told to stop (a file appears) or after a time limit."""

import json
import sys
import time
from pathlib import Path

from prefect_vendortokens.flows import rotate_tokens

if __name__ == "__main__":
    stop_file, horizon, accounts = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    refreshed, periods = 0, []
    deadline = time.monotonic() + 240
    first = True
    while not stop_file.exists() and time.monotonic() < deadline:
        started = time.monotonic()
        rows = rotate_tokens(block_names=accounts, horizon_seconds=horizon)
        refreshed += sum(r["status"] == "refreshed" for r in rows)
        if first:
            print("ready", flush=True)
            first = False
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        periods.append(round(time.monotonic() - started, 2))
    print(json.dumps({"refreshed": refreshed, "periods": periods}), flush=True)
