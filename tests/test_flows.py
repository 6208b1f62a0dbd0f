"""The rotation flow, the example flows, and the proofs that nothing secret is persisted."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from prefect_vendortokens import VaultCredentials, VendorCredentials, clear_token_cache
from prefect_vendortokens.flows import (
    RotationFailed,
    cobee_employees,
    resales_update_unit,
    rotate_tokens,
    slashid_userinfo,
    sqod_appointments,
    sqr_user_status,
)
from prefect_vendortokens.testing import VENDORS, OpenBao

from .conftest import SCOPES

ROOT = Path(__file__).resolve().parents[1]


def save_accounts(
    sandbox, prefix: str, vault: VaultCredentials | None = None, bao: OpenBao | None = None
) -> dict:
    """One block per vendor (Cobee's secret in Vault when given), shared Prefect token store."""
    names = {}
    for vendor in VENDORS:
        creds = sandbox.credentials(vendor)
        common = {
            "vendor": vendor,
            "token_url": sandbox.token_url(vendor),
            "scopes": list(SCOPES.get(vendor, ())),
        }
        if vendor == "cobee" and vault is not None:
            bao.root().secrets.kv.v2.create_or_update_secret(
                f"vendors/{prefix}-cobee",
                secret={"client_id": creds.client_id, "client_secret": creds.client_secret},
            )
            block = VendorCredentials(**common, vault=vault, vault_path=f"vendors/{prefix}-cobee")
        else:
            block = VendorCredentials(**common, client_id=creds.client_id, client_secret=creds.client_secret)
        names[vendor] = f"{prefix}-{vendor.replace('_', '-')}"
        block.save(names[vendor], overwrite=True)
    return names


def run_examples(sandbox, names: dict) -> list[dict]:
    return [
        sqod_appointments(names["sqod"], sandbox.api_url("sqod"), per_page=10),
        cobee_employees(names["cobee"], sandbox.api_url("cobee")),
        slashid_userinfo(names["slashid"], sandbox.api_url("slashid")),
        sqr_user_status(names["sqr"], sandbox.api_url("sqr")),
        resales_update_unit(names["resales_online"], sandbox.api_url("resales_online"), 7, "A-101"),
    ]


def latest_rotation_table() -> str:
    from prefect.client.orchestration import get_client

    body = {
        "artifacts": {"key": {"any_": ["vendor-token-rotation"]}},
        "sort": "CREATED_DESC",
        "limit": 1,
        "offset": 0,
    }
    with get_client(sync_client=True) as client:
        artifacts = client.request("POST", "/artifacts/filter", json=body).json()
    return artifacts[0]["data"]


@pytest.mark.parametrize("batch_size", [None, 3])
def test_rotation_flow_reports_every_account_and_fails_at_the_end(
    prefect_server, sandbox, batch_size
) -> None:
    """A task per account (the default for few accounts), and batches of 3 accounts per task:
    the same table, the same failures, the same one token request per account."""
    prefix = "rot" if batch_size is None else "rotb"
    names = save_accounts(sandbox, prefix)
    creds = sandbox.credentials("sqr")
    VendorCredentials(
        vendor="sqr",
        token_url=sandbox.token_url("sqr"),
        client_id=creds.client_id,
        client_secret="sqr-rotation-WRONG-secret",
    ).save(f"{prefix}-broken", overwrite=True)
    every = [*names.values(), f"{prefix}-broken", f"{prefix}-missing"]
    before = {v: sandbox.token_requests(v) for v in VENDORS}
    with pytest.raises(RotationFailed, match=rf"2 of 8 accounts failed: {prefix}-broken: .*invalid_client"):
        rotate_tokens(block_names=every, horizon_seconds=60, batch_size=batch_size)
    if batch_size is None:  # a named task run per account
        assert task_run_names(f"rotate-{names['sqod']}") == [f"rotate-{names['sqod']}"]
    else:  # one per batch of 3, named by its number and first block
        for number, first in ((1, every[0]), (2, every[3]), (3, every[6])):
            assert task_run_names(f"rotate-batch-{number}-{first}") == [f"rotate-batch-{number}-{first}"]
    table = latest_rotation_table()
    for vendor, name in names.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| {name} |"))
        assert f"| {vendor} |" in row and "| refreshed |" in row and "sha256:" in row
    broken = next(line for line in table.splitlines() if line.startswith(f"| {prefix}-broken |"))
    assert "| sqr |" in broken and "| failed |" in broken
    assert "| CredentialsRejectedError: invalid_client (HTTP 401) |" in broken  # a short cell...
    details = table.split("### Errors", 1)[1]  # ...and the whole message below the table
    assert f"- **{prefix}-broken**: vendor rejected the client credentials" in details
    assert "sqr-rotation-WRONG-secret" not in table
    missing = next(line for line in table.splitlines() if line.startswith(f"| {prefix}-missing |"))
    assert "| failed |" in missing and "| BlockNotFoundError |" in missing
    assert f"- **{prefix}-missing**: no Vendor Credentials block named '{prefix}-missing'" in details
    assert all(sandbox.token_requests(v) - before[v] == 1 for v in VENDORS if v != "sqr")

    clear_token_cache()  # a later run in another process: everything comes from the store
    rows = rotate_tokens(block_names=list(names.values()), horizon_seconds=60, batch_size=batch_size)
    assert {r["status"] for r in rows} == {"still valid"}
    assert all(sandbox.token_requests(v) - before[v] == 1 for v in VENDORS if v != "sqr")


def task_run_names(containing: str) -> list[str]:
    from prefect.client.orchestration import get_client

    body = {"task_runs": {"name": {"like_": containing}}, "limit": 50}  # like_: a substring
    with get_client(sync_client=True) as client:
        return [r["name"] for r in client.request("POST", "/task_runs/filter", json=body).json()]


def test_rotation_error_cell_leaves_out_invalid_input() -> None:
    from pydantic import ValidationError

    from prefect_vendortokens.flows.rotation import describe_failure

    with pytest.raises(ValidationError) as info:
        VendorCredentials(vendor="sqr", client_id="id", client_secret=["CANARY-not-a-string"])
    cell = describe_failure(info.value)
    assert "CANARY" not in str(info.value)  # the block hides the input from pydantic's message...
    assert "CANARY" in str(info.value.errors())  # ...not from its details, which we describe:
    assert cell.startswith("invalid block: client_secret") and "CANARY" not in cell


def test_rotation_artifact_at_scale_is_a_summary_then_failures_first(monkeypatch) -> None:
    """Past TABLE_ROWS rows the markdown keeps a summary line, the failures first and a count
    of the rest (all rows go to the table artifact); the errors in full below."""
    from prefect_vendortokens.flows import rotation

    monkeypatch.setattr(rotation, "TABLE_ROWS", 3)
    row = {"vendor": "sqr", "fingerprint": "sha256:x", "expires_at": "", "error": "", "error_summary": ""}
    rows = [{**row, "block": f"ok-{i}", "status": "still valid"} for i in range(4)]
    rows += [{**row, "block": "new", "status": "refreshed"}]
    rows += [{**row, "block": "bad", "status": "failed", "error": "vendor said no", "error_summary": "E"}]
    text = rotation._markdown(rows)
    lines = text.splitlines()
    assert lines[0] == "**6 accounts**: 1 failed, 1 refreshed, 4 still valid"
    table = [line for line in lines if line.startswith("| ") and not line.startswith("| block")]
    assert [line.split(" | ")[0] for line in table] == ["| bad", "| new", "| ok-0"]
    assert "3 more rows (failures come first)" in text and rotation.TABLE_KEY in text
    assert text.endswith("- **bad**: vendor said no")

    short = rotation._markdown(rows[:2])
    assert "more rows" not in short and "### Errors" not in short


def test_rotation_discovers_blocks_by_type(prefect_server, sandbox) -> None:
    from prefect_vendortokens.flows import vendor_block_names

    names = save_accounts(sandbox, "disc")
    assert set(names.values()) <= set(vendor_block_names())


def test_listings_page_through_every_document(prefect_server, sandbox, monkeypatch) -> None:
    """The listings ask for pages (a server answers 200 at most); with pages of 2 the blocks
    and the stored tokens come out whole, the same as Prefect's own unpaged read."""
    from prefect.client.orchestration import get_client

    from prefect_vendortokens.blocks.survey import survey
    from prefect_vendortokens.flows import vendor_block_names
    from prefect_vendortokens.stores import prefect_listing
    from prefect_vendortokens.stores.prefect_block import PrefectTokenStore

    names = save_accounts(sandbox, "paged")
    rotate_tokens(block_names=list(names.values()), horizon_seconds=60)
    with get_client(sync_client=True) as client:
        every = client.read_block_documents_by_type("vendor-credentials", include_secrets=False)
        tokens = client.read_block_documents_by_type("vendor-token", include_secrets=False)
    monkeypatch.setattr(prefect_listing, "PAGE", 2)
    assert vendor_block_names() == sorted(d.name for d in every if not d.is_anonymous)
    assert set(PrefectTokenStore.read_all()) == {d.name for d in tokens if not d.is_anonymous}
    found = survey(list(names.values()))
    assert set(found.blocks) == set(names.values()) and not found.errors
    assert all(found.stored[name].token is not None for name in names.values())


def test_every_example_flow_calls_its_api(prefect_server, sandbox) -> None:
    names = save_accounts(sandbox, "ex")
    results = run_examples(sandbox, names)
    assert results[0]["appointments"] == 23 and results[1]["employees"] == 3
    assert results[2]["sub"].startswith("user-") and results[3]["users"] == 25 and results[4]["success"]
    assert all(sandbox.token_requests(v) == 1 for v in VENDORS if v != "oauth2")


def test_example_flows_survive_429_5xx_401_and_expiry(prefect_server, sandbox) -> None:
    names = save_accounts(sandbox, "rough")
    sandbox.fail_next_api("sqr", 1, status=429, retry_after=1)
    sandbox.fail_next_api("sqr", 1, status=503)
    assert sqr_user_status(names["sqr"], sandbox.api_url("sqr"))["users"] == 25
    assert sandbox.api_requests("sqr") == 3 + 2  # three pages and two retried answers

    assert slashid_userinfo(names["slashid"], sandbox.api_url("slashid"))["sub"]
    sandbox.revoke_all("slashid")  # mid-flow 401: renewed and replayed inside the task
    assert slashid_userinfo(names["slashid"], sandbox.api_url("slashid"))["sub"]

    # Tokens replaced many times during one flow run: 4 s tokens renewed once under 3.5 s are
    # left, so each lives 0.5 s in use, yet a call may stall 3.5 s (the SQLite test server does,
    # under a store write) before its token expires. (1 s tokens once let a stall eat the margin.)
    sandbox.set_token_lifetime(4, "sqod")
    block = VendorCredentials.load(names["sqod"])
    block.http = block.http.model_copy(update={"refresh_margin": 3.5})
    block.save(names["sqod"], overwrite=True)
    before = sandbox.token_requests("sqod")
    result = sqod_appointments(names["sqod"], sandbox.api_url("sqod"), per_page=1, max_pages=30)
    assert result["appointments"] == 23 and sandbox.token_requests("sqod") - before >= 2


@dataclass
class GrantAccounts:
    names: dict[str, str]  # as save_accounts returns them: vendor -> block name
    secrets: list[str]  # the password, the client secret, a line of each private key


@contextlib.contextmanager
def grant_accounts(prefix: str) -> Iterator[GrantAccounts]:
    """A password-grant block (authlib's server) and a Google key-file block (the Google-like
    server), saved in Prefect: the new grants' secrets join the canary scan."""
    from joserfc.jwk import RSAKey

    from .interop.grant_servers import grant_server

    password, client_secret = "pw-CANARY-horse-5e1d", "pw-client-CANARY-77a0"
    key = RSAKey.generate_key(2048)
    private, public = key.as_pem(private=True).decode(), key.as_pem(private=False).decode()
    email = "canary@vendortokens-test.iam.gserviceaccount.com"
    pw_client = {
        "client_id": "pw-client",
        "client_secret": client_secret,
        "auth_method": "client_secret_basic",
        "grant_types": ["password"],
        "scope": "api:read",
    }
    with (
        grant_server("authlib", {"users": {"alice": password}, "clients": [pw_client]}) as authlib,
        grant_server("google", {"accounts": {email: {"k1": public}}}) as google,
    ):
        key_file = {
            "type": "service_account",
            "private_key_id": "k1",
            "private_key": private,
            "client_email": email,
            "token_uri": google + "/token",
        }
        VendorCredentials(
            vendor="oauth2",
            token_url=authlib + "/token",
            client_id="pw-client",
            client_secret=client_secret,
            grant="password",
            username="alice",
            password=password,
            scopes=["api:read"],
        ).save(f"{prefix}-password", overwrite=True)
        VendorCredentials(
            vendor="google",
            grant="jwt_bearer",
            service_account_key=json.dumps(key_file),
            scopes=["https://www.googleapis.com/auth/cloud-platform"],
        ).save(f"{prefix}-google", overwrite=True)
        yield GrantAccounts(
            {"password": f"{prefix}-password", "google": f"{prefix}-google"},
            [password, client_secret, private.strip().splitlines()[5]],
        )


def test_canary_scan_nothing_secret_anywhere(prefect_server, sandbox, caplog, capfd) -> None:
    """Rotation and every example flow, results persisted by default, DEBUG logs, a failing
    vendor among them: no client secret, access token or refresh token in the database, the
    result storage or the logs."""
    from prefect.settings import PREFECT_RESULTS_PERSIST_BY_DEFAULT, temporary_settings

    caplog.set_level(logging.DEBUG)
    for name in ("prefect", "prefect_vendortokens", "httpx", "httpcore", "hvac", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    wrong = "cobee-WRONG-secret-CANARY-91c2"
    stored_before = {p for p in prefect_server.storage.rglob("*") if p.is_file()}
    with (
        OpenBao() as bao,
        temporary_settings({PREFECT_RESULTS_PERSIST_BY_DEFAULT: True}),
        grant_accounts("canary") as grant_secrets,
    ):
        vault = VaultCredentials(address=bao.address, auth_method="token", token="root")
        names = save_accounts(sandbox, "canary", vault=vault, bao=bao) | grant_secrets.names
        creds = sandbox.credentials("cobee")
        VendorCredentials(
            vendor="cobee",
            token_url=sandbox.token_url("cobee"),
            client_id=creds.client_id,
            client_secret=wrong,
        ).save("canary-broken", overwrite=True)
        with pytest.raises(RotationFailed):
            rotate_tokens(block_names=[*names.values(), "canary-broken"], horizon_seconds=60)
        clear_token_cache()
        run_examples(sandbox, names)
    written = {p for p in prefect_server.storage.rglob("*") if p.is_file()} - stored_before
    assert written, "results should have been persisted for the scan to mean something"
    secrets = [wrong, *grant_secrets.secrets, *sandbox.issued_secrets()]
    assert len(secrets) > 10
    assert prefect_server.scan(secrets) == []
    out, err = capfd.readouterr()  # anything printed (Prefect's console handler predates capture)
    logs, db_logs = caplog.text, prefect_server.log_text()
    assert "canary-broken" in logs and "canary-broken" in db_logs  # there were logs to scan
    assert "DEBUG" in logs
    assert "store failed" not in logs and "did not answer within" not in logs  # the store worked
    for text in (logs, out, err, db_logs):
        assert [s[:8] for s in secrets if s in text] == []


def test_rotation_keeps_tokens_fresh_for_other_processes(prefect_server, sandbox, tmp_path) -> None:
    """The rotation flow, started every second (back to back when a run takes longer) in its
    own process, keeps the shared tokens fresh: example flows running meanwhile in another
    process find a valid token in the store every time and ask the vendor for none.

    Time scale: a rotation flow run takes 1.1-3.4 s on these 2-core machines, and the Prefect
    test server (SQLite) now and then stalls every client for 10-16 s under this load, so short
    tokens cannot survive here (``make bench-scale`` runs this proof at 3 s tokens on
    PostgreSQL). The rotation renews every token older than 3 s (60 s tokens, horizon 57 s);
    readers accept tokens with more than 10 s left, so only a stall of over 45 s could make the
    example flows ask the vendor. Counts, not rates: at least one renewal per account while the
    examples ran, and every token request of the period the rotation's.
    """
    from prefect.settings import PREFECT_API_URL

    sandbox.set_token_lifetime(60)
    names = save_accounts(sandbox, "fresh")
    accounts = [names["sqod"], names["sqr"]]
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONPATH": str(ROOT)}
    stop_file = tmp_path / "stop"
    rotation = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "tests/workers/rotation_loop.py"), str(stop_file), "57", *accounts],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert rotation.stdout.readline().strip() == "ready"  # the first run has stored the tokens
        before = {v: sandbox.token_requests(v) for v in ("sqod", "sqr")}
        examples = subprocess.run(  # noqa: S603
            [
                sys.executable,
                str(ROOT / "tests/workers/examples_loop.py"),
                names["sqod"],
                sandbox.api_url("sqod"),
                names["sqr"],
                sandbox.api_url("sqr"),
                "24",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
    finally:
        stop_file.touch()
        out, err = rotation.communicate(timeout=120)
    assert examples.returncode == 0, examples.stderr[-3000:]
    assert rotation.returncode == 0, err[-3000:]
    report = json.loads(examples.stdout.strip().splitlines()[-1])
    rotated = json.loads(out.strip().splitlines()[-1])
    assert report["runs"] >= 3, report
    assert report["requests"] == 0, (report, rotated)  # the example flows' process asked no vendor
    during = sum(sandbox.token_requests(v) - before[v] for v in ("sqod", "sqr"))
    assert during >= 2, rotated  # the rotation kept replacing the accounts' tokens meanwhile
    assert during <= rotated["refreshed"]  # every token request of the period was the rotation's


async def test_async_api_task(prefect_server, sandbox) -> None:
    import asyncio

    from prefect import flow

    from prefect_vendortokens.tasks.api import acall_api

    names = await asyncio.to_thread(save_accounts, sandbox, "async-api")  # save() is async here
    sandbox.fail_next_api("oauth2", 1, status=503)

    @flow
    async def call() -> dict:
        return await acall_api(names["oauth2"], "GET", f"{sandbox.api_url('oauth2')}/resource")

    assert (await call())["ok"] is True
    assert sandbox.api_requests("oauth2") == 2
