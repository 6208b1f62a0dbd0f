"""``make bench``: ours against authlib and httpx-auth on the same emulation in one process.
Prints a table with the machine it ran on and writes ``build/bench.json``.

    python -m bench.run [--seconds 12] [--skip-processes]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from prefect_vendortokens.testing import vendor_sandbox

from . import measures
from .peers import Account
from .processes import four_processes, summary
from .report import describe, machine, table

OUT = Path(__file__).resolve().parents[1] / "build" / "bench.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=12.0, help="length of the over-time measure")
    parser.add_argument("--skip-processes", action="store_true", help="skip the 4-process measure")
    parser.add_argument(
        "--handoff-db", default="sqlite", choices=("sqlite", "postgres"), help="the hand-off's Prefect server"
    )
    parser.add_argument("--handoff-rounds", type=int, default=3, help="rounds of each hand-off (medians)")
    args = parser.parse_args()

    report: dict = {"machine": machine()}
    with vendor_sandbox() as sandbox:
        account = Account.of(sandbox)
        report["cold_single_flight"] = measures.cold_single_flight(sandbox, account)
        report["tokens_over_time"] = measures.tokens_over_time(sandbox, account, args.seconds)
        if not args.skip_processes:
            report["four_processes"] = four_processes(
                sandbox, account, rounds=args.handoff_rounds, database=args.handoff_db
            )
        report["cached_per_call_us"] = measures.cached_per_call(account)
        report["auth_flow_us"] = measures.auth_flow_overhead(account)
        report["overhead_sync"] = measures.overhead_per_request(account)
        report["overhead_async"] = asyncio.run(measures.overhead_per_request_async(account))

    print(describe(report["machine"]))
    counts = [
        ("32 threads + 256 coroutines, cold cache", report["cold_single_flight"]),
        (
            f"16 threads x {args.seconds:g} s of API calls, 4 s tokens",
            {k: v["token_requests"] for k, v in report["tokens_over_time"].items()},
        ),
    ]
    if "four_processes" in report:
        counts.append(("4 processes at once (ours: Prefect store)", report["four_processes"]))
    table(
        "token requests",
        ("measure", "ours", "authlib", "httpx-auth"),
        [(name, *(str(c[p]) for p in ("ours", "authlib", "httpx-auth"))) for name, c in counts],
    )
    if "four_processes" in report:
        cross = report["four_processes"]
        rows = []
        for run in cross["runs"]:
            row = summary(run)
            rows.append(
                (
                    run["who"],
                    str(run["processes"]),
                    f"{row['all_have_it_median_s']:.2f}" if row["all_have_it_median_s"] is not None else "-",
                    f"{row['all_have_it_max_s']:.2f}" if row["all_have_it_max_s"] is not None else "-",
                    row["token_requests"],
                    row["distinct_tokens"] if run["who"].startswith("ours") else "-",
                    row["prefect_api_calls"] if "Prefect" in run["who"] else "-",
                    str(row["server_5xx"]),
                    str(row["failed_processes"]),
                )
            )
        table(
            f"cross-process hand-off: processes asking at once, token endpoint {cross['token_delay_s']:g} s, "
            f"{cross['server_database']} Prefect server; {cross['rounds']} rounds (a new account each): "
            "seconds until every process has a token (median, max), per-round counts, server 5xx "
            "from its access log",
            (
                "who",
                "processes",
                "all have it s",
                "max s",
                "token requests",
                "distinct tokens",
                "Prefect calls",
                "server 5xx",
                "failed",
            ),
            rows,
            right=1,
        )
    cached = report["cached_per_call_us"]
    authlib = cached["authlib ensure_active_token"]
    table(
        "cached token, per call",
        ("path", "us", "vs authlib"),
        [(k, f"{v:.2f}", f"{v / authlib:.2f}x") for k, v in cached.items()],
    )
    flow = report["auth_flow_us"]
    table(
        "auth flow per request, no network",
        ("auth", "us per request", "vs static header"),
        [(k, f"{v['us_per_request']:.2f}", f"{v['overhead_us']:+.2f}") for k, v in flow.items()],
    )
    for key, title in (
        ("overhead_sync", "per loopback API call end to end, sync"),
        ("overhead_async", "per loopback API call end to end, async"),
    ):
        rows = [
            (k, f"{v['us_per_request']:.1f}", f"{v['overhead_us']:+.1f}", f"{v['ratio']:.3f}x")
            for k, v in report[key].items()
        ]
        table(title, ("client", "us per request", "vs static header", "ratio"), rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
