"""Run the example flows in a loop for a while in this process, then print how many token
requests this process made itself (the rotation flow runs in another process)."""

import json
import sys
import time

from prefect_vendortokens import VendorCredentials
from prefect_vendortokens.flows import sqod_appointments, sqr_user_status

if __name__ == "__main__":
    sqod_block, sqod_api, sqr_block, sqr_api, seconds = sys.argv[1:6]
    runs, took = 0, []
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        started = time.monotonic()
        sqod_appointments(sqod_block, sqod_api, per_page=10, max_pages=1)
        sqr_user_status(sqr_block, sqr_api, limit=25, max_pages=1)
        runs += 1
        took.append(round(time.monotonic() - started, 2))
    requests = sum(VendorCredentials.load(b).manager().requests for b in (sqod_block, sqr_block))
    print(json.dumps({"runs": runs, "requests": requests, "seconds_per_run": took}))
