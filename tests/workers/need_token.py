"""One process of the cross-process proof: a flow run that needs the account's token at the
same moment as the others (a file barrier), then prints the fingerprint it got."""

import json
import sys
import time
from pathlib import Path

from prefect import flow

from prefect_vendortokens import VendorCredentials


@flow
def need_token(block_name: str, barrier: str, parties: int) -> str:
    creds = VendorCredentials.load(block_name)
    gate = Path(barrier)
    (gate / f"ready-{time.monotonic_ns()}").touch()
    deadline = time.monotonic() + 120
    while len(list(gate.glob("ready-*"))) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError("the other processes never arrived")
        time.sleep(0.02)
    return creds.get_token().fingerprint


if __name__ == "__main__":
    fingerprint = need_token(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    manager = VendorCredentials.load(sys.argv[1]).manager()
    print(json.dumps({"fingerprint": fingerprint, "requests": manager.requests}))
