"""`make demo`: the main job, end to end on this machine, then a summary table.

Starts the vendor emulation and an OpenBao dev server, uses an ephemeral Prefect server (a
private PREFECT_HOME), saves one block per vendor (Cobee's secret only in Vault) and a
user-authorized SlashID account (consented once), runs the rotation flow and every example
flow, prints (flow, vendor, API calls, token requests, result), and cleans up everything it
started. Exits non-zero if any flow failed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path


def _prefect_env(home: Path) -> None:
    # Before Prefect is imported: an ephemeral server on a throwaway database.
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.update(
        PREFECT_HOME=str(home),
        PREFECT_LOCAL_STORAGE_PATH=str(home / "storage"),
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL=os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
    )


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="vendortokens-demo-"))
    _prefect_env(home)

    import httpx

    from prefect_vendortokens import VaultCredentials, VendorCredentials, clear_token_cache
    from prefect_vendortokens.flows import (
        cobee_employees,
        resales_update_unit,
        rotate_tokens,
        slashid_userinfo,
        sqod_appointments,
        sqr_user_status,
    )
    from prefect_vendortokens.testing import VENDORS, OpenBao, vendor_sandbox

    rows: list[tuple[str, str, int, int, str]] = []
    failed = False
    try:
        with vendor_sandbox() as sandbox, OpenBao() as bao:
            print(f"vendor emulation at {sandbox.base_url}, OpenBao at {bao.address}")
            cobee = sandbox.credentials("cobee")
            bao.root().secrets.kv.v2.create_or_update_secret(
                "vendors/cobee", secret={"client_id": cobee.client_id, "client_secret": cobee.client_secret}
            )
            vault = VaultCredentials(address=bao.address, auth_method="token", token="root")
            for vendor in VENDORS:
                creds = sandbox.credentials(vendor)
                common = {"vendor": vendor, "token_url": sandbox.token_url(vendor)}
                if vendor == "slashid":
                    common["scopes"] = ["openid", "offline_access"]
                if vendor == "cobee":  # this one's secret lives only in Vault
                    block = VendorCredentials(**common, vault=vault, vault_path="vendors/cobee")
                else:
                    block = VendorCredentials(
                        **common, client_id=creds.client_id, client_secret=creds.client_secret
                    )
                block.save(f"demo-{vendor.replace('_', '-')}", overwrite=True)
            # A user's SlashID account (grant authorization_code): consented once, like
            # `prefect-vendortokens authorize demo-slashid-user`; the emulation consents at once.
            slashid = sandbox.credentials("slashid")
            VendorCredentials(
                vendor="slashid",
                token_url=sandbox.token_url("slashid"),
                client_id=slashid.client_id,
                client_secret=slashid.client_secret,
                scopes=["openid", "offline_access"],
                grant="authorization_code",
                authorization={"authorization_url": sandbox.authorize_url("slashid")},
            ).save("demo-slashid-user", overwrite=True)

            def authorize_user() -> dict[str, str]:
                block = VendorCredentials.load("demo-slashid-user")
                token = block.authorize(show_url=lambda url: httpx.get(url, follow_redirects=True), port=0)
                return {
                    "consent": "given",
                    "refresh_token": "in the store" if token.refresh_token else "none",
                }

            def run(name: str, vendor: str | None, call) -> None:
                nonlocal failed
                clear_token_cache()  # as if each flow ran in its own process: tokens come from the store
                before = {v: (sandbox.api_requests(v), sandbox.token_requests(v)) for v in VENDORS}
                try:
                    outcome = call()
                    result = (
                        "ok: " + ", ".join(f"{k}={v}" for k, v in outcome.items())
                        if isinstance(outcome, dict)
                        else f"ok: {len(outcome)} accounts"
                    )
                except Exception as exc:
                    failed = True
                    result = f"FAILED: {type(exc).__name__}: {exc}"[:100]
                picked = [vendor] if vendor else list(VENDORS)
                api = sum(sandbox.api_requests(v) - before[v][0] for v in picked)
                tokens = sum(sandbox.token_requests(v) - before[v][1] for v in picked)
                rows.append((name, vendor or "all", api, tokens, result))

            run("authorize (user grant)", "slashid", authorize_user)
            run("rotate-vendor-tokens", None, lambda: rotate_tokens(horizon_seconds=300))
            run("sqod-appointments", "sqod", lambda: sqod_appointments("demo-sqod", sandbox.api_url("sqod")))
            run("cobee-employees", "cobee", lambda: cobee_employees("demo-cobee", sandbox.api_url("cobee")))
            run(
                "slashid-userinfo",
                "slashid",
                lambda: slashid_userinfo("demo-slashid", sandbox.api_url("slashid")),
            )
            run(
                "slashid-userinfo (user)",
                "slashid",
                lambda: slashid_userinfo("demo-slashid-user", sandbox.api_url("slashid")),
            )
            run("sqr-user-status", "sqr", lambda: sqr_user_status("demo-sqr", sandbox.api_url("sqr")))
            run(
                "resales-update-unit",
                "resales_online",
                lambda: resales_update_unit(
                    "demo-resales-online", sandbox.api_url("resales_online"), 7, "A-101"
                ),
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)

    header = ("flow", "vendor", "API calls", "token requests", "result")
    table = [header, *[(a, b, str(c), str(d), e) for a, b, c, d, e in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print()
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
