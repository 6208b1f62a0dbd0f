"""The JWT bearer and password grants against real servers, driven only by the core and httpx:
authlib's authorization server (a third-party implementation of both grants), and two servers
that check an assertion as Google's and Salesforce's token endpoints do (``grant_servers``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from joserfc.jwk import RSAKey
from pydantic import SecretStr

from prefect_vendortokens import (
    AccessToken,
    CredentialsRejectedError,
    ExpirySource,
    TokenDialect,
    TokenRejectedError,
    get_dialect,
)
from prefect_vendortokens.core.request import (
    ClientCredentials,
    JwtBearerGrant,
    PasswordGrant,
    build_token_request,
)
from prefect_vendortokens.core.request import Grant as AnyGrant
from prefect_vendortokens.core.response import parse_token_response
from prefect_vendortokens.core.service_account import parse_service_account_key

from .certs import self_signed
from .grant_servers import grant_server

PASSWORD = "correct horse CANARY battery"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def token(dialect: TokenDialect, creds: ClientCredentials, grant: AnyGrant) -> AccessToken:
    request = build_token_request(dialect, creds, grant)
    sent_at = datetime.now(UTC)
    answer = httpx.request(
        request.method, request.url, headers=request.headers, content=request.content, timeout=10
    )
    return parse_token_response(
        dialect,
        status=answer.status_code,
        headers=answer.headers,
        body=answer.content,
        sent_at=sent_at,
        token_url=creds.token_url,
        secrets=request.secrets,
    )


def me(base: str, access: AccessToken) -> dict:
    answer = httpx.get(base + "/me", headers={"Authorization": access.authorization_value()}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def rsa_pair() -> tuple[str, str]:
    key = RSAKey.generate_key(2048)
    return key.as_pem(private=True).decode(), key.as_pem(private=False).decode()


# --- authlib's authorization server: password and JWT bearer -------------------------------

ISSUER_KEY, ISSUER_PUBLIC = rsa_pair()


@pytest.fixture(scope="module")
def authlib_server() -> Iterator[str]:
    config = {
        "users": {"alice": PASSWORD},
        "clients": [
            {
                "client_id": "pw-client",
                "client_secret": "pw-secret",
                "auth_method": "client_secret_basic",
                "grant_types": ["password"],
                "scope": "api:read api:write",
            },
            {
                "client_id": "pw-public",
                "auth_method": "none",
                "grant_types": ["password"],
                "scope": "api:read",
            },
            {
                "client_id": "jwt-issuer",
                "auth_method": "none",
                "grant_types": [JWT_BEARER],
                "scope": "api:read",
                "public_key": ISSUER_PUBLIC,
            },
        ],
    }
    with grant_server("authlib", config) as url:
        yield url


def test_password_grant_of_a_confidential_client(authlib_server: str) -> None:
    creds = ClientCredentials(authlib_server + "/token", "pw-client", SecretStr("pw-secret"), ("api:read",))
    access = token(get_dialect("oauth2"), creds, PasswordGrant("alice", SecretStr(PASSWORD)))
    assert access.scopes == ("api:read",) and access.expiry_source is ExpirySource.EXPIRES_IN
    assert me(authlib_server, access) == {"client_id": "pw-client", "scope": "api:read", "sub": "alice"}
    wrong_client = ClientCredentials(creds.token_url, "pw-client", SecretStr("not-it"), ("api:read",))
    with pytest.raises(CredentialsRejectedError, match="invalid_client"):
        token(get_dialect("oauth2"), wrong_client, PasswordGrant("alice", SecretStr(PASSWORD)))


def test_password_grant_of_a_public_client_and_a_wrong_password(authlib_server: str) -> None:
    public = get_dialect("oauth2", client_auth="none")
    creds = ClientCredentials(authlib_server + "/token", "pw-public", SecretStr(""), ("api:read",))
    access = token(public, creds, PasswordGrant("alice", SecretStr(PASSWORD)))
    assert me(authlib_server, access)["client_id"] == "pw-public"
    # authlib answers a wrong password with invalid_request, not RFC 6749's invalid_grant.
    with pytest.raises(TokenRejectedError, match="Invalid 'username' or 'password'") as refused:
        token(public, creds, PasswordGrant("alice", SecretStr(PASSWORD + "-wrong")))
    assert "CANARY" not in str(refused.value) and "correct horse" not in str(refused.value)


def test_jwt_bearer_grant_rfc_7523(authlib_server: str) -> None:
    """RFC 7523 2.1 as written: scopes in the form, iss the client, sub the user, aud the token URL."""
    dialect = get_dialect("oauth2", client_auth="none", client_id_in_jwt_bearer=False)
    creds = ClientCredentials(
        authlib_server + "/token",
        "jwt-issuer",
        SecretStr(""),
        ("api:read",),
        private_key=SecretStr(ISSUER_KEY),
    )
    access = token(dialect, creds, JwtBearerGrant(subject="alice"))
    assert me(authlib_server, access) == {"client_id": "jwt-issuer", "scope": "api:read", "sub": "alice"}
    again = token(dialect, creds, JwtBearerGrant(subject="alice"))  # a new jti, a new token
    assert again.secret() != access.secret()
    with pytest.raises(CredentialsRejectedError, match="invalid_grant"):  # aud is not this server
        token(dialect, creds, JwtBearerGrant(subject="alice", audience="https://elsewhere.test/token"))
    stranger = ClientCredentials(
        creds.token_url, "jwt-issuer", SecretStr(""), ("api:read",), private_key=SecretStr(rsa_pair()[0])
    )
    with pytest.raises(CredentialsRejectedError, match="invalid_grant"):  # not the registered key
        token(dialect, stranger, JwtBearerGrant(subject="alice"))


# --- like Google: a service-account key file -----------------------------------------------


@pytest.fixture(scope="module")
def google() -> Iterator[tuple[str, str]]:
    """The Google-like server and a key file (JSON, as downloaded) whose token_uri points at it."""
    private, public = rsa_pair()
    email = "etl@vendortokens-test.iam.gserviceaccount.com"
    with grant_server("google", {"accounts": {email: {"8f1a2b3c4d": public}}}) as url:
        key_file = {
            "type": "service_account",
            "project_id": "vendortokens-test",
            "private_key_id": "8f1a2b3c4d",
            "private_key": private,
            "client_email": email,
            "client_id": "103456789012345678901",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": url + "/token",
        }
        yield url, json.dumps(key_file)


def test_google_service_account_key_file(google: tuple[str, str]) -> None:
    url, key_file = google
    key = parse_service_account_key(SecretStr(key_file), where="test key file")
    scopes = ("https://www.googleapis.com/auth/cloud-platform",)
    access = token(get_dialect("google"), key.credentials(scopes), key.grant())
    assert access.secret().startswith("ya29.") and round(access.lifetime) == 3599
    owner = me(url, access)
    assert owner["email"] == key.issuer and owner["scope"] == scopes[0] and owner["sub"] is None
    delegated = token(get_dialect("google"), key.credentials(scopes), key.grant(subject="alice@example.com"))
    assert me(url, delegated)["sub"] == "alice@example.com"


def test_google_refuses_what_google_refuses(google: tuple[str, str]) -> None:
    _, key_file = google
    key = parse_service_account_key(key_file)
    with pytest.raises(TokenRejectedError, match="invalid_scope"):  # no scopes: Google wants some
        token(get_dialect("google"), key.credentials(()), key.grant())
    scopes = ("https://www.googleapis.com/auth/cloud-platform",)
    with pytest.raises(TokenRejectedError, match="invalid_scope"):  # RFC 7523's scope field is not Google's
        token(get_dialect("google", assertion_scope="field"), key.credentials(scopes), key.grant())
    other = json.loads(key_file) | {"private_key": rsa_pair()[0]}
    with pytest.raises(CredentialsRejectedError, match="Invalid JWT Signature") as refused:
        forged = parse_service_account_key(json.dumps(other))
        token(get_dialect("google"), forged.credentials(scopes), forged.grant())
    assert "PRIVATE KEY" not in str(refused.value)


# --- like Salesforce: a connected app with a certificate ------------------------------------


@pytest.fixture(scope="module")
def salesforce() -> Iterator[tuple[str, str]]:
    app = self_signed("vendortokens connected app", kind="rsa")
    config = {
        "apps": {"3MVG9consumer.key": app.certificate},
        "approved": {"etl@example.com": ["3MVG9consumer.key"]},
    }
    with grant_server("salesforce", config) as url:
        yield url, app.private_key


def test_salesforce_jwt_bearer_flow(salesforce: tuple[str, str]) -> None:
    url, private = salesforce
    dialect = get_dialect("salesforce")
    creds = ClientCredentials(
        url + "/services/oauth2/token",
        "3MVG9consumer.key",
        SecretStr(""),
        ("api",),
        private_key=SecretStr(private),
    )
    access = token(dialect, creds, JwtBearerGrant(subject="etl@example.com"))
    # No expires_in in Salesforce's answer: the preset's documented default session lifetime.
    assert access.expiry_source is ExpirySource.DIALECT_DEFAULT and round(access.lifetime) == 7200
    assert access.scope == "api" and me(url, access)["username"] == "etl@example.com"
    sandbox = get_dialect("salesforce", assertion_audience="https://test.salesforce.com")
    assert me(url, token(sandbox, creds, JwtBearerGrant(subject="etl@example.com")))["username"]
    with pytest.raises(CredentialsRejectedError, match="hasn't approved"):
        token(dialect, creds, JwtBearerGrant(subject="someone@example.com"))
    with pytest.raises(CredentialsRejectedError, match="audience is invalid"):  # the token URL is not aud
        token(
            get_dialect("salesforce", assertion_audience=""), creds, JwtBearerGrant(subject="etl@example.com")
        )
    with pytest.raises(TokenRejectedError, match="invalid_client_id"):
        wrong = ClientCredentials(
            creds.token_url, "3MVG9other", SecretStr(""), private_key=SecretStr(private)
        )
        token(dialect, wrong, JwtBearerGrant(subject="etl@example.com"))
