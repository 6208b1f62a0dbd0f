"""Our token client against a real third-party server (panva/oidc-provider): every client
authentication method it supports, public clients with PKCE, and discovery."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest
from joserfc.jwk import RSAKey

from prefect_vendortokens import (
    CredentialsRejectedError,
    DialectError,
    DiscoveryError,
    Pkce,
    TokenClient,
    discover,
    get_dialect,
)
from prefect_vendortokens.testing.openbao import free_port
from prefect_vendortokens.transport.discovery import clear_discovery_cache

from .conftest import Interop
from .provider_server import redirect_params

ODD_SECRET = "s3cr+t/with:odd%&= ~chars"


def _active(interop: Interop, client: TokenClient) -> None:
    token = client.fetch()
    assert interop.server.introspect(token.secret())["active"] is True
    assert token.scopes == ("api:read",)


def test_client_secret_basic_with_an_odd_secret(interop: Interop) -> None:
    """RFC 6749 2.3.1: id and secret form-urlencoded before Basic; the server refuses the raw form."""
    client = TokenClient(
        "oauth2", interop.server.token_endpoint, "basic-client", ODD_SECRET, scopes=["api:read"]
    )
    _active(interop, client)
    raw = TokenClient(
        get_dialect("oauth2", basic_auth_urlencode=False),
        interop.server.token_endpoint,
        "basic-client",
        ODD_SECRET,
        scopes=["api:read"],
    )
    with pytest.raises(Exception, match="invalid_request") as refused:
        raw.fetch()
    assert ODD_SECRET not in str(refused.value)


def test_client_secret_post(interop: Interop) -> None:
    dialect = get_dialect("oauth2", client_auth="body")
    _active(
        interop,
        TokenClient(
            dialect, interop.server.token_endpoint, "post-client", "post-secret-value", scopes=["api:read"]
        ),
    )
    wrong = TokenClient(dialect, interop.server.token_endpoint, "post-client", "not-the-secret")
    with pytest.raises(CredentialsRejectedError, match="invalid_client"):
        wrong.fetch(scopes=["api:read"])


@pytest.mark.parametrize("audience", ["", "issuer"])
@pytest.mark.parametrize("key_form", ["pem", "jwk"])
def test_private_key_jwt(interop: Interop, audience: str, key_form: str) -> None:
    """RFC 7523 2.2 with the key as PEM or as a JWK, aud the token URL (default) or the issuer;
    two fetches in a row (the server refuses a replayed jti)."""
    key = interop.private_key_pem
    if key_form == "jwk":
        key = json.dumps(RSAKey.import_key(key).as_dict(private=True))
    client = TokenClient(
        get_dialect("oauth2", client_auth="private_key_jwt"),
        interop.server.token_endpoint,
        "jwt-client",
        private_key=key,
        key_id=interop.key_id,
        assertion_audience=interop.issuer if audience else "",
        scopes=["api:read"],
    )
    _active(interop, client)
    _active(interop, client)  # a new jti each time


def test_private_key_jwt_with_a_key_the_server_does_not_know(interop: Interop) -> None:
    stranger = RSAKey.generate_key(2048).as_pem(private=True).decode()
    client = TokenClient(
        get_dialect("oauth2", client_auth="private_key_jwt"),
        interop.server.token_endpoint,
        "jwt-client",
        private_key=stranger,
        key_id=interop.key_id,
    )
    with pytest.raises(CredentialsRejectedError, match="invalid_client") as refused:
        client.fetch(scopes=["api:read"])
    assert "PRIVATE KEY" not in str(refused.value)


def test_private_key_jwt_without_a_key_is_a_typed_error(interop: Interop) -> None:
    client = TokenClient(
        get_dialect("oauth2", client_auth="private_key_jwt"), interop.server.token_endpoint, "jwt-client"
    )
    with pytest.raises(DialectError, match="needs a private key"):
        client.fetch()


def test_client_secret_jwt(interop: Interop) -> None:
    client = TokenClient(
        get_dialect("oauth2", client_auth="client_secret_jwt"),
        interop.server.token_endpoint,
        "hs-client",
        "hs-client-secret-0123456789abcdefghijklmnop",
        scopes=["api:read"],
    )
    _active(interop, client)


def test_public_client_with_pkce(interop: Interop) -> None:
    """A public client (client ID only) through the code grant with PKCE S256, then a refresh."""
    client = TokenClient(
        get_dialect("oauth2", client_auth="none"),
        interop.server.token_endpoint,
        "public-client",
        authorization_url=interop.issuer + "/auth",
        scopes=["openid", "offline_access", "api:read"],
    )
    pkce, state = Pkce.generate(), secrets.token_urlsafe(16)
    redirect_uri = "http://127.0.0.1:50123/callback"  # nothing listens: the test reads the redirect
    url = client.authorization_url(redirect_uri, state=state, pkce=pkce, extra_params={"prompt": "consent"})
    params = redirect_params(interop.server.consent(url, deliver=False))
    assert params["state"] == state
    token = client.exchange_code(params["code"], redirect_uri, pkce.verifier)
    assert token.refresh_token is not None
    renewed = client.refresh(token)
    assert renewed.refresh_token is not None
    assert renewed.refresh_token.get_secret_value() != token.refresh_token.get_secret_value()  # rotated
    assert interop.server.introspect(renewed.secret())["active"] is True


def test_extra_authorization_parameters_cannot_replace_ours(interop: Interop) -> None:
    client = TokenClient(
        "oauth2",
        interop.server.token_endpoint,
        "user-client",
        "user-secret",
        authorization_url=interop.issuer + "/auth",
    )
    with pytest.raises(DialectError, match="state"):
        client.authorization_url("http://127.0.0.1:1/cb", state="s", extra_params={"state": "mine"})


def test_discovery_finds_the_endpoints(interop: Interop) -> None:
    clear_discovery_cache()
    metadata = discover(interop.issuer)
    assert metadata.token_endpoint == interop.issuer + "/token"
    assert metadata.authorization_endpoint == interop.issuer + "/auth"
    assert "private_key_jwt" in metadata.token_endpoint_auth_methods_supported
    client = TokenClient.from_issuer(
        "oauth2", interop.issuer, "basic-client", ODD_SECRET, scopes=["api:read"]
    )
    assert client.credentials.token_url == metadata.token_endpoint
    assert client.authorization_url_base == metadata.authorization_endpoint
    _active(interop, client)


def test_discovery_errors_are_typed(interop: Interop) -> None:
    clear_discovery_cache()
    with pytest.raises(DiscoveryError, match="publishes no metadata"):
        discover(interop.issuer + "/nowhere", timeout=5)
    with pytest.raises(DiscoveryError, match="unreachable"):
        discover(f"http://127.0.0.1:{free_port()}", timeout=5)  # nothing listens


def test_discovery_refuses_metadata_naming_another_issuer() -> None:
    doc = {"issuer": "https://evil.example", "token_endpoint": "https://evil.example/token"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=doc))
    clear_discovery_cache()
    with pytest.raises(DiscoveryError, match="another issuer"):
        discover("https://idp.example", transport=transport)
