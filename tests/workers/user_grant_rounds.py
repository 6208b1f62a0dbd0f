"""One process of the rotating-refresh-token proof: in each round, wait for the others (a file
barrier), then ask for a new token of the user-authorized block (a refresh under the shared
lock), and print every fingerprint it got. With a fifth argument, an API URL: each round also
calls it through ``get_client()`` (a DPoP-bound token proves its key there) and reports the
statuses."""

import json
import sys
import time
from pathlib import Path

from prefect_vendortokens import VendorCredentials


def main(block_name: str, barrier: str, parties: int, rounds: int, api: str = "") -> None:
    creds = VendorCredentials.load(block_name)
    gate = Path(barrier)
    fingerprints, statuses = [], []
    for number in range(rounds):
        (gate / f"round-{number}-{time.monotonic_ns()}").touch()
        deadline = time.monotonic() + 120
        while len(list(gate.glob(f"round-{number}-*"))) < parties:
            if time.monotonic() > deadline:
                raise TimeoutError(f"round {number}: the other processes never arrived")
            time.sleep(0.02)
        fingerprints.append(creds.get_token(force_refresh=True).fingerprint)
        if api:
            with creds.get_client() as http:
                statuses.append(http.get(api).status_code)
    report = {"fingerprints": fingerprints, "requests": creds.manager().requests, "statuses": statuses}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:6])
