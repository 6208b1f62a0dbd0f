"""``make bench-scale``'s measures of many processes on few accounts (the rotation at scale
is ``bench/scale.py``'s table):

- N processes x M threads, each thread running flow runs back to back for D seconds (a task per
  run making API calls) over a few accounts with short tokens: token requests per account per
  lifetime (goal 1), 401s reaching a flow (goal 0), p50/p99 of get_token across processes.
- Freshness: the rotation flow every second in one process keeps 3 s tokens fresh while flow runs
  in another process make no token request of their own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from prefect_vendortokens.core.token import default_margin

from .peers import Account

SAVE = """
import copy, json, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import BlockDocumentCreate
from prefect_vendortokens import VendorCredentials
account, names = json.loads(sys.argv[1]), json.loads(sys.argv[2])
fields = {"vendor": "oauth2", "token_url": account["token_url"], "client_id": account["client_id"],
          "client_secret": account["client_secret"], "token_store": "prefect"}
first = VendorCredentials(**fields, scopes=[names[0]])
first.save(names[0], overwrite=True)
# Prefect's _to_block_document costs ~0.3 s of CPU for this block: build the document once and
# vary its scope (a scope per name: a distinct account), one API call per block.
data = first._to_block_document(name=names[0], block_schema_id=first._block_schema_id,
                                block_type_id=first._block_type_id, include_secrets=True).data
with get_client(sync_client=True) as client:
    for name in names[1:]:
        client.create_block_document(BlockDocumentCreate(
            name=name, data={**copy.deepcopy(data), "scopes": [name]},
            block_schema_id=first._block_schema_id, block_type_id=first._block_type_id))
print(json.dumps({"saved": len(names)}))
"""

WORKER = """
import json, sys, threading, time
from prefect import flow, task
from prefect_vendortokens import VendorCredentials
names, api_url, seconds, threads, calls = (json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3]),
                                           int(sys.argv[4]), int(sys.argv[5]))
blocks = {n: VendorCredentials.load(n) for n in names}
clients = {n: b.get_client() for n, b in blocks.items()}  # one connection pool per account

@task(name="scale-calls", persist_result=False)
def api_calls(name: str, n: int) -> dict:
    latencies, statuses = [], []
    for _ in range(n):
        started = time.perf_counter()
        blocks[name].get_token()
        latencies.append(time.perf_counter() - started)
        statuses.append(clients[name].get(api_url).status_code)
    return {"latencies": latencies, "statuses": statuses}

@flow(name="scale-flow", persist_result=False)
def scale_flow(name: str, n: int) -> dict:
    return api_calls(name, n)

latencies, statuses, runs, failed = [], [], [0], [0]
deadline = time.monotonic() + seconds
def loop(i):
    k = i
    while time.monotonic() < deadline:
        k = (k + 1) % len(names)
        try:
            out = scale_flow(names[k], calls)
        except Exception:
            failed[0] += 1
            continue
        runs[0] += 1
        latencies.extend(out["latencies"]); statuses.extend(out["statuses"])
ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
[t.start() for t in ts]; [t.join() for t in ts]
print(json.dumps({"latencies": latencies, "unauthorized": statuses.count(401), "calls": len(statuses),
                  "flow_runs": runs[0], "failed_runs": failed[0],
                  "requests": sum(b.manager().requests for b in blocks.values())}))
"""

ROTATION_LOOP = """
import json, sys, time
from pathlib import Path
from prefect_vendortokens.flows import rotate_tokens
stop, names, horizon = Path(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
runs, refreshed, first, deadline = 0, 0, True, time.monotonic() + 600
while not stop.exists() and time.monotonic() < deadline:
    started = time.monotonic()
    rows = rotate_tokens(block_names=names, horizon_seconds=horizon)
    refreshed += sum(r["status"] == "refreshed" for r in rows)
    runs += 1
    if first:
        print("ready", flush=True); first = False
    time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
print(json.dumps({"runs": runs, "refreshed": refreshed}), flush=True)
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


def workers(args: argparse.Namespace, account: Account, sandbox, env: dict[str, str]) -> dict:
    """N processes x M threads, each thread running flow runs back to back for D seconds."""
    names = [f"workers-{i}" for i in range(args.worker_accounts)]
    _run(SAVE, json.dumps(account.__dict__), json.dumps(names), env=env)
    before = sandbox.token_requests("oauth2")
    argv = [json.dumps(names), account.api_url, str(args.seconds), str(args.threads), str(args.calls)]
    procs = [
        subprocess.Popen(  # noqa: S603 - our interpreter and script
            [sys.executable, "-c", WORKER, *argv],
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
    # A token is replaced a margin before it expires, so a refresh cycle is lifetime - margin.
    cycles = args.seconds / (args.lifetime - default_margin(args.lifetime)) + 1
    return {
        "processes": args.workers,
        "threads_per_process": args.threads,
        "accounts": len(names),
        "seconds": args.seconds,
        "token_lifetime_seconds": args.lifetime,
        "flow_runs": sum(r["flow_runs"] for r in results),
        "failed_flow_runs": sum(r["failed_runs"] for r in results),
        "api_calls": sum(r["calls"] for r in results),
        "unauthorized_reaching_flows": sum(r["unauthorized"] for r in results),
        "token_requests": requests,
        "token_requests_per_account_per_lifetime": round(requests / (len(names) * lifetimes), 2),
        "token_requests_per_account_per_refresh_cycle": round(requests / (len(names) * cycles), 2),
        "get_token_p50_us": round(statistics.median(latencies) * 1e6, 1),
        "get_token_p99_us": round(latencies[int(len(latencies) * 0.99)] * 1e6, 1),
    }


def freshness(args: argparse.Namespace, account: Account, sandbox, env: dict[str, str], home: Path) -> dict:
    """The rotation flow every second in one process keeps 3 s tokens fresh; flow runs in another
    process meanwhile must make no token request of their own."""
    sandbox.set_token_lifetime(args.fresh_lifetime, "oauth2")
    names = [f"fresh-{i}" for i in range(2)]
    _run(SAVE, json.dumps(account.__dict__), json.dumps(names), env=env)
    stop = home / "stop-rotation"
    rotation = subprocess.Popen(  # noqa: S603 - our interpreter and script
        [sys.executable, "-c", ROTATION_LOOP, str(stop), json.dumps(names), str(args.fresh_lifetime)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if rotation.stdout is None or rotation.stdout.readline().strip() != "ready":
            raise RuntimeError(
                "the rotation loop did not start: " + (rotation.stderr.read() if rotation.stderr else "")
            )
        before = sandbox.token_requests("oauth2")
        argv = [json.dumps(names), account.api_url, str(args.fresh_seconds), "2", str(args.calls)]
        flows = _run(WORKER, *argv, env=env, timeout=args.fresh_seconds + 600)
    finally:
        stop.touch()
        out, err = rotation.communicate(timeout=300)
    if rotation.returncode != 0:
        raise RuntimeError(err[-3000:])
    rotated = json.loads(out.strip().splitlines()[-1])
    return {
        "token_lifetime_seconds": args.fresh_lifetime,
        "seconds": args.fresh_seconds,
        "flow_runs": flows["flow_runs"],
        "failed_flow_runs": flows["failed_runs"],
        "api_calls": flows["calls"],
        "unauthorized_reaching_flows": flows["unauthorized"],
        "token_requests_by_the_flows_process": flows["requests"],
        "token_requests_during": sandbox.token_requests("oauth2") - before,
        "rotation_runs": rotated["runs"],
        "rotation_refreshed": rotated["refreshed"],
    }
