"""Token requests when four processes need the same account's token at once: ours share it
through the Prefect store (a real `prefect server start`), the peers have nothing to share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from prefect_vendortokens.testing import VendorSandbox
from prefect_vendortokens.testing.openbao import free_port

from .peers import Account

WORKER = """
import json, sys, time
from pathlib import Path
peer, gate, parties = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
(gate / f"ready-{time.monotonic_ns()}").touch()
deadline = time.monotonic() + 120
while len(list(gate.glob("ready-*"))) < parties and time.monotonic() < deadline:
    time.sleep(0.01)
if peer == "ours":
    from prefect_vendortokens import VendorCredentials
    creds = VendorCredentials.load("bench-processes")
    creds.get_token()
elif peer == "authlib":
    from authlib.integrations.httpx_client import OAuth2Client
    a = json.loads(sys.argv[4])
    OAuth2Client(a["client_id"], a["client_secret"], token_endpoint=a["token_url"],
                 grant_type="client_credentials").fetch_token()
else:
    import httpx, httpx_auth
    a = json.loads(sys.argv[4])
    auth = httpx_auth.OAuth2ClientCredentials(a["token_url"], a["client_id"], a["client_secret"])
    httpx.get(a["api_url"], auth=auth)
"""


def four_processes(sandbox: VendorSandbox, account: Account, parties: int = 4) -> dict:
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(home), "PREFECT_API_URL": api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    prefect = str(Path(sys.executable).parent / "prefect")
    server = subprocess.Popen(  # noqa: S603
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 150
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prefect server start did not answer in 150 s")
            time.sleep(0.5)
        fields = {**account.__dict__, "vendor": "oauth2", "token_store": "prefect"}
        fields.pop("api_url")
        save = (
            "from prefect_vendortokens import VendorCredentials\n"
            f"VendorCredentials(**{fields!r}).save('bench-processes', overwrite=True)"
        )
        subprocess.run([sys.executable, "-c", save], env=env, check=True, timeout=120)  # noqa: S603
        warm = "from prefect_vendortokens.store import PrefectTokenStore"  # import cost out of the race
        subprocess.run([sys.executable, "-c", warm], env=env, check=True, timeout=120)  # noqa: S603
        sandbox.set_delay(1.0, "oauth2")  # all four are waiting while the one request is in flight
        results = {}
        for peer in ("ours", "authlib", "httpx-auth"):
            gate = Path(tempfile.mkdtemp(prefix="bench-gate-"))
            before = sandbox.token_requests("oauth2")
            args = json.dumps(account.__dict__)
            procs = [
                subprocess.Popen(  # noqa: S603
                    [sys.executable, "-c", WORKER, peer, str(gate), str(parties), args], env=env
                )
                for _ in range(parties)
            ]
            for proc in procs:
                proc.wait(timeout=240)
            results[peer] = sandbox.token_requests("oauth2") - before
        return results
    finally:
        sandbox.set_delay(0, "oauth2")
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
