"""Every grant of every dialect against the real local vendor emulation, sync and async."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from prefect_vendortokens import (
    DIALECT_NAMES,
    CredentialsRejectedError,
    ExpirySource,
    Pkce,
    TokenClient,
    get_dialect,
)
from prefect_vendortokens.core.expiry import jwt_claims
from prefect_vendortokens.testing import VENDORS

from .conftest import api_call, client_for


def test_every_preset_is_emulated() -> None:
    assert set(DIALECT_NAMES) == set(VENDORS)


@pytest.mark.parametrize("vendor", VENDORS)
def test_token_sync(sandbox, vendor: str) -> None:
    token = client_for(sandbox, vendor).fetch()
    assert token.vendor == vendor
    assert token.is_valid()
    assert token.expiry_source is ExpirySource.EXPIRES_IN
    assert sandbox.token_requests(vendor) == 1
    # The token really works at the vendor's downstream endpoint, and a junk one does not.
    assert downstream(sandbox, vendor, token.authorization_value(), token.secret()) == 200
    assert downstream(sandbox, vendor, "Bearer junk-" + token.secret()[:8], token.secret()) == 401


def downstream(sandbox, vendor: str, authorization: str, real_token: str) -> int:
    method, path, body = api_call(vendor)
    if "{company}" in path:  # Cobee's path carries the company id from the token's claims
        path = path.format(company=jwt_claims(real_token)["https://auth.cobee.io/metadata"]["companyId"])
    url = sandbox.api_url(vendor) + path
    return httpx.request(method, url, json=body, headers={"Authorization": authorization}).status_code


@pytest.mark.parametrize("vendor", VENDORS)
async def test_token_async(sandbox, vendor: str) -> None:
    client = client_for(sandbox, vendor)
    token = await client.afetch()
    assert token.is_valid() and token.vendor == vendor
    assert sandbox.token_requests(vendor) == 1


def test_documented_lifetimes(sandbox) -> None:
    lifetimes = {v: round(client_for(sandbox, v).fetch().lifetime) for v in VENDORS}
    assert lifetimes == {
        "sqod": 3600,
        "cobee": 86400,
        "slashid": 86400,
        "sqr": 3600,
        "resales_online": 7200,
        "oauth2": 3600,
    }


def test_cobee_token_is_a_jwt_with_company_claim(sandbox) -> None:
    token = client_for(sandbox, "cobee").fetch()
    claims = jwt_claims(token.secret())
    assert claims and claims["https://auth.cobee.io/metadata"]["companyId"].startswith("company-")
    company = claims["https://auth.cobee.io/metadata"]["companyId"]
    r = httpx.get(
        f"{sandbox.api_url('cobee')}/companies/{company}/employees",
        headers={"Authorization": token.authorization_value()},
    )
    assert r.status_code == 200 and len(r.json()["employees"]) == 3


def test_sqr_accepts_both_documented_paths(sandbox) -> None:
    creds = sandbox.credentials("sqr")
    urls = sandbox.token_urls("sqr")
    assert [urlsplit(u).path for u in urls] == ["/sqr/v1/oauth/token", "/sqr/oauth2/token"]
    for url in urls:
        assert TokenClient("sqr", url, creds.client_id, creds.client_secret).fetch().is_valid()
    assert get_dialect("sqr").default_token_url == "https://api.sqr-group.com/v1/oauth/token"


def test_sqod_without_body_is_accepted(sandbox) -> None:
    # SQOD's OpenAPI page documents no body; its other docs a form body. Both work.
    creds = sandbox.credentials("sqod")
    bare = get_dialect("sqod", body_encoding="none")
    assert (
        TokenClient(bare, sandbox.token_url("sqod"), creds.client_id, creds.client_secret).fetch().is_valid()
    )


def test_resales_sends_numeric_client_id_as_form(sandbox) -> None:
    token = client_for(sandbox, "resales_online").fetch()
    assert token.is_valid()
    r = httpx.post(
        f"{sandbox.api_url('resales_online')}/v1/developments/42/units/update-by-name",
        json={"UntName": "A1", "UntStatus": "sold", "UntPrice": 1, "UntDirections": ""},
        headers={"Authorization": token.authorization_value()},
    )
    assert r.status_code == 200 and r.json()["unit"] == "A1"


@pytest.mark.parametrize("vendor", ["slashid", "oauth2"])
def test_refresh_grant_rotates(sandbox, vendor: str) -> None:
    client = client_for(sandbox, vendor)
    first = client.fetch()
    assert first.refresh_token is not None
    second = client.refresh(first)
    assert second.secret() != first.secret()
    assert second.refresh_token is not None
    assert second.refresh_token.get_secret_value() != first.refresh_token.get_secret_value()
    # The spent refresh token is refused: single use.
    from prefect_vendortokens import TokenRejectedError

    with pytest.raises(TokenRejectedError):
        client.refresh(first)


@pytest.mark.parametrize("vendor", ["slashid", "oauth2"])
async def test_refresh_grant_async(sandbox, vendor: str) -> None:
    client = client_for(sandbox, vendor)
    first = await client.afetch()
    second = await client.arefresh(first)
    assert second.is_valid() and second.secret() != first.secret()


def _authorize(client: TokenClient, pkce: Pkce, redirect_uri: str) -> str:
    url = client.authorization_url(redirect_uri, state="xyz", pkce=pkce)
    r = httpx.get(url, follow_redirects=False)
    assert r.status_code == 302
    location = urlsplit(r.headers["location"])
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


@pytest.mark.parametrize("vendor", ["slashid", "oauth2"])
def test_authorization_code_with_pkce(sandbox, vendor: str) -> None:
    client = client_for(sandbox, vendor, authorization_url=sandbox.authorize_url(vendor))
    pkce = Pkce.generate()
    code = _authorize(client, pkce, "http://127.0.0.1/callback")
    token = client.exchange_code(code, "http://127.0.0.1/callback", pkce.verifier)
    assert token.is_valid() and token.refresh_token is not None and token.id_token is not None
    r = httpx.get(
        f"{sandbox.api_url(vendor)}/oauth2/userinfo"
        if vendor == "slashid"
        else f"{sandbox.api_url(vendor)}/resource",
        headers={"Authorization": token.authorization_value()},
    )
    assert r.status_code == 200


@pytest.mark.parametrize("vendor", ["slashid", "oauth2"])
async def test_authorization_code_pkce_mismatch_is_refused(sandbox, vendor: str) -> None:
    from prefect_vendortokens import TokenRejectedError

    client = client_for(sandbox, vendor, authorization_url=sandbox.authorize_url(vendor))
    code = _authorize(client, Pkce.generate(), "http://127.0.0.1/cb")
    with pytest.raises(TokenRejectedError):
        await client.aexchange_code(code, "http://127.0.0.1/cb", Pkce.generate().verifier)


def test_oauth2_client_secret_post(sandbox) -> None:
    post = get_dialect("oauth2", client_auth="body")
    assert client_for(sandbox, "oauth2", dialect=post).fetch().is_valid()


def test_downstream_rejects_other_vendor_and_revoked_tokens(sandbox) -> None:
    sqr = client_for(sandbox, "sqr").fetch()
    url = f"{sandbox.api_url('sqr')}/v1/user-status"
    body = {"filters": {}, "result_keys": [], "pagination": {"limit": 10, "offset": 0}}
    assert httpx.post(url, json=body, headers={"Authorization": sqr.authorization_value()}).status_code == 200
    other = client_for(sandbox, "sqod").fetch()
    assert (
        httpx.post(url, json=body, headers={"Authorization": other.authorization_value()}).status_code == 401
    )
    sandbox.revoke_all("sqr")
    assert httpx.post(url, json=body, headers={"Authorization": sqr.authorization_value()}).status_code == 401


def test_expired_token_is_refused_downstream(sandbox) -> None:
    sandbox.set_token_lifetime(1, "sqod")
    token = client_for(sandbox, "sqod").fetch()
    url = f"{sandbox.api_url('sqod')}/api/v1/appointments"
    headers = {"Authorization": token.authorization_value(), "Accept": "application/json"}
    assert httpx.get(url, headers=headers).status_code == 200
    import time

    time.sleep(1.1)
    assert httpx.get(url, headers=headers).status_code == 401


def test_slashid_user_grant_block_authorized_then_refreshed_from_the_store(prefect_server, sandbox) -> None:
    """SlashID's dialect through the block's user grant: the consent (the emulation consents at
    once), SlashID's code exchange (client_id in the body, the PKCE verifier in the field its spec
    calls code_challenge), the refresh token in the Prefect store, a refresh from it in a fresh
    cache, and the token working at SlashID's userinfo."""
    from prefect_vendortokens import VendorCredentials, clear_token_cache
    from prefect_vendortokens.testing.openbao import free_port

    from .conftest import block_for

    block_for(
        sandbox,
        "slashid",
        grant="authorization_code",
        authorization={"authorization_url": sandbox.authorize_url("slashid")},
        token_store="prefect",
    ).save("slashid-user", overwrite=True)
    block = VendorCredentials.load("slashid-user", _sync=True)  # type: ignore[call-arg]
    token = block.authorize(
        show_url=lambda url: httpx.get(url, follow_redirects=True, timeout=10), port=free_port()
    )
    assert token.refresh_token is not None and sandbox.token_requests("slashid") == 1
    clear_token_cache()
    renewed = VendorCredentials.load("slashid-user", _sync=True).get_token(force_refresh=True)  # type: ignore[call-arg]
    assert renewed.secret() != token.secret() and sandbox.token_requests("slashid") == 2
    userinfo = httpx.get(
        f"{sandbox.api_url('slashid')}/oauth2/userinfo",
        headers={"Authorization": renewed.authorization_value()},
    )
    assert userinfo.status_code == 200


# --- rotating refresh tokens: reuse revokes the grant, unless inside the reuse grace ----------
def _pair(sandbox):
    client = client_for(sandbox, "oauth2")
    first = client.fetch()  # offline_access: a refresh token, the start of a grant
    second = client.refresh(first)  # rotates: first's refresh token is spent
    return client, first, second


def test_a_reused_refresh_token_revokes_the_whole_grant(sandbox) -> None:
    """As oidc-provider does: the spent refresh token comes back, so every token of its grant
    (the live refresh token and the access tokens) stops working."""
    client, first, second = _pair(sandbox)
    assert downstream(sandbox, "oauth2", second.authorization_value(), second.secret()) == 200
    with pytest.raises(CredentialsRejectedError, match="invalid_grant"):
        client.refresh(first)
    assert sandbox.refresh_reuse("oauth2") == 1 and sandbox.counts()["oauth2"]["grants_revoked"] == 1
    assert not sandbox.grant_alive("oauth2", second.refresh_token.get_secret_value())
    assert downstream(sandbox, "oauth2", second.authorization_value(), second.secret()) == 401
    with pytest.raises(CredentialsRejectedError):  # the grant is gone, its newest token too
        client.refresh(second)
    other = client.fetch()  # another grant is untouched
    assert sandbox.grant_alive("oauth2", other.refresh_token.get_secret_value())


def test_inside_the_reuse_grace_a_spent_refresh_token_works_once_more(sandbox) -> None:
    sandbox.set_refresh_reuse_grace(30, "oauth2")
    client, first, second = _pair(sandbox)
    again = client.refresh(first)  # inside the grace: a new pair, same grant
    assert again.refresh_token.get_secret_value() != second.refresh_token.get_secret_value()
    assert sandbox.refresh_reuse_in_grace("oauth2") == 1 and sandbox.refresh_reuse("oauth2") == 0
    assert sandbox.grant_alive("oauth2", again.refresh_token.get_secret_value())
    assert client.refresh(again).is_valid()


def test_the_reuse_grace_ends(sandbox) -> None:
    import time

    sandbox.set_refresh_reuse_grace(0.2, "oauth2")
    client, first, _ = _pair(sandbox)
    time.sleep(0.3)  # past the grace (a bound on real time, not a wait for an event)
    with pytest.raises(CredentialsRejectedError):
        client.refresh(first)
    assert sandbox.refresh_reuse("oauth2") == 1 and sandbox.refresh_reuse_in_grace("oauth2") == 0


def test_the_reuse_grace_is_an_http_control(sandbox) -> None:
    url = f"{sandbox.base_url}/_control/refresh-grace?seconds=12&vendor=slashid"
    assert httpx.post(url).json() == {"ok": True}
    assert sandbox._state("slashid").refresh_reuse_grace == 12
    assert httpx.post(f"{sandbox.base_url}/_control/refresh-grace?vendor=slashid").status_code == 400
