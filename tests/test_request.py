"""The sans-IO request builder: encodings, credential placement, types and templates."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr, ValidationError

from prefect_vendortokens import DialectError, TokenDialect, get_dialect
from prefect_vendortokens.core.request import (
    AuthorizationCodeGrant,
    ClientCredentials,
    ClientCredentialsGrant,
    RefreshGrant,
    build_token_request,
)

CREDS = ClientCredentials(
    "https://v.test/token", "12345", SecretStr("s3cr3t-value"), ("a", "b"), {"audience": 7, "tenant": "t1"}
)


def basic(req) -> tuple[str, str]:
    raw = base64.b64decode(req.headers["Authorization"].removeprefix("Basic ")).decode()
    return tuple(raw.split(":", 1))


def test_sqod_basic_plus_query() -> None:
    req = build_token_request(get_dialect("sqod"), CREDS, ClientCredentialsGrant())
    assert parse_qs(urlsplit(req.url).query) == {"clientid": ["12345"]}
    assert basic(req) == ("12345", "s3cr3t-value")
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(req.content.decode()) == {"grant_type": ["client_credentials"]}


def test_cobee_camel_case_json_without_grant() -> None:
    req = build_token_request(get_dialect("cobee"), CREDS, ClientCredentialsGrant())
    assert req.headers["Content-Type"] == "application/json" and "Authorization" not in req.headers
    assert json.loads(req.content) == {"clientId": "12345", "clientSecret": "s3cr3t-value"}


def test_resales_integer_id_in_json_keeps_its_type_and_form_is_never_json() -> None:
    req = build_token_request(get_dialect("resales_online"), CREDS, ClientCredentialsGrant())
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(req.content.decode())["client_id"] == ["12345"]
    as_json = build_token_request(
        get_dialect("resales_online", body_encoding="json"), CREDS, ClientCredentialsGrant()
    )
    assert json.loads(as_json.content)["client_id"] == 12345


def test_slashid_code_grant_sends_verifier_as_code_challenge() -> None:
    grant = AuthorizationCodeGrant(SecretStr("the-code"), "https://app/cb", SecretStr("the-verifier"))
    form = parse_qs(build_token_request(get_dialect("slashid"), CREDS, grant).content.decode())
    assert form["code_challenge"] == ["the-verifier"] and form["client_id"] == ["12345"]
    assert form["grant_type"] == ["authorization_code"] and "code_verifier" not in form
    oauth = parse_qs(build_token_request(get_dialect("oauth2"), CREDS, grant).content.decode())
    assert oauth["code_verifier"] == ["the-verifier"]


def test_refresh_grant_and_scopes() -> None:
    req = build_token_request(
        get_dialect("slashid"), CREDS, RefreshGrant(SecretStr("rt"), ("offline_access",))
    )
    assert parse_qs(req.content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["rt"],
        "scope": ["offline_access"],
    }
    with pytest.raises(DialectError, match="refresh grant"):
        build_token_request(get_dialect("sqr"), CREDS, RefreshGrant(SecretStr("rt")))


def test_templates_keep_json_types_and_substitute_text() -> None:
    dialect = TokenDialect(
        body_encoding="json",
        client_auth="body",
        extra_fields={"audience": "{audience}", "resource": "api://{tenant}/x", "fixed": [1, True]},
        extra_headers={"X-Tenant": "{tenant}"},
        extra_query={"aud": "{audience}"},
    )
    req = build_token_request(dialect, CREDS, ClientCredentialsGrant())
    body = json.loads(req.content)
    assert body["audience"] == 7 and body["resource"] == "api://t1/x" and body["fixed"] == [1, True]
    assert req.headers["X-Tenant"] == "t1" and "aud=7" in req.url
    with pytest.raises(DialectError, match="extra value 'missing'"):
        build_token_request(TokenDialect(extra_fields={"x": "{missing}"}), CREDS, ClientCredentialsGrant())


def test_oauth2_basic_is_url_encoded_per_rfc() -> None:
    creds = ClientCredentials("https://v.test/t", "id:with colon", SecretStr("p@ss/w:rd"))
    assert basic(build_token_request(get_dialect("oauth2"), creds, ClientCredentialsGrant())) == (
        "id%3Awith%20colon",
        "p%40ss%2Fw%3Ard",
    )


def test_query_encoding_and_existing_query_kept() -> None:
    creds = ClientCredentials("https://v.test/t?tenant=1", "id", SecretStr("sec"))
    req = build_token_request(
        TokenDialect(body_encoding="query", client_auth="basic"), creds, ClientCredentialsGrant()
    )
    assert req.content is None and parse_qs(urlsplit(req.url).query) == {
        "tenant": ["1"],
        "grant_type": ["client_credentials"],
    }


def test_request_repr_hides_headers_and_body() -> None:
    req = build_token_request(get_dialect("cobee"), CREDS, ClientCredentialsGrant())
    assert "s3cr3t" not in repr(req) and "s3cr3t" not in repr(CREDS)


def test_invalid_dialects_say_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match="needs a body"):
        TokenDialect(body_encoding="none", client_auth="body")
    with pytest.raises(ValidationError, match="access_token_path"):
        TokenDialect(access_token_path=[])
    with pytest.raises(DialectError, match="known presets: sqod, cobee"):
        get_dialect("nope")


# --- client authentication without a secret on the wire ----------------------------------------
def _form(req) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(req.content.decode()).items()}


def test_public_client_sends_its_id_only() -> None:
    creds = ClientCredentials("https://v.test/token", "app", SecretStr(""))
    req = build_token_request(
        get_dialect("oauth2", client_auth="none"), creds, RefreshGrant(SecretStr("r-1"))
    )
    assert "Authorization" not in req.headers
    assert _form(req) == {"client_id": "app", "grant_type": "refresh_token", "refresh_token": "r-1"}


def test_private_key_jwt_assertion_claims_and_signature() -> None:
    """RFC 7523 2.2: iss = sub = client id, aud = token URL (no query), a 60 s exp, a jti that
    differs per request, the kid in the header; verifiable with the public key."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048)
    creds = ClientCredentials(
        "https://v.test/token?tenant=1",
        "app",
        SecretStr(""),
        private_key=SecretStr(key.as_pem(private=True).decode()),
        key_id="k1",
    )
    dialect = get_dialect("oauth2", client_auth="private_key_jwt")
    first = build_token_request(dialect, creds, ClientCredentialsGrant(), now=1_000_000)
    second = build_token_request(dialect, creds, ClientCredentialsGrant(), now=1_000_000)
    form = _form(first)
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert form["client_id"] == "app" and "Authorization" not in first.headers
    public = RSAKey.import_key(key.as_dict(private=False))
    decoded = jwt.decode(form["client_assertion"], public)
    assert decoded.header["alg"] == "RS256" and decoded.header["kid"] == "k1"
    claims = decoded.claims
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("app", "app", "https://v.test/token")
    assert (claims["iat"], claims["exp"]) == (1_000_000, 1_000_060)
    assert claims["jti"] != jwt.decode(_form(second)["client_assertion"], public).claims["jti"]
    assert form["client_assertion"] in first.secrets  # scrubbed from errors like a secret


def test_client_secret_jwt_is_an_hmac_of_the_secret() -> None:
    from joserfc import jwt
    from joserfc.jwk import OctKey

    secret = "hs-secret-0123456789abcdefghijklmnopqrstuv"
    creds = ClientCredentials(
        "https://v.test/token", "app", SecretStr(secret), assertion_audience="https://v.test"
    )
    req = build_token_request(
        get_dialect("oauth2", client_auth="client_secret_jwt"), creds, ClientCredentialsGrant()
    )
    form = _form(req)
    assert secret not in req.content.decode()
    decoded = jwt.decode(form["client_assertion"], OctKey.import_key(secret.encode()))
    assert decoded.header["alg"] == "HS256" and decoded.claims["aud"] == "https://v.test"


def test_a_bad_private_key_is_a_typed_error_that_does_not_quote_it() -> None:
    creds = ClientCredentials(
        "https://v.test/token", "app", SecretStr(""), private_key=SecretStr("not-a-key-CANARY")
    )
    with pytest.raises(DialectError, match="neither a PEM private key nor a JWK") as failed:
        build_token_request(
            get_dialect("oauth2", client_auth="private_key_jwt"), creds, ClientCredentialsGrant()
        )
    assert "CANARY" not in str(failed.value)
