"""Bound tokens as blocks, against oidc-provider in another process: a DPoP-bound and a
certificate-bound (mTLS) user grant authorized from Python, then used by ``get_client()`` for
userinfo calls the server verifies (DPoP proof with ``ath`` and its nonce; the certificate's
``x5t#S256``); the DPoP key kept with the token in the shared store, proved by four processes
refreshing the rotating, key-bound grant; mTLS with the key in Vault (OpenBao); and neither the
DPoP private key nor the client certificate's key anywhere in Prefect's database, results,
events or logs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prefect_vendortokens import VaultCredentials, VendorCredentials, clear_token_cache
from prefect_vendortokens.core.dpop import DPoPKey
from prefect_vendortokens.core.mtls import certificate_thumbprint
from prefect_vendortokens.testing.openbao import OpenBao, free_port

from .conftest import Interop
from .test_user_grant import ROOT, _env

USER_SCOPES = ["openid", "offline_access"]


def _metadata(interop: Interop) -> dict:
    return httpx.get(interop.issuer + "/.well-known/openid-configuration", timeout=10).json()


def _pem_body(pem: str) -> str:
    return pem.strip().splitlines()[2]  # a line of the key's base64, not its header


def _private_d(token_key: str) -> str:
    return json.loads(token_key)["d"]


def _authorize(interop: Interop, block: VendorCredentials):
    def browser(url: str) -> None:  # the redirect must reach the listener after authorize() waits
        threading.Thread(target=interop.server.consent, args=(url,), daemon=True).start()

    return block.authorize(show_url=browser, port=free_port(), timeout=60)


def _saved(name: str, **settings) -> VendorCredentials:
    VendorCredentials(**settings).save(name, overwrite=True)
    return VendorCredentials.load(name, _sync=True)  # type: ignore[call-arg]


def _dpop_block(interop: Interop, name: str, **store) -> VendorCredentials:
    return _saved(
        name,
        vendor="oauth2",
        issuer=interop.issuer,
        grant="authorization_code",
        client_id="dpop-public",
        client_auth={"method": "none"},
        dpop=True,
        scopes=USER_SCOPES,
        authorization={"extra_params": {"prompt": "consent"}},
        **(store or {"token_store": {"kind": "prefect"}}),
    )


@pytest.fixture(params=["prefect", "vault"])
def store(request) -> Iterator[dict]:
    """The block's token store: Prefect's, or Vault's (OpenBao)."""
    if request.param == "prefect":
        yield {"token_store": {"kind": "prefect"}}
        return
    with OpenBao() as bao:
        vault = VaultCredentials(address=bao.address, auth_method="token", token="root")
        yield {"token_store": {"kind": "vault"}, "token_store_vault": vault}


def test_dpop_bound_token_used_by_get_client_and_kept_with_its_key(
    prefect_server, interop: Interop, caplog, capfd, store: dict
) -> None:
    from prefect.settings import PREFECT_RESULTS_PERSIST_BY_DEFAULT, temporary_settings

    from prefect_vendortokens.flows.rotation import rotate_tokens

    caplog.set_level(logging.DEBUG)
    for logger in ("prefect", "prefect_vendortokens", "httpx", "httpcore"):
        logging.getLogger(logger).setLevel(logging.DEBUG)
    name = f"interop-dpop-{store['token_store']['kind']}"
    block = _dpop_block(interop, name, **store)
    token = _authorize(interop, block)
    assert token.token_type == "DPoP" and token.dpop_key is not None
    assert _private_d(token.dpop_key.get_secret_value()) not in repr(token) + str(token)
    key = DPoPKey.from_json(token.dpop_key)
    assert interop.server.introspect(token.secret())["cnf"] == {"jkt": key.thumbprint}

    userinfo = _metadata(interop)["userinfo_endpoint"]
    seen: list[tuple[int, str]] = []

    def record(response: httpx.Response) -> None:
        seen.append((response.status_code, response.request.headers.get("authorization", "")[:5]))

    with block.get_client(event_hooks={"response": [record]}) as http:
        me = http.get(userinfo)
        again = http.get(userinfo)  # the nonce it kept: no second challenge
    assert me.status_code == 200 and me.json()["sub"] == "alice", me.text
    assert again.status_code == 200
    # The server demands a nonce: 401 use_dpop_nonce, one replay with it, then the kept nonce.
    assert seen == [(401, "DPoP "), (200, "DPoP "), (200, "DPoP ")]

    # The key is in the shared store beside the token: another process (a cleared cache here)
    # proves the same key, and its refresh (DPoP-bound for a public client) too.
    manager = block.manager()
    stored = manager.store.read(manager.store_key)  # type: ignore[union-attr]
    assert stored is not None and stored.dpop_key is not None
    assert stored.dpop_key.get_secret_value() == token.dpop_key.get_secret_value()
    clear_token_cache()
    fresh = VendorCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    with fresh.get_client() as http:
        assert http.get(userinfo).status_code == 200
    renewed = fresh.get_token(force_refresh=True)
    assert renewed.secret() != token.secret() and renewed.token_type == "DPoP"
    assert interop.server.introspect(renewed.secret())["cnf"] == {"jkt": key.thumbprint}
    with fresh.get_client() as http:
        assert http.get(userinfo).status_code == 200
    assert interop.server.reuse_revocations() == []

    # A bearer use of the bound token is refused: the binding is real.
    assert httpx.get(userinfo, headers={"Authorization": f"Bearer {renewed.secret()}"}).status_code == 401

    # The rotation flow renews it (a flow run, its events, persisted results), still bound.
    clear_token_cache()
    with temporary_settings({PREFECT_RESULTS_PERSIST_BY_DEFAULT: True}):
        rows = rotate_tokens(block_names=[name], horizon_seconds=24 * 3600)
    assert [r["status"] for r in rows] == ["refreshed"]
    rotated = VendorCredentials.load(name, _sync=True).get_token()  # type: ignore[call-arg]
    assert interop.server.introspect(rotated.secret())["cnf"] == {"jkt": key.thumbprint}
    assert interop.server.reuse_revocations() == []

    assert renewed.refresh_token is not None and rotated.refresh_token is not None
    canaries = [
        _private_d(token.dpop_key.get_secret_value()),
        token.secret(),
        renewed.secret(),
        renewed.refresh_token.get_secret_value(),
        rotated.secret(),
        rotated.refresh_token.get_secret_value(),
    ]
    assert prefect_server.scan(canaries) == []
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, prefect_server.log_text()):
        assert [c[:6] for c in canaries if c in text] == []


def test_four_processes_refresh_a_dpop_bound_rotating_grant(
    prefect_server, interop: Interop, tmp_path: Path
) -> None:
    """The grant's refresh tokens are bound to the key (a public client) and rotate, and the
    server revokes the grant on any reuse: every process must read the key from the store and
    refresh one at a time."""
    name = "interop-dpop-rounds"
    block = _dpop_block(interop, name)
    first = _authorize(interop, block)
    clear_token_cache()
    userinfo = _metadata(interop)["userinfo_endpoint"]
    parties, rounds = 4, 2
    workers = [
        subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                str(ROOT / "tests/workers/user_grant_rounds.py"),
                name,
                str(tmp_path),
                str(parties),
                str(rounds),
                userinfo,
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
    assert interop.server.reuse_revocations() == []
    fingerprints = [f for o in outputs for f in o["fingerprints"]]
    assert len(set(fingerprints)) == parties * rounds
    assert [s for o in outputs for s in o["statuses"]] == [200] * (parties * rounds)
    token = VendorCredentials.load(name, _sync=True).get_token()  # type: ignore[call-arg]
    assert token.dpop_key is not None and first.dpop_key is not None
    assert token.dpop_key.get_secret_value() == first.dpop_key.get_secret_value()  # one key throughout
    assert prefect_server.scan([_private_d(first.dpop_key.get_secret_value())]) == []


def _mtls_settings(interop: Interop, ca_file: Path) -> dict:
    return {
        "vendor": "oauth2",
        "issuer": interop.issuer,
        "http": {"ca_bundle_path": str(ca_file)},
    }


def test_mtls_bound_token_used_by_get_client(prefect_server, interop: Interop, tmp_path: Path) -> None:
    ca_file = tmp_path / "test-ca.pem"
    ca_file.write_text(interop.ca.certificate)
    cert = interop.mtls_client
    block = _saved(
        "interop-mtls",
        **_mtls_settings(interop, ca_file),
        grant="authorization_code",
        client_id="mtls-user",
        client_auth={
            "method": "tls_client_auth",
            "tls_certificate": cert.certificate,
            "tls_key": cert.private_key,
        },
        scopes=USER_SCOPES,
        authorization={"extra_params": {"prompt": "consent"}},
        token_store={"kind": "prefect"},
    )
    assert cert.private_key not in repr(block) and _pem_body(cert.private_key) not in repr(block)
    aliases = _metadata(interop)["mtls_endpoint_aliases"]
    assert block.manager().source.client().credentials.token_url == aliases["token_endpoint"]
    token = _authorize(interop, block)
    bound = {"x5t#S256": certificate_thumbprint(cert.certificate)}
    assert interop.server.introspect(token.secret())["cnf"] == bound
    with block.get_client() as http:
        me = http.get(aliases["userinfo_endpoint"])
    assert me.status_code == 200 and me.json()["sub"] == "alice", me.text
    renewed = block.get_token(force_refresh=True)  # the refresh over mTLS too
    assert interop.server.introspect(renewed.secret())["cnf"] == bound
    with block.get_client() as http:
        assert http.get(aliases["userinfo_endpoint"]).status_code == 200
    # Without the certificate the bound token is refused.
    import ssl

    plain = ssl.create_default_context(cadata=interop.ca.certificate)
    refused = httpx.get(
        aliases["userinfo_endpoint"], headers={"Authorization": f"Bearer {renewed.secret()}"}, verify=plain
    )
    assert refused.status_code == 401
    assert renewed.refresh_token is not None
    assert (
        prefect_server.scan(
            [_pem_body(cert.private_key), renewed.secret(), renewed.refresh_token.get_secret_value()]
        )
        == []
    )


async def test_mtls_async_client_presents_the_certificate(interop: Interop, tmp_path: Path) -> None:
    """``get_async_client()`` carries the same certificate (a token from the self-signed
    client, checked at introspection, then a call to the mTLS listener that needs it)."""
    ca_file = tmp_path / "test-ca.pem"
    ca_file.write_text(interop.ca.certificate)
    own = interop.self_signed_client
    block = VendorCredentials(
        **_mtls_settings(interop, ca_file),
        client_id="self-signed-client",
        client_auth={
            "method": "self_signed_tls_client_auth",
            "tls_certificate": own.certificate,
            "tls_key": own.private_key,
        },
        scopes=["api:read"],
        token_store={"kind": "memory"},
    )
    token = await block.aget_token()
    assert interop.server.introspect(token.secret())["cnf"] == {
        "x5t#S256": certificate_thumbprint(own.certificate)
    }
    aliases = _metadata(interop)["mtls_endpoint_aliases"]
    async with block.get_async_client() as http:
        # The client-credentials token is not for userinfo (no user): the server's answer is
        # about the token (invalid_token/insufficient scope), not a TLS handshake failure.
        answer = await http.get(aliases["userinfo_endpoint"])
    assert answer.status_code in (400, 401, 403)


def test_mtls_certificate_and_key_from_vault(interop: Interop, tmp_path: Path) -> None:
    ca_file = tmp_path / "test-ca.pem"
    ca_file.write_text(interop.ca.certificate)
    own = interop.self_signed_client
    with OpenBao() as bao:
        bao.root().secrets.kv.v2.create_or_update_secret(
            "vendors/self-signed",
            secret={
                "client_id": "self-signed-client",
                "tls_certificate": own.certificate,
                "tls_key": own.private_key,
            },
        )
        block = VendorCredentials(
            **_mtls_settings(interop, ca_file),
            client_auth={"method": "self_signed_tls_client_auth"},
            vault=VaultCredentials(address=bao.address, auth_method="token", token="root"),
            vault_secret={"path": "vendors/self-signed"},
            scopes=["api:read"],
            token_store={"kind": "memory"},
        )
        token = block.get_token()
    assert interop.server.introspect(token.secret())["cnf"] == {
        "x5t#S256": certificate_thumbprint(own.certificate)
    }


def test_mtls_block_checks_its_certificate_and_key(interop: Interop) -> None:
    cert, other = interop.mtls_client, interop.self_signed_client
    common = {"vendor": "oauth2", "token_url": "https://127.0.0.1:1/token", "client_id": "mtls-user"}
    with pytest.raises(ValueError, match=r"needs client_auth\.tls_certificate and client_auth\.tls_key"):
        VendorCredentials(**common, client_auth={"method": "tls_client_auth"})
    with pytest.raises(ValueError, match="do not belong together") as mismatch:
        VendorCredentials(
            **common,
            client_auth={
                "method": "tls_client_auth",
                "tls_certificate": cert.certificate,
                "tls_key": other.private_key,
            },
        )
    with pytest.raises(ValueError, match="not a PEM private key") as broken:
        VendorCredentials(
            **common,
            client_auth={
                "method": "self_signed_tls_client_auth",
                "tls_certificate": cert.certificate,
                "tls_key": "-----BEGIN PRIVATE KEY-----\nnot-a-key-CANARY\n-----END PRIVATE KEY-----",
            },
        )
    for failed in (mismatch, broken):
        assert _pem_body(other.private_key) not in str(failed.value)
        assert "CANARY" not in str(failed.value)
