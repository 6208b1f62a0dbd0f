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
