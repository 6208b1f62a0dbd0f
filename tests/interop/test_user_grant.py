"""A user-authorized block against a real third-party server (panva/oidc-provider), as a data
engineer runs it: saved with grant authorization_code and an issuer, authorized once with
``prefect-vendortokens authorize --no-browser``, then serving tokens to several processes whose
refreshes rotate the refresh token. That server revokes the whole grant when a used refresh
token comes back, so a single double use anywhere fails these tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_vendortokens import (
    AuthorizationRequiredError,
    VaultCredentials,
    VendorCredentials,
    clear_token_cache,
)
from prefect_vendortokens.blocks.events import AUTHORIZATION_REQUIRED
from prefect_vendortokens.testing.openbao import OpenBao

from .conftest import Interop
from .provider_server import authorize_command, redirect_params

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "prefect_vendortokens"]


def user_block(interop: Interop, name: str, **overrides) -> VendorCredentials:
    settings = {
        "vendor": "oauth2",
        "issuer": interop.issuer,
        "grant": "authorization_code",
        "client_id": "user-client",
        "client_secret": "user-secret",
        "scopes": ["openid", "offline_access", "api:read"],
        # The server keeps offline_access (and so issues a refresh token) only with prompt=consent.
        "authorization": {"extra_params": {"prompt": "consent"}},
        "token_store": {"kind": "prefect"},
        **overrides,
    }
    block = VendorCredentials(**settings)
    block.save(name, overwrite=True)
    return VendorCredentials.load(name, _sync=True)  # type: ignore[call-arg]


def _env() -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONPATH": str(ROOT)}


def authorize_with_cli(interop: Interop, block: str) -> dict:
    """``prefect-vendortokens authorize BLOCK --no-browser``: read the URL it prints, play the
    person in the provider's pages; the redirect reaches the command's loopback listener."""
    with authorize_command(block, interop.issuer, _env()) as run:
        params = redirect_params(run.url)
        assert params["redirect_uri"] == run.redirect_uri
        assert params["code_challenge_method"] == "S256" and params["prompt"] == "consent"
        redirect = interop.server.consent(run.url)
        assert redirect.startswith(run.redirect_uri + "?code=")
        result = run.result()
    assert "user-secret" not in json.dumps(result) + "".join(run.printed)
    return result


@pytest.fixture(params=["prefect", "vault"])
def store(request) -> Iterator[dict]:
    """The block's token store settings: Prefect's, or Vault's (OpenBao, with its own lock)."""
    if request.param == "prefect":
        yield {"token_store": {"kind": "prefect"}}
        return
    with OpenBao() as bao:
        vault = VaultCredentials(address=bao.address, auth_method="token", token="root")
        yield {"token_store": {"kind": "vault"}, "token_store_vault": vault}


def test_authorized_once_then_four_processes_refresh_in_rounds_without_reuse(
    prefect_server, interop: Interop, tmp_path: Path, store: dict
) -> None:
    kind = store["token_store"]["kind"]
    name = f"interop-user-{kind}"
    block = user_block(interop, name, **store)
    with pytest.raises(AuthorizationRequiredError, match="authorize"):  # before the consent
        block.get_token()
    clear_token_cache()

    result = authorize_with_cli(interop, name)
    assert result["refresh_token"] == "kept in the token store"
    assert result["store"] == kind

    parties, rounds = 4, 3
    workers = [
        subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                str(ROOT / "tests/workers/user_grant_rounds.py"),
                name,
                str(tmp_path),
                str(parties),
                str(rounds),
            ],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(parties)
    ]
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))

    assert interop.server.reuse_revocations() == []  # not one refresh token was sent twice
    fingerprints = [f for o in outputs for f in o["fingerprints"]]
    assert len(fingerprints) == parties * rounds
    assert len(set(fingerprints)) == parties * rounds  # each forced round got its own refresh
    assert sum(o["requests"] for o in outputs) == parties * rounds

    # The grant is alive: this process refreshes from the store's newest refresh token.
    clear_token_cache()
    token = VendorCredentials.load(name, _sync=True).get_token(force_refresh=True)  # type: ignore[call-arg]
    assert interop.server.introspect(token.secret())["active"] is True
    assert interop.server.reuse_revocations() == []
    # The refresh token lives only in the store's encrypted document: nowhere readable in
    # Prefect's database, logs, events or results.
    assert token.refresh_token is not None
    assert prefect_server.scan([token.secret(), token.refresh_token.get_secret_value(), "user-secret"]) == []


def test_rotation_flow_keeps_the_grant_alive(prefect_server, interop: Interop) -> None:
    """The rotation flow renews a user-authorized account through its refresh token (which the
    server rotates), and the next process carries on from the stored one."""
    from prefect_vendortokens.flows.rotation import rotate_tokens

    user_block(interop, "interop-rotated")
    authorize_with_cli(interop, "interop-rotated")
    stored = VendorCredentials.load("interop-rotated", _sync=True).manager()  # type: ignore[call-arg]
    first = stored.store.read(stored.store_key)  # type: ignore[union-attr]
    clear_token_cache()
    rows = rotate_tokens(block_names=["interop-rotated"], horizon_seconds=3600)
    assert [r["status"] for r in rows] == ["refreshed"]
    after = stored.store.read(stored.store_key)  # type: ignore[union-attr]
    assert after.refresh_token.get_secret_value() != first.refresh_token.get_secret_value()  # rotated
    clear_token_cache()
    token = VendorCredentials.load("interop-rotated", _sync=True).get_token(force_refresh=True)  # type: ignore[call-arg]
    assert interop.server.introspect(token.secret())["active"] is True
    assert interop.server.reuse_revocations() == []


def test_revoked_grant_is_a_typed_error_and_an_event(prefect_server, interop: Interop) -> None:
    """Revoke the grant the way the server does on theft (a used refresh token presented again):
    the block then raises AuthorizationRequiredError naming `authorize`, never the token, and a
    Prefect event tells Automations a person must act; `authorize` again brings it back."""
    import httpx

    block = user_block(interop, "interop-revoked")
    authorize_with_cli(interop, "interop-revoked")
    manager = block.manager()
    stored = manager.store.read(manager.store_key)  # type: ignore[union-attr]
    refresh = stored.refresh_token.get_secret_value()
    for _ in range(2):  # the second use is a reuse: the server revokes the whole grant
        httpx.post(
            interop.server.token_endpoint,
            data={"grant_type": "refresh_token", "refresh_token": refresh},
            auth=("user-client", "user-secret"),
            timeout=10,
        )
    assert interop.server.reuse_revocations(wait=10)
    interop.server.stderr.clear()

    clear_token_cache()
    block = VendorCredentials.load("interop-revoked", _sync=True)  # type: ignore[call-arg]
    with pytest.raises(AuthorizationRequiredError, match="run `prefect-vendortokens authorize`") as failed:
        block.get_token(force_refresh=True)
    assert failed.value.vendor_code == "invalid_grant"
    assert refresh not in str(failed.value)
    assert _events(AUTHORIZATION_REQUIRED, "interop-revoked"), "no authorization-required event"
    status = subprocess.run(  # noqa: S603 - what a person runs to see which grant needs them
        [*CLI, "status", "--json"], env=_env(), capture_output=True, text=True, timeout=300
    )
    row = next(r for r in json.loads(status.stdout) if r["block"] == "interop-revoked")
    assert row["grant"] == "authorization_code" and "AuthorizationRequiredError" in row["last_error"], row

    authorize_with_cli(interop, "interop-revoked")  # the person consents again
    clear_token_cache()
    token = VendorCredentials.load("interop-revoked", _sync=True).get_token()  # type: ignore[call-arg]
    assert interop.server.introspect(token.secret())["active"] is True


def test_cli_exit_codes_for_a_block_without_the_grant(prefect_server, interop: Interop) -> None:
    VendorCredentials(
        vendor="oauth2",
        issuer=interop.issuer,
        client_id="basic-client",
        client_secret="s3cr+t/with:odd%&= ~chars",
    ).save("interop-app", overwrite=True)
    done = subprocess.run(  # noqa: S603
        [*CLI, "authorize", "interop-app", "--no-browser", "--json"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "authorize is for grant authorization_code" in json.loads(done.stdout)["error"]


def _events(name: str, block: str) -> list[dict]:
    from prefect.client.orchestration import get_client
    from prefect.events.worker import EventsWorker

    from tests.conftest import PrefectServer  # noqa: F401 - the server flushes through its fixture

    EventsWorker.drain_all(timeout=10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            found = client.request(
                "POST", "/events/filter", json={"filter": {"event": {"name": [name]}}, "limit": 50}
            ).json()
        hits = [e for e in found.get("events", []) if (e.get("payload") or {}).get("block") == block]
        if hits:
            return hits
        time.sleep(0.5)
    return []
