"""The cross-process hand-off: 4 (and 16) processes that need one account's token at once, the
token endpoint answering after 200 ms. Ours through the Prefect store (a real `prefect server
start`, SQLite by default or PostgreSQL) and, beside it, through the memory store (no sharing:
a request each); the peers (authlib, httpx-auth) have nothing to share either.

Each process imports, loads its block (or builds its client) and says it is ready; when all
are, the parent tells them at once (a line on each stdin) and each reports the monotonic time
(one clock for the machine) at which it held a token. Measured per round: the time until every
process had it, token requests (the emulation's count), distinct tokens, failed processes, and
the Prefect server's requests and HTTP 5xx answers during the round, from its access log (the
waiters' polling must not break it). Each round is a new account, so the store starts empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefect_vendortokens.testing import VendorSandbox
from prefect_vendortokens.testing.prefect_server import prefect_server

from .counting import Tail, prefect_calls
from .peers import Account

DELAY = 0.2  # the token endpoint's answer time
VENDOR = "oauth2"
READY_TIMEOUT = 180.0  # a crowd of 16 importing Prefect on two cores
GOT_TIMEOUT = 180.0  # the plan's lock wait is 120 s

WORKER = """
import json, sys, time
peer, name, a = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if peer == "ours":
    from prefect_vendortokens import VendorCredentials
    creds = VendorCredentials.load(name)
    get = creds.get_token
elif peer == "authlib":
    from authlib.integrations.httpx_client import OAuth2Client
    client = OAuth2Client(a["client_id"], a["client_secret"], token_endpoint=a["token_url"],
                          grant_type="client_credentials")
    get = client.fetch_token
else:
    import httpx, httpx_auth
    auth = httpx_auth.OAuth2ClientCredentials(a["token_url"], a["client_id"], a["client_secret"])
    get = lambda: httpx.get(a["api_url"], auth=auth)
print("ready", flush=True)
sys.stdin.readline()
token = get()
got = time.monotonic()
fingerprint = token.fingerprint if peer == "ours" else ""
print(json.dumps({"got": got, "fingerprint": fingerprint}), flush=True)
"""

# (label, peer, store, processes); the peers only at four, as in the token-requests table.
RUNS = (
    ("ours, Prefect store", "ours", "prefect", 4),
    ("ours, memory store", "ours", "memory", 4),
    ("authlib", "authlib", "", 4),
    ("httpx-auth", "httpx-auth", "", 4),
    ("ours, Prefect store", "ours", "prefect", 16),
    ("ours, memory store", "ours", "memory", 16),
)


def _block_name(store: str, processes: int, round_: int) -> str:
    return f"bench-handoff-{store}-{processes}-{round_}"


def _save_blocks(account: Account, rounds: int, env: dict[str, str]) -> None:
    """A distinct account per (store, crowd, round): each round starts with nothing stored."""
    fields = {**account.__dict__, "vendor": VENDOR}
    fields.pop("api_url")
    lines = ["from prefect_vendortokens import VendorCredentials"]
    for _, peer, store, n in RUNS:
        if peer != "ours":
            continue
        for r in range(rounds):
            extra = {"crowd": n, "round": r, "store": store}
            lines.append(
                f"VendorCredentials(**{fields!r}, token_store={store!r}, extra={extra!r})"
                f".save({_block_name(store, n, r)!r}, overwrite=True)"
            )
    subprocess.run([sys.executable, "-c", "\n".join(lines)], env=env, check=True, timeout=300)  # noqa: S603


def _readline(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None  # noqa: S101 - started with a pipe
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
        return ""
    return proc.stdout.readline()


def _round(peer: str, name: str, count: int, account: Account, env: dict[str, str]) -> dict[str, Any]:
    """One crowd: start them, wait until all are ready, release them together."""
    procs = [
        subprocess.Popen(  # noqa: S603 - our interpreter and script
            [sys.executable, "-c", WORKER, peer, name, json.dumps(account.__dict__)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(count)
    ]
    released = False
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        ready = [_readline(proc, deadline).strip() == "ready" for proc in procs]
        if not all(ready):
            raise RuntimeError(f"{count - sum(ready)} of {count} {peer} processes never got ready")
        started = time.monotonic()
        for proc in procs:
            assert proc.stdin is not None  # noqa: S101 - started with a pipe
            proc.stdin.write("go\n")
            proc.stdin.flush()
        released = True
        deadline = time.monotonic() + GOT_TIMEOUT
        said = [_readline(proc, deadline) for proc in procs]
    finally:
        for proc in procs:  # done once they have said; else (stuck, or never released) killed
            if released:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    results = [json.loads(line) for line, proc in zip(said, procs, strict=True) if line.strip()]
    waits = sorted(r["got"] - started for r in results)
    failed = sum(not line.strip() or proc.returncode != 0 for line, proc in zip(said, procs, strict=True))
    return {
        "processes": count,
        "failed_processes": failed,
        "all_have_it_s": round(waits[-1], 3) if len(results) == count else None,
        "median_s": round(statistics.median(waits), 3) if waits else None,
        "distinct_tokens": len({r["fingerprint"] for r in results if r["fingerprint"]}),
    }


@contextlib.contextmanager
def _prefect(database: str, home: Path) -> Iterator[tuple[dict[str, str], Tail]]:
    """A `prefect server start` with its access log; on SQLite or on a throwaway PostgreSQL."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_LOGGING_LEVEL": "INFO",  # the access log: one line per request, with its status
        "PREFECT_API_LOG_RETRYABLE_ERRORS": "true",
    }
    log = home / "server.log"
    with contextlib.ExitStack() as stack:
        if database == "postgres":
            from .postgres import postgres

            base["PREFECT_API_DATABASE_CONNECTION_URL"] = stack.enter_context(
                stack.enter_context(postgres()).database("handoff")
            )
        _, env = stack.enter_context(prefect_server(base, log=log))
        yield env, Tail(log)


def four_processes(
    sandbox: VendorSandbox, account: Account, rounds: int = 3, database: str = "sqlite"
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    report: dict[str, Any] = {
        "token_delay_s": DELAY,
        "server_database": database,
        "rounds": rounds,
        "runs": [],
    }
    with _prefect(database, home) as (env, log):
        _save_blocks(account, rounds, env)
        sandbox.set_delay(DELAY, VENDOR)
        try:
            for label, peer, store, count in RUNS:
                done = []
                for r in range(rounds):
                    before = sandbox.token_requests(VENDOR)
                    log.take(settle=0.1)
                    one = _round(peer, _block_name(store, count, r), count, account, env)
                    calls = prefect_calls(log.take())
                    one |= {
                        "token_requests": sandbox.token_requests(VENDOR) - before,
                        "prefect_api_calls": calls.total,
                        "server_5xx": calls.server_errors,
                        "prefect_routes": calls.top(),
                    }
                    done.append(one)
                report["runs"].append({"who": label, "processes": count, "rounds": done})
        finally:
            sandbox.set_delay(0, VENDOR)
    # The token-requests table of `make bench`: four processes, the first round.
    first = {(r["who"], r["processes"]): r["rounds"][0] for r in report["runs"]}
    report |= {
        "ours": first[("ours, Prefect store", 4)]["token_requests"],
        "authlib": first[("authlib", 4)]["token_requests"],
        "httpx-auth": first[("httpx-auth", 4)]["token_requests"],
    }
    return report


def summary(run: dict[str, Any]) -> dict[str, Any]:
    """A run's rounds in one row: medians of the times, totals of what must be zero."""
    rounds = run["rounds"]
    every = [r["all_have_it_s"] for r in rounds if r["all_have_it_s"] is not None]
    return {
        "all_have_it_median_s": statistics.median(every) if every else None,
        "all_have_it_max_s": max(every) if every else None,
        "token_requests": "/".join(str(r["token_requests"]) for r in rounds),
        "distinct_tokens": "/".join(str(r["distinct_tokens"]) for r in rounds),
        "prefect_api_calls": "/".join(str(r["prefect_api_calls"]) for r in rounds),
        "server_5xx": sum(r["server_5xx"] for r in rounds),
        "failed_processes": sum(r["failed_processes"] for r in rounds),
    }


if __name__ == "__main__":  # python -m bench.processes [sqlite|postgres] (needs the lock's bench group)
    from prefect_vendortokens.testing import vendor_sandbox

    with vendor_sandbox() as running:
        out = four_processes(running, Account.of(running), database=(sys.argv[1:] or ["sqlite"])[0])
        print(json.dumps(out, indent=2))
