"""The fault matrix: hostile servers, a hanging Vault and Prefect API, bad answers and bad input.
Each row asserts the typed error, a time bound with a margin, and that no secret reached the
error, the logs or (where Prefect is involved) its database. ``make faults`` prints the table."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus

import pytest
from pydantic import ValidationError

from prefect_vendortokens import (
    DialectError,
    TokenClient,
    TokenDialect,
    TokenResponseError,
    TokenTransportError,
    VaultCredentials,
    VaultUnreachableError,
    VendorCredentials,
    get_dialect,
)

from .hostile import answer, echo, endless, hang, hostile, trickle

SECRET = "s3cr+t/with:odd&chars=CANARY"  # its URL, form and JSON forms differ from the raw one


def custom(url: str, **kwargs) -> VendorCredentials:
    kwargs.setdefault("client_secret", SECRET)
    kwargs.setdefault("token_store", "memory")
    return VendorCredentials(vendor="oauth2", token_url=url, client_id="client-1", **kwargs)


@pytest.mark.parametrize("part", ["headers", "body"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_trickling_token_endpoint(row, caplog, part: str, mode: str) -> None:
    """Token endpoint trickles 1 byte / 0.5 s, timeout=2."""
    served = {"n": 0}
    healthy = answer(
        200, b'{"access_token": "fine-token", "expires_in": 600}', {"Content-Type": "application/json"}
    )
    slow = trickle(part)

    def behaviour(conn, request):
        served["n"] += 1
        (slow if served["n"] == 1 else healthy)(conn, request)

    with hostile(behaviour) as base:
        block = custom(f"{base}/token", timeout=2)
        manager = block.manager()
        with row.timed(), pytest.raises(TokenTransportError) as info:
            if mode == "sync":
                with ThreadPoolExecutor(4) as pool:  # three waiters share the leader's fate
                    futures = [pool.submit(manager.get_token) for _ in range(4)]
                    for f in futures:
                        f.result(timeout=20)
            else:
                asyncio.run(manager.aget_token())
        assert row.seconds < 3.5, row.seconds
        time.sleep(1.1)  # past the failure window: the account is not stuck
        started = time.monotonic()
        assert manager.get_token().secret() == "fine-token"
        assert time.monotonic() - started < 1
    assert "deadline" in str(info.value)
    assert row.done(info.value, [str(info.value), caplog.text], [SECRET]) == []


def test_endless_body(row, caplog) -> None:
    """Endless fast chunked body."""
    with hostile(endless()) as base, row.timed(), pytest.raises(TokenResponseError) as info:
        custom(f"{base}/token", timeout=10).get_token()
    assert row.seconds < 5 and "1048576 bytes" in str(info.value)
    assert row.done(info.value, [str(info.value), caplog.text], [SECRET]) == []


def test_prefect_api_that_never_answers(row, caplog, sandbox) -> None:
    """Prefect API accepts connections and never answers."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    creds = sandbox.credentials("sqr")
    with hostile(hang(120)) as api, temporary_settings({PREFECT_API_URL: f"{api}/api"}):
        block = VendorCredentials(
            vendor="sqr",
            token_url=sandbox.token_url("sqr"),
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            token_store="prefect",
        )
        with row.timed():
            token = block.get_token()
    # one store read (10 s, then it degrades) and one lock call (10 s, then a new grant without
    # it): bounded, and the flow gets its token; not 495 s
    assert token.is_valid() and row.seconds < 25, row.seconds
    assert "did not answer within 10 s (reading the token); using this process's own token" in caplog.text
    assert "did not answer within 10 s (the refresh lock); asking the vendor without it" in caplog.text
    assert row.done("got a token (logged)", [caplog.text], [creds.client_secret, token.secret()]) == []


@pytest.mark.parametrize("how", ["hang", "trickle"])
def test_vault_that_hangs_or_trickles(row, caplog, how: str) -> None:
    """Vault never answers, or trickles its answer, timeout=2."""
    behaviour = hang(60) if how == "hang" else trickle("headers")
    with hostile(behaviour) as vault_url:
        vault = VaultCredentials(address=vault_url, token="vault-token-CANARY", timeout=2)
        with row.timed(), pytest.raises(VaultUnreachableError) as info:
            vault.read_secret("vendors/x")
    assert row.seconds < 3, row.seconds
    assert row.done(info.value, [str(info.value), caplog.text], ["vault-token-CANARY"]) == []


def test_token_with_cr_lf(row, caplog) -> None:
    """Token value containing CR/LF."""
    evil = "abc\r\nX-Injected: CANARY-token-part"
    body = json.dumps({"access_token": evil, "expires_in": 600}).encode()
    with hostile(answer(200, body, {"Content-Type": "application/json"})) as base:
        block = custom(f"{base}/token")
        with row.timed(), pytest.raises(TokenResponseError) as info:
            block.get_token()
    assert "not a valid header value" in str(info.value)
    assert row.done(info.value, [str(info.value), caplog.text], ["CANARY-token-part", SECRET]) == []


@pytest.mark.parametrize("grant", ["client_credentials", "refresh", "code"])
def test_error_body_echoing_the_request(row, caplog, grant: str) -> None:
    """Vendor error body echoing the request (secret, Basic, form, refresh token, code, verifier)."""
    refresh, code, verifier = "refresh-CANARY-0001", "code-CANARY-0002", "verifier-CANARY-0003"
    with hostile(echo()) as base:
        client = TokenClient("oauth2", f"{base}/token", "client-1", SECRET)
        body_client = TokenClient(
            get_dialect("oauth2", client_auth="body"), f"{base}/token", "client-1", SECRET
        )
        with row.timed(), pytest.raises(Exception) as info:
            if grant == "client_credentials":
                try:
                    client.fetch()
                finally:
                    with pytest.raises(Exception) as form:
                        body_client.fetch()
            elif grant == "refresh":
                from pydantic import SecretStr

                from prefect_vendortokens import AccessToken, ExpirySource

                now = datetime.now(UTC)
                old = AccessToken(
                    access_token=SecretStr("a"),
                    refresh_token=SecretStr(refresh),
                    issued_at=now,
                    expires_at=now + timedelta(seconds=60),
                    expiry_source=ExpirySource.EXPIRES_IN,
                )
                client.refresh(old)
            else:
                client.exchange_code(code, "http://127.0.0.1/cb", verifier)
    texts = [str(info.value), caplog.text]
    if grant == "client_credentials":
        texts.append(str(form.value))
    basic = base64.b64encode(f"{quote('client-1', safe='')}:{quote(SECRET, safe='')}".encode()).decode()
    forms = [SECRET, quote(SECRET, safe=""), quote_plus(SECRET), json.dumps(SECRET)[1:-1], basic]
    assert "got:" in str(info.value)  # the echo itself is kept, scrubbed
    assert row.done(info.value, texts, [*forms, refresh, code, verifier]) == []


def test_expires_at_in_the_past(row, caplog) -> None:
    """expires_at in the past."""
    served = {"n": 0}

    def behaviour(conn, request):
        served["n"] += 1
        past = int(time.time()) - 100
        body = json.dumps({"data": {"token": f"tok-{served['n']}", "expiresAt": past}}).encode()
        answer(200, body, {"Content-Type": "application/json"})(conn, request)

    dialect = TokenDialect(name="acme", access_token_path=["data.token"], expires_at_path=["data.expiresAt"])
    with hostile(behaviour) as base:
        block = VendorCredentials(
            vendor="custom",
            dialect=dialect,
            token_url=f"{base}/t",
            client_id="c",
            client_secret=SECRET,
            token_store="memory",
        )
        errors = []
        with row.timed():
            for _ in range(10):
                with pytest.raises(TokenResponseError) as info:
                    block.get_token()
                errors.append(info.value)
    assert served["n"] == 2, served  # one retry, then the same error for the failure window
    assert "already expired" in str(errors[0])
    assert row.done(errors[0], [str(e) for e in errors] + [caplog.text], [SECRET, "tok-1", "tok-2"]) == []


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("port-abc", lambda: TokenClient("oauth2", "https://127.0.0.1:abc/t", "id", "s")),
        ("id-superscript", lambda: TokenClient("resales_online", "https://x.test/t", "²", "s").fetch()),
        (
            "id-5000-digits",
            lambda: TokenClient("resales_online", "https://x.test/t", "1" * 5000, "s").fetch(),
        ),
        (
            "non-ascii-header",
            lambda: TokenClient(
                TokenDialect(extra_headers={"X-Client": "{client_id}"}), "https://x.test/t", "clïent", "s"
            ).fetch(),
        ),
    ],
    ids=["port-abc", "id-superscript", "id-5000-digits", "non-ascii-header"],
)
def test_bad_input_is_a_dialect_error(row, case: str, make) -> None:
    """Bad input (invalid port, non-ASCII or huge numeric id, non-ASCII header)."""
    with row.timed(), pytest.raises(DialectError) as info:
        make()
    assert row.done(info.value, [str(info.value)], ["1" * 5000, "s3cret-unused"]) == []


def test_bad_block_input_fails_at_validation(row) -> None:
    """Block with an invalid port, an empty secret."""
    with row.timed():
        with pytest.raises(ValidationError, match="invalid port"):
            custom("https://127.0.0.1:abc/t")
        with pytest.raises(ValidationError, match="client_secret are required") as info:
            custom("https://idp.test/t", client_secret="")
    assert row.done("ValidationError", [str(info.value)], [SECRET]) == []


def test_missing_ca_bundle_through_get_client(row, tmp_path) -> None:
    """Missing CA bundle through get_client."""
    block = custom("https://idp.test/t", ca_bundle_path=str(tmp_path / "nope.pem"))
    with row.timed(), pytest.raises(DialectError, match="cannot use the CA bundle") as info:
        block.get_client()
    assert row.done(info.value, [str(info.value)], [SECRET]) == []


@pytest.mark.parametrize(
    "where", ["TokenClient", "block token_url", "block issuer", "block authorization_url"]
)
def test_user_info_in_the_token_url(row, caplog, where: str) -> None:
    """http://user:pass@host/token: refused at configuration, never sent."""
    caplog.set_level(logging.DEBUG)  # httpx logs each request's URL at INFO, httpcore more at DEBUG
    password = "url-password-CANARY"
    requests: list[bytes] = []

    def behaviour(conn, request):
        requests.append(request)
        answer(401, b"{}", {"Content-Type": "application/json"})(conn, request)

    with hostile(behaviour) as base:
        url = base.replace("http://", f"http://user:{password}@") + "/token"
        with row.timed(), pytest.raises((DialectError, ValidationError)) as info:
            if where == "TokenClient":
                TokenClient("oauth2", url, "client-1", SECRET).fetch()
            elif where == "block token_url":
                custom(url).get_token()
            elif where == "block issuer":
                custom("", issuer=url.removesuffix("/token")).get_token()
            else:
                custom(f"{base}/token", authorization={"authorization_url": url}).get_token()
    assert requests == []  # nothing was sent
    TokenClient("oauth2", f"{base}/to@ken?a=b@c", "client-1", SECRET)  # an @ after the host is fine
    said = str(info.value)
    assert "user name or password" in said and "client id and client secret" in said
    if where == "TokenClient":
        assert isinstance(info.value, DialectError)
    error = info.value if isinstance(info.value, DialectError) else "ValidationError (DialectError)"
    assert row.done(error, [said, caplog.text], [password, SECRET]) == []


def test_problem_json_detail_is_kept(row) -> None:
    """A standard OAuth2 server answering RFC 9457 problem+json."""
    body = json.dumps(
        {"type": "about:blank", "title": "Bad Request", "detail": "audience is required"}
    ).encode()
    problem = answer(400, body, {"Content-Type": "application/problem+json"})
    with hostile(problem) as base, row.timed(), pytest.raises(Exception) as info:
        custom(f"{base}/token").get_token()
    assert "Bad Request" in str(info.value) and "audience is required" in str(info.value)
    assert row.done(info.value, [str(info.value)], [SECRET]) == []


def test_blocks_that_differ_in_behaviour(row) -> None:
    """Two blocks for one account differing only in store, margin, timeout or TLS."""
    with row.timed():
        base = custom("https://idp.test/t")
        others = [
            custom("https://idp.test/t", timeout=5),
            custom("https://idp.test/t", refresh_margin=30),
            custom("https://idp.test/t", verify_tls=False),
            custom("https://idp.test/t", token_store="prefect"),
        ]
        managers = {id(b.manager()) for b in [base, *others]}
    assert len(managers) == 5
    assert row.done(None, [repr(b) for b in others], [SECRET]) == []


def test_redirect_to_another_origin_with_a_custom_header(row) -> None:
    """Redirect followed with a custom auth header (get_client(follow_redirects=True))."""
    seen: dict[str, bytes] = {}

    def other(conn, request):
        seen["request"] = request
        answer(200, b"{}", {"Content-Type": "application/json"})(conn, request)

    with hostile(other) as elsewhere:
        bounce = answer(302, b"", {"Location": f"{elsewhere}/landed"})
        token = answer(
            200,
            b'{"access_token": "custom-header-CANARY", "expires_in": 600}',
            {"Content-Type": "application/json"},
        )

        def vendor(conn, request):
            (token if b"/token" in request.split(b"\r\n", 1)[0] else bounce)(conn, request)

        with hostile(vendor) as base:
            dialect = TokenDialect(name="acme", auth_header="X-Api-Token", auth_scheme="")
            block = VendorCredentials(
                vendor="custom",
                dialect=dialect,
                token_url=f"{base}/token",
                client_id="c",
                client_secret=SECRET,
                token_store="memory",
            )
            with row.timed(), block.get_client(follow_redirects=True) as client:
                response = client.get(f"{base}/api")
    assert response.status_code == 200 and "request" in seen
    assert row.done(None, [seen["request"].decode("latin-1")], ["custom-header-CANARY"]) == []


def test_vault_token_store_after_kv_delete(row, caplog, sandbox) -> None:
    """Vault token store after kv delete of the latest version."""
    from prefect_vendortokens.stores.vault_kv import VaultTokenStore
    from prefect_vendortokens.testing import OpenBao

    creds = sandbox.credentials("sqr")
    token = TokenClient("sqr", sandbox.token_url("sqr"), creds.client_id, creds.client_secret).fetch()
    with OpenBao() as bao, row.timed():
        vault = VaultCredentials(address=bao.address, token="root")
        first = VaultTokenStore(vault.session())
        first.read("acct")
        first.write("acct", token)
        bao.root().secrets.kv.v2.delete_latest_version_of_secret("prefect-vendortokens/tokens/acct")
        later = VaultTokenStore(vault.session())  # a new process
        assert later.read("acct") is None
        later.write("acct", token)
        assert VaultTokenStore(vault.session()).read("acct").fingerprint == token.fingerprint
    assert "skipped" not in caplog.text and "another writer" not in caplog.text
    assert row.done(None, [caplog.text], [token.secret(), creds.client_secret]) == []


def test_a_sealed_vault_store_is_logged_as_sealed(row, caplog, prefect_server, sandbox) -> None:
    """Vault token store sealed: logged as that, not as check-and-set lost."""
    from prefect_vendortokens.testing import OpenBao

    caplog.set_level(logging.WARNING)
    creds = sandbox.credentials("sqr")
    with OpenBao() as bao:
        vault = VaultCredentials(address=bao.address, token="root")
        block = VendorCredentials(
            vendor="sqr",
            token_url=sandbox.token_url("sqr"),
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            token_store="vault",
            token_store_vault=vault,
        )
        bao.root().sys.seal()
        with row.timed():
            token = block.get_token()  # the store degrades to this process's token, saying why
    assert token.is_valid()
    assert "vault store failed (reading the token: VaultSealedError); using this process's own" in caplog.text
    assert (
        "vault store failed (the refresh lock: VaultSealedError); asking the vendor without it" in caplog.text
    )
    assert "check-and-set" not in caplog.text
    assert row.done("VaultSealedError (logged)", [caplog.text], [creds.client_secret, token.secret()]) == []


def test_call_api_does_not_retry_a_deterministic_error(row, caplog) -> None:
    """call_api with a token the vendor issued unusable: no retries."""
    from prefect_vendortokens.tasks.api import ApiCall

    calls = {"n": 0}
    body = json.dumps({"access_token": "bad\ttoken", "expires_in": 600}).encode()

    def behaviour(conn, request):
        calls["n"] += 1
        answer(200, body, {"Content-Type": "application/json"})(conn, request)

    with hostile(behaviour) as base:
        block = custom(f"{base}/token")
        with row.timed(), block.get_client() as client, pytest.raises(TokenResponseError) as info:
            ApiCall("GET", f"{base}/api").send(client)
    assert calls["n"] == 1 and row.seconds < 2
    assert row.done(info.value, [str(info.value), caplog.text], ["bad\ttoken", SECRET]) == []
