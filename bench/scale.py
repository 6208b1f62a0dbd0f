"""``make bench-scale``: the rotation flow and many workers on a Prefect server backed by
PostgreSQL (what production servers use; the SQLite test server stalls under this load).

- The rotation flow's wall time for K accounts (default 10 and 100; ``--accounts 10,100,1000``).
- N worker processes x M threads, each making flow-less calls (get_token, then an API call) for
  D seconds over a few accounts with short tokens: token requests per account per lifetime (goal
  1), 401s reaching the caller (goal 0), p50/p99 of get_token across processes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from prefect_vendortokens.testing import vendor_sandbox
from prefect_vendortokens.testing.prefect_server import prefect_server
from prefect_vendortokens.token import default_margin

from .peers import Account
from .postgres import postgres

OUT = Path(__file__).resolve().parents[1] / "build" / "bench-scale.json"

SAVE = """
import json, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import BlockDocumentCreate
from prefect_vendortokens import VendorCredentials
account, names = json.loads(sys.argv[1]), json.loads(sys.argv[2])
fields = {"vendor": "oauth2", "token_url": account["token_url"], "client_id": account["client_id"],
          "client_secret": account["client_secret"], "token_store": "prefect"}
first = VendorCredentials(**fields, scopes=[names[0]])
first.save(names[0], overwrite=True)
with get_client(sync_client=True) as client:
    for name in names[1:]:  # one API call each: the type and schema exist now
        block = VendorCredentials(**fields, scopes=[name])  # a scope per name: a distinct account
        doc = block._to_block_document(name=name, block_schema_id=first._block_schema_id,
                                       block_type_id=first._block_type_id, include_secrets=True)
        client.create_block_document(BlockDocumentCreate(**doc.model_dump(
            include={"name", "data", "block_schema_id", "block_type_id", "is_anonymous"})))
print(json.dumps({"saved": len(names)}))
"""

ROTATE = """
import json, sys, time
from prefect_vendortokens.flows import rotate_tokens
names = json.loads(sys.argv[1])
started = time.monotonic()
rows = rotate_tokens(block_names=names, horizon_seconds=float(sys.argv[2]))
refreshed = sum(r["status"] == "refreshed" for r in rows)
print(json.dumps({"seconds": time.monotonic() - started, "refreshed": refreshed}))
"""

WORKER = """
import json, sys, threading, time
import httpx
from prefect_vendortokens import VendorCredentials
names, api_url, seconds, threads = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
blocks = [VendorCredentials.load(n) for n in names]
latencies, unauthorized, calls = [], [0], [0]
deadline = time.monotonic() + seconds
def loop(i):
    clients = [b.get_client() for b in blocks]
    k = i
    while time.monotonic() < deadline:
        k = (k + 1) % len(blocks)
        started = time.perf_counter()
        blocks[k].get_token()
        latencies.append(time.perf_counter() - started)
        status = clients[k].get(api_url).status_code
        calls[0] += 1
        unauthorized[0] += status == 401
ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
[t.start() for t in ts]; [t.join() for t in ts]
print(json.dumps({"latencies": latencies, "unauthorized": unauthorized[0], "calls": calls[0],
                  "requests": sum(b.manager().requests for b in blocks)}))
"""


def _run(script: str, *args: str, env: dict[str, str], timeout: float = 1800) -> dict:
    out = subprocess.run(  # noqa: S603 - our interpreter and script
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", default="10,100", help="rotation sizes, comma separated")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker-accounts", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--lifetime", type=float, default=10.0)
    args = parser.parse_args()
    report: dict = {"args": vars(args)}
    home = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    with postgres() as database, vendor_sandbox() as sandbox:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        base |= {
            "PREFECT_HOME": str(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": database,
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        with prefect_server(base, log=home / "server.log") as (_, env):
            account = Account.of(sandbox)
            curve = []
            for size in (int(s) for s in args.accounts.split(",")):
                names = [f"scale-{size}-{i}" for i in range(size)]
                _run(SAVE, json.dumps(account.__dict__), json.dumps(names), env=env)
                before = sandbox.token_requests("oauth2")
                first = _run(ROTATE, json.dumps(names), "60", env=env)
                again = _run(ROTATE, json.dumps(names), "60", env=env)
                curve.append(
                    {
                        "accounts": size,
                        "first_seconds": round(first["seconds"], 1),
                        "again_seconds": round(again["seconds"], 1),
                        "token_requests": sandbox.token_requests("oauth2") - before,
                    }
                )
                print(
                    f"rotation of {size} accounts: {first['seconds']:.1f} s (all refreshed), "
                    f"{again['seconds']:.1f} s (all still valid)",
                    flush=True,
                )
            report["rotation"] = curve

            sandbox.set_token_lifetime(args.lifetime, "oauth2")
            names = [f"workers-{i}" for i in range(args.worker_accounts)]
            _run(SAVE, json.dumps(account.__dict__), json.dumps(names), env=env)
            before = sandbox.token_requests("oauth2")
            procs = [
                subprocess.Popen(  # noqa: S603
                    [
                        sys.executable,
                        "-c",
                        WORKER,
                        json.dumps(names),
                        account.api_url,
                        str(args.seconds),
                        str(args.threads),
                    ],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(args.workers)
            ]
            results = []
            for proc in procs:
                out, err = proc.communicate(timeout=args.seconds + 600)
                if proc.returncode != 0:
                    raise RuntimeError(err[-3000:])
                results.append(json.loads(out.strip().splitlines()[-1]))
            latencies = sorted(x for r in results for x in r["latencies"])
            requests = sandbox.token_requests("oauth2") - before
            lifetimes = args.seconds / args.lifetime
            # A token is replaced a margin before it expires, so the cycle is lifetime - margin.
            cycles = args.seconds / (args.lifetime - default_margin(args.lifetime)) + 1
            report["workers"] = {
                "calls": sum(r["calls"] for r in results),
                "unauthorized_reaching_callers": sum(r["unauthorized"] for r in results),
                "token_requests": requests,
                "token_requests_per_account_per_lifetime": round(requests / (len(names) * lifetimes), 2),
                "token_requests_per_account_per_refresh_cycle": round(requests / (len(names) * cycles), 2),
                "get_token_p50_us": round(statistics.median(latencies) * 1e6, 1),
                "get_token_p99_us": round(latencies[int(len(latencies) * 0.99)] * 1e6, 1),
            }
            print(json.dumps(report["workers"], indent=2))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(f"written: {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
