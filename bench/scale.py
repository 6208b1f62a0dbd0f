"""``make bench-scale``: the rotation flow over N accounts on a Prefect server backed by
PostgreSQL, with the Prefect store and with the Vault store (OpenBao), and ``status`` over the
same accounts.

    python -m bench.scale [--accounts 10,100,1000] [--stores prefect,vault]
                          [--cases first,valid,renewed] [--skip-status] [--skip-workers]

Each (accounts, store) starts from nothing: a new PostgreSQL database, a new ``prefect server
start`` on it (and a new OpenBao for the Vault store), N blocks saved (timed apart: setup, not a
result). Then the cases, each run of the flow a new process as a deployment's runs are, over
every saved block:

- first: no stored token yet, every account due (horizon 60 s);
- valid: every stored token still valid (horizon 60 s), none due;
- renewed: every stored token due (horizon 7200 s > the emulation's 3600 s tokens), renewed with
  its refresh token, the schedule's case.

Measured per case: the flow's seconds, Prefect API calls (the server's access log) and Vault
calls (OpenBao's audit log) during the flow process, token requests (the emulation's count),
the flow process's peak RSS and CPU. Asserted per case (a failure exits 1 with the reasons, after
the table): every account in the flow's table and none failed; exactly one token request per
due account and none for the others; no refresh token presented twice (the emulation revokes
the grant: 0 revocations); every account's token read back from its store, unexpired, accepted
by the vendor's API, and the one the flow reported. Then ``prefect-vendortokens status --json``
over the same accounts, timed, every account listed with the stored token.

Printed: one table (accounts x store x case) and ``build/bench-scale.json``. ``--workers`` and
the freshness measure (``bench/workers.py``) follow unless ``--skip-workers``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect_vendortokens.testing import VendorSandbox, vendor_sandbox
from prefect_vendortokens.testing.prefect_server import prefect_server

from .child import ChildFailed, run, run_module
from .counting import Calls, Tail, prefect_calls, vault_calls
from .peers import Account
from .postgres import Postgres, postgres
from .report import describe, machine, table
from .vault import AuditedOpenBao
from .workers import freshness, workers

OUT = Path(__file__).resolve().parents[1] / "build" / "bench-scale.json"
VENDOR = "oauth2"
LIFETIME = 3600.0  # the emulation's oauth2 tokens
CASES = {  # case: (horizon seconds, every account due)
    "first": (60.0, True),
    "valid": (60.0, False),
    "renewed": (2 * LIFETIME, True),
}
MIN_TTL_AFTER = 600.0  # a token read back must still be valid this long


@dataclass
class Measure:
    """One flow run (or one ``status``) over the accounts of one store."""

    accounts: int
    store: str
    case: str
    seconds: float = 0.0  # the flow's own (status: the whole command's)
    process_seconds: float = 0.0  # the whole process, Python start-up and imports included
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    due: int = 0
    token_requests: int = 0
    prefect: Calls = field(default_factory=Calls)
    vault: Calls = field(default_factory=Calls)
    statuses: dict[str, int] = field(default_factory=dict)
    readback_seconds: float = 0.0  # the check after it, not part of the result
    failures: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        n = self.accounts
        return {
            "accounts": n,
            "store": self.store,
            "case": self.case,
            "seconds": round(self.seconds, 2),
            "seconds_per_account": round(self.seconds / n, 4),
            "process_seconds": round(self.process_seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "due_accounts": self.due,
            "token_requests": self.token_requests,
            "token_requests_per_due_account": round(self.token_requests / self.due, 3) if self.due else None,
            "prefect_api_calls": self.prefect.total,
            "prefect_api_calls_per_account": round(self.prefect.total / n, 2),
            "prefect_server_5xx": self.prefect.server_errors,
            "prefect_refused_4xx_5xx": self.prefect.refused,
            "prefect_websockets": self.prefect.websockets,
            "prefect_routes": self.prefect.top(),
            "vault_calls": self.vault.total,
            "vault_calls_per_account": round(self.vault.total / n, 2),
            "vault_refused": self.vault.refused,
            "vault_routes": self.vault.top(),
            "statuses": self.statuses,
            "readback_seconds": round(self.readback_seconds, 1),
            "failures": self.failures,
        }


@dataclass
class Logs:
    """Where the calls of one (accounts, store) arrive."""

    prefect: Tail
    vault: Tail | None

    def skip(self) -> None:
        self.prefect.take(settle=0.1)
        if self.vault:
            self.vault.take(settle=0.1)

    def count(self, measure: Measure) -> None:
        measure.prefect = prefect_calls(self.prefect.take())
        if self.vault:
            measure.vault = vault_calls(self.vault.take())


def _counts(sandbox: VendorSandbox) -> dict[str, int]:
    return sandbox.counts()[VENDOR]


@contextlib.contextmanager
def _server(
    pg: Postgres, store: str, size: int, home: Path, base: dict[str, str]
) -> Iterator[tuple[dict, Logs, Any]]:
    """A new database, Prefect server (and OpenBao for the Vault store) for one (store, size)."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(pg.database(f"scale_{store}_{size}"))
        bao = stack.enter_context(AuditedOpenBao()) if store == "vault" else None
        env = base | {
            "PREFECT_HOME": str(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": url,
            "PREFECT_SERVER_LOGGING_LEVEL": "INFO",  # the access log: a line per request
        }
        log = home / "server.log"
        _, env = stack.enter_context(prefect_server(env, log=log))
        yield env, Logs(Tail(log), Tail(bao.audit_log) if bao else None), bao


def _setup(
    size: int, store: str, account: Account, bao: Any, env: dict[str, str], home: Path, concurrency: int
) -> dict[str, Any]:
    spec = {
        "store": store,
        "count": size,
        "prefix": "scale",
        "concurrency": concurrency,
        "account": account.__dict__,
        "vault": {"address": bao.address, "token": "root"} if bao else None,
    }
    path = home / "setup.json"
    path.write_text(json.dumps(spec))
    path.chmod(0o600)  # the emulation's client secret
    done = run_module("bench.scale_setup", str(path), env=env, timeout=600 + size * 0.5)
    seconds = done.result()["seconds"]
    print(
        f"  setup: {size} blocks saved in {seconds:.1f} s ({seconds / size * 1000:.1f} ms a block)",
        flush=True,
    )
    return {
        "accounts": size,
        "store": store,
        "seconds": round(seconds, 2),
        "process_seconds": round(done.seconds, 2),
    }


def _rotate(
    case: str,
    size: int,
    store: str,
    sandbox: VendorSandbox,
    env: dict[str, str],
    logs: Logs,
    timeout: float,
    before: dict[str, str],
) -> tuple[Measure, dict[str, str]]:
    """One flow run and its checks; returns the measure and the fingerprints read back."""
    horizon, all_due = CASES[case]
    m = Measure(size, store, case, due=size if all_due else 0)
    counts = _counts(sandbox)
    logs.skip()
    try:
        done = run_module("bench.scale_rotate", str(horizon), env=env, timeout=timeout)
    except ChildFailed as exc:  # what it did until then is still counted (how far it got)
        logs.count(m)
        m.token_requests = _counts(sandbox)["token_requests"] - counts["token_requests"]
        m.seconds = m.process_seconds = exc.seconds
        m.failures.append(f"the flow process failed after {m.token_requests} token requests: {exc}")
        return m, before
    logs.count(m)
    after = _counts(sandbox)
    out = done.result()
    m.seconds, m.process_seconds = out["seconds"], done.seconds
    m.cpu_seconds, m.peak_rss_mb = done.cpu_seconds, done.peak_rss_mb
    m.statuses = out["statuses"]
    m.token_requests = after["token_requests"] - counts["token_requests"]
    check = m.failures.append
    if out["accounts"] != size:
        check(f"the flow's table has {out['accounts']} accounts, not {size}")
    if out["errors"]:
        check(f"{m.statuses.get('failed', 0)} accounts failed, e.g. " + "; ".join(out["errors"]))
    wanted = "refreshed" if all_due else "still valid"
    if m.statuses.get(wanted, 0) != size:
        check(f"{m.statuses.get(wanted, 0)} of {size} accounts {wanted} (statuses {m.statuses})")
    if m.token_requests != m.due:
        check(f"{m.token_requests} token requests for {m.due} due accounts (exactly one each wanted)")
    for counter in ("refresh_reuse", "grants_revoked"):
        if after[counter] != counts[counter]:
            check(
                f"{after[counter] - counts[counter]} {counter.replace('_', ' ')} (a refresh token sent twice)"
            )

    checked = run_module(
        "bench.scale_readback",
        sandbox.api_url(VENDOR) + "/resource",
        str(MIN_TTL_AFTER),
        env=env,
        timeout=600 + size * 0.2,
    )
    read, m.readback_seconds = checked.result(), checked.seconds
    logs.skip()  # the read-back's calls are not the flow's
    if read["accounts"] != size or read["valid"] != size:
        check(
            f"{read['valid']} of {read['accounts']} accounts have a valid token in the store, e.g. "
            + "; ".join(read["problems"])
        )
    stored = read["fingerprints"]
    differ = sum(stored.get(b) != fp for b, fp in out["fingerprints"].items())
    if differ:
        check(f"{differ} accounts' stored token is not the one the flow reported")
    if before:
        changed = sum(stored.get(b) != fp for b, fp in before.items())
        if all_due and changed != size:
            check(f"{size - changed} accounts kept their previous token though all were due")
        if not all_due and changed:
            check(f"{changed} accounts got a new token though none was due")
    return m, stored


def _status(
    size: int,
    store: str,
    env: dict[str, str],
    logs: Logs,
    stored: dict[str, str],
    sandbox: VendorSandbox,
    timeout: float,
) -> Measure:
    m = Measure(size, store, "status")
    cli = str(Path(sys.executable).parent / "prefect-vendortokens")
    counts = _counts(sandbox)
    logs.skip()
    try:
        done = run([cli, "status", "--json"], env=env, timeout=timeout)
    except ChildFailed as exc:
        logs.count(m)
        m.failures.append(f"status failed: {exc}")
        return m
    logs.count(m)
    m.seconds = m.process_seconds = done.seconds
    m.cpu_seconds, m.peak_rss_mb = done.cpu_seconds, done.peak_rss_mb
    m.token_requests = _counts(sandbox)["token_requests"] - counts["token_requests"]
    rows = json.loads(done.stdout)
    listed = {r["block"]: r["fingerprint"] for r in rows}
    if len(listed) != size:
        m.failures.append(f"status listed {len(listed)} accounts, not {size}")
    if stored:
        wrong = sum(listed.get(b) != fp for b, fp in stored.items())
        if wrong:
            m.failures.append(f"status shows another token than the store's for {wrong} accounts")
    if m.token_requests:
        m.failures.append(f"status made {m.token_requests} token requests (it must ask no vendor)")
    return m


def measure_store(
    pg: Postgres,
    sandbox: VendorSandbox,
    size: int,
    store: str,
    args: argparse.Namespace,
    base: dict[str, str],
) -> tuple[dict[str, Any], list[Measure]]:
    print(f"\n{size} accounts, {store} store", flush=True)
    home = Path(tempfile.mkdtemp(prefix=f"bench-scale-{store}-{size}-"))
    timeout = args.case_timeout or 300 + 1.5 * size
    measures: list[Measure] = []
    with _server(pg, store, size, home, base) as (env, logs, bao):
        setup = _setup(size, store, Account.of(sandbox), bao, env, home, args.setup_concurrency)
        stored: dict[str, str] = {}
        for case in args.cases:
            m, stored = _rotate(case, size, store, sandbox, env, logs, timeout, stored)
            measures.append(m)
            _say(m)
            time.sleep(args.settle)  # the server's event persister catches up, as between schedules
        if not args.skip_status:
            m = _status(size, store, env, logs, stored, sandbox, timeout)
            measures.append(m)
            _say(m)
    return setup, measures


def _say(m: Measure) -> None:
    per = m.seconds / m.accounts
    vault = f", {m.vault.total / m.accounts:.1f} Vault" if m.store == "vault" else ""
    calls = f"{m.prefect.total / m.accounts:.1f} Prefect{vault} calls/account"
    print(
        f"  {m.case}: {m.seconds:.1f} s ({per:.3f} s/account), {calls}"
        f", {m.token_requests} token requests, peak RSS {m.peak_rss_mb:.0f} MB"
        + ("".join(f"\n    FAILED: {f}" for f in m.failures)),
        flush=True,
    )


def _figure(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def print_table(measures: list[Measure], setups: list[dict[str, Any]]) -> None:
    rows = []
    for m in measures:
        n = m.accounts
        rows.append(
            (
                f"{n:,}",
                m.store,
                m.case,
                _figure(m.seconds),
                f"{m.seconds / n:.4f}",
                f"{m.prefect.total / n:.1f}",
                f"{m.vault.total / n:.1f}" if m.store == "vault" else "-",
                f"{m.token_requests / m.due:.2f}" if m.due else str(m.token_requests),
                f"{m.peak_rss_mb:.0f}",
                str(m.prefect.server_errors),
                "ok" if not m.failures else "FAILED",
            )
        )
    header = (
        "accounts",
        "store",
        "case",
        "seconds",
        "s/account",
        "Prefect calls/acct",
        "Vault calls/acct",
        "token req/due acct",
        "peak RSS MB",
        "5xx",
        "checks",
    )
    table(
        "rotation at scale (Prefect server on PostgreSQL; status: the whole command)", header, rows, right=3
    )
    table(
        "setup, not part of the result: blocks saved",
        ("accounts", "store", "seconds", "ms/block"),
        [
            (
                f"{s['accounts']:,}",
                s["store"],
                f"{s['seconds']:.1f}",
                f"{s['seconds'] / s['accounts'] * 1000:.1f}",
            )
            for s in setups
        ],
        right=2,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", default="10,100,1000", help="account counts, comma separated")
    parser.add_argument("--stores", default="prefect,vault", help="token stores, comma separated")
    parser.add_argument("--cases", default="first,valid,renewed", help="cases in this order, comma separated")
    parser.add_argument("--skip-status", action="store_true", help="do not time `status` at each size")
    parser.add_argument(
        "--case-timeout",
        type=float,
        default=0.0,
        help="seconds a flow run may take (0: 300 + 1.5 per account)",
    )
    parser.add_argument("--setup-concurrency", type=int, default=16, help="block creations in flight at once")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds between cases")
    parser.add_argument(
        "--skip-workers", action="store_true", help="skip the many-workers and freshness measures"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker-accounts", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--lifetime", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=10, help="API calls per flow run")
    parser.add_argument("--fresh-lifetime", type=float, default=3.0)
    parser.add_argument("--fresh-seconds", type=float, default=30.0)
    args = parser.parse_args()
    args.cases = [c for c in args.cases.split(",") if c]
    unknown = set(args.cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; known: {', '.join(CASES)}")
    sizes = [int(s) for s in args.accounts.split(",") if s]
    stores = [s for s in args.stores.split(",") if s]

    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "args": {k: v for k, v in vars(args).items()},
    }
    print(describe(report["machine"]), flush=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    measures: list[Measure] = []
    setups: list[dict[str, Any]] = []
    with postgres() as pg, vendor_sandbox() as sandbox:
        sandbox.set_token_lifetime(LIFETIME, VENDOR)
        for size in sizes:
            for store in stores:
                setup, done = measure_store(pg, sandbox, size, store, args, base)
                setups.append(setup)
                measures += done
        if not args.skip_workers:
            home = Path(tempfile.mkdtemp(prefix="bench-scale-workers-"))
            with pg.database("workers") as url:
                env = base | {
                    "PREFECT_HOME": str(home),
                    "PREFECT_API_DATABASE_CONNECTION_URL": url,
                    "PREFECT_LOGGING_LEVEL": "WARNING",
                }
                with prefect_server(env, log=home / "server.log") as (_, env):
                    account = Account.of(sandbox)
                    sandbox.set_token_lifetime(args.lifetime, VENDOR)
                    report["workers"] = workers(args, account, sandbox, env)
                    print(json.dumps(report["workers"], indent=2), flush=True)
                    report["freshness"] = freshness(args, account, sandbox, env, home)
                    print(json.dumps(report["freshness"], indent=2), flush=True)
    report["setup"] = setups
    report["rotation"] = [m.as_json() for m in measures]
    print_table(measures, setups)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {OUT}")
    failures = [
        f"{m.accounts} accounts, {m.store} store, {m.case}: {f}" for m in measures for f in m.failures
    ]
    if failures:
        print("\nFAILED checks:\n" + "\n".join(f"  {f}" for f in failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
