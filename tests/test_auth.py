"""The httpx auth: bearer header, refresh before expiry, one refresh and one replay on a 401."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from prefect_vendortokens import TokenClient, TokenDialect, TokenManager, VendorTokenAuth
from prefect_vendortokens.core.expiry import jwt_claims
from prefect_vendortokens.engine.manager import LazyClientSource

from .conftest import api_call, block_for

VENDORS = ["sqod", "cobee", "slashid", "sqr", "resales_online", "oauth2"]


def call(client: httpx.Client, sb, vendor: str, token_hint=None) -> httpx.Response:
    method, path, body = api_call(vendor)
    if "{company}" in path:
        claims = jwt_claims(token_hint.secret())
        path = path.format(company=claims["https://auth.cobee.io/metadata"]["companyId"])
    return client.request(method, sb.api_url(vendor) + path, json=body)


@pytest.mark.parametrize("vendor", VENDORS)
def test_client_calls_each_vendor_api(sandbox, vendor: str) -> None:
    block = block_for(sandbox, vendor)
    with block.get_client() as client:
        r = call(client, sandbox, vendor, block.get_token())
    assert r.status_code == 200, r.text
    assert sandbox.token_requests(vendor) == 1


def test_revoked_token_is_replaced_and_request_replayed(sandbox) -> None:
    block = block_for(sandbox, "sqr")
    with block.get_client() as client:
        assert call(client, sandbox, "sqr").status_code == 200
        sandbox.revoke_all("sqr")
        r = call(client, sandbox, "sqr")
    assert r.status_code == 200
    assert sandbox.token_requests("sqr") == 2  # the first token and exactly one new one
    assert sandbox.api_requests("sqr") == 3  # ok, 401, replay


async def test_async_client_replays_too(sandbox) -> None:
    block = block_for(sandbox, "resales_online")
    method, path, body = api_call("resales_online")
    async with block.get_async_client() as client:
        assert (
            await client.request(method, sandbox.api_url("resales_online") + path, json=body)
        ).status_code == 200
        sandbox.revoke_all()
        r = await client.request(method, sandbox.api_url("resales_online") + path, json=body)
    assert r.status_code == 200 and sandbox.token_requests("resales_online") == 2


def test_burst_of_401s_costs_one_token_request(sandbox) -> None:
    block = block_for(sandbox, "sqod")
    with block.get_client() as client:
        assert call(client, sandbox, "sqod").status_code == 200
        sandbox.set_delay(0.3, "sqod")
        sandbox.revoke_all("sqod")
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(lambda _: call(client, sandbox, "sqod").status_code, range(20)))
    assert statuses == [200] * 20
    assert sandbox.token_requests("sqod") == 2


def test_second_401_goes_back_to_the_caller(sandbox) -> None:
    # An SQOD token at SQR's API is refused every time: one renewal, one replay, then the 401.
    block = block_for(sandbox, "sqod")
    method, path, body = api_call("sqr")
    with block.get_client() as client:
        r = client.request(method, sandbox.api_url("sqr") + path, json=body)
    assert r.status_code == 401
    assert sandbox.token_requests("sqod") == 2
    assert sandbox.api_requests("sqr") == 2


def test_expiry_mid_run_no_401_reaches_the_caller(sandbox) -> None:
    # 5 s tokens renewed 2.5 s early: a call would have to stall 2.5 s between taking the token
    # and reaching the server to meet an expired one.
    sandbox.set_token_lifetime(5, "oauth2")
    block = block_for(sandbox, "oauth2", refresh_margin=2.5)
    calls, statuses = 0, set()
    deadline = time.monotonic() + 8
    with block.get_client() as client:
        while time.monotonic() < deadline:
            statuses.add(call(client, sandbox, "oauth2").status_code)
            calls += 1
            time.sleep(0.02)
    assert statuses == {200}
    requests = sandbox.token_requests("oauth2")
    # about one per renewal period (every 2.5 s over 8 s: 4), not one per call
    assert 2 <= requests <= 6, requests
    assert calls > 10 * requests
    # and it was the refresh ahead of expiry, not 401 replays, that kept it going
    assert sandbox.api_requests("oauth2") == calls


def test_streaming_body_is_not_replayed_but_token_is_renewed(sandbox) -> None:
    block = block_for(sandbox, "sqr")
    _, path, body = api_call("sqr")
    url = sandbox.api_url("sqr") + path
    consumed = []

    def stream():
        consumed.append(1)
        yield b'{"filters": {}, "pagination": {"limit": 1, "offset": 0}}'

    with block.get_client() as client:
        assert client.post(url, json=body).status_code == 200
        sandbox.revoke_all("sqr")
        r = client.post(url, content=stream(), headers={"Content-Type": "application/json"})
        assert r.status_code == 401  # returned, not an httpx StreamConsumed error
        assert consumed == [1]
        assert (
            client.post(url, content=stream(), headers={"Content-Type": "application/json"}).status_code
            == 200
        )
    assert sandbox.token_requests("sqr") == 2


def test_dialect_header_and_scheme() -> None:
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "abc", "expires_in": 60})
        seen.update(request.headers)
        return httpx.Response(200)

    dialect = TokenDialect(name="acme", auth_header="X-Api-Token", auth_scheme=None)
    transport = httpx.MockTransport(handler)  # pure code: the header the auth flow writes
    source = LazyClientSource(
        lambda: TokenClient(dialect, "https://acme.test/token", "id", "secret", transport=transport)
    )
    auth = VendorTokenAuth(TokenManager("acme-test", source), dialect.auth_header, dialect.auth_scheme)
    with httpx.Client(transport=transport, auth=auth) as client:
        client.get("https://acme.test/api")
    assert seen["x-api-token"] == "abc" and "authorization" not in seen
