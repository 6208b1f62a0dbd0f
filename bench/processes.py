"""Token requests when four processes need the same account's token at once: ours share it
through the Prefect store (a real `prefect server start`, SQLite), the peers have nothing to
share. Ours also with sixteen processes; and the server's HTTP 5xx answers meanwhile, counted in
its access log (the waiters' polling must not break it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from prefect_vendortokens.testing import VendorSandbox
from prefect_vendortokens.testing.prefect_server import prefect_server

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
    creds = VendorCredentials.load(f"bench-processes-{parties}")  # an account per crowd size
    token = creds.get_token()
    print(json.dumps({"fingerprint": token.fingerprint, "requests": creds.manager().requests}), flush=True)
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


SERVER_5XX = re.compile(rb'HTTP/[0-9.]+" 5[0-9][0-9]')


def four_processes(sandbox: VendorSandbox, account: Account, parties: int = 4) -> dict:
    home = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_LOGGING_LEVEL": "INFO",  # the access log: one line per request, with its status
        "PREFECT_API_LOG_RETRYABLE_ERRORS": "true",
    }
    log = home / "server.log"
    with prefect_server(base, log=log) as (_, env):
        fields = {**account.__dict__, "vendor": "oauth2", "token_store": "prefect"}
        fields.pop("api_url")
        save = "from prefect_vendortokens import VendorCredentials\n" + "".join(
            f"VendorCredentials(**{fields!r}, extra={{'crowd': {n}}})"
            f".save('bench-processes-{n}', overwrite=True)\n"
            for n in (parties, 16)
        )
        subprocess.run([sys.executable, "-c", save], env=env, check=True, timeout=120)  # noqa: S603
        sandbox.set_delay(1.0, "oauth2")  # all four are waiting while the one request is in flight
        try:
            results: dict = {}
            runs = [("ours", parties), ("authlib", parties), ("httpx-auth", parties), ("ours", 16)]
            for peer, count in runs:
                gate = Path(tempfile.mkdtemp(prefix="bench-gate-"))
                before = sandbox.token_requests("oauth2")
                seen = log.read_bytes()
                args = json.dumps(account.__dict__)
                procs = [
                    subprocess.Popen(  # noqa: S603 - our interpreter and script
                        [sys.executable, "-c", WORKER, peer, str(gate), str(count), args],
                        env=env,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                    for _ in range(count)
                ]
                outs = [proc.communicate(timeout=600)[0] for proc in procs]
                name = peer if count == parties else f"{peer} x{count}"
                results[name] = sandbox.token_requests("oauth2") - before
                if peer == "ours":  # new access-log lines only: this run's requests
                    results[f"{name} server 5xx"] = len(SERVER_5XX.findall(log.read_bytes()[len(seen) :]))
                    results[f"{name} failed processes"] = sum(proc.returncode != 0 for proc in procs)
                    said = [json.loads(out.strip().splitlines()[-1]) for out in outs if out.strip()]
                    results[f"{name} distinct tokens"] = len({s["fingerprint"] for s in said})
            return results
        finally:
            sandbox.set_delay(0, "oauth2")


if __name__ == "__main__":  # python -m bench.processes (needs the lock's bench group)
    from prefect_vendortokens.testing import vendor_sandbox

    with vendor_sandbox() as running:
        print(json.dumps(four_processes(running, Account.of(running)), indent=2))
