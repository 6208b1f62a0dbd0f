"""Every documented vendor error maps to the right typed error, and nothing leaks a secret."""

from __future__ import annotations

import logging
import pickle
import socket

import pytest

from prefect_vendortokens import (
    CredentialsRejectedError,
    DialectError,
    RateLimitedError,
    TokenClient,
    TokenError,
    TokenRejectedError,
    TokenResponseError,
    TokenTransportError,
    VendorUnavailableError,
    get_dialect,
)

from .conftest import SCOPES, assert_no_secret, client_for


def wrong_secret(sb, vendor: str, **kwargs) -> TokenClient:
    creds = sb.credentials(vendor)
    return TokenClient(
        kwargs.pop("dialect", vendor),
        sb.token_url(vendor),
        creds.client_id,
        creds.client_secret + "-wrong",
        scopes=SCOPES.get(vendor, ()),
        **kwargs,
    )


CASES = [
    # vendor, how to break it, expected type, status, vendor code, text in vendor message
    ("sqod", "secret", CredentialsRejectedError, 401, None, None),
    ("sqod", {"client_auth": "basic"}, CredentialsRejectedError, 401, None, None),  # no ?clientid=
    ("cobee", "secret", CredentialsRejectedError, 401, "401", "Unauthorized"),
    (
        "cobee",
        {"client_id_field": "client_id"},
        TokenRejectedError,
        400,
        "validation_error",
        "body: must have required property 'clientId'",
    ),
    ("cobee", {"body_encoding": "form"}, TokenRejectedError, 400, "validation_error", "must be object"),
    ("slashid", "secret", CredentialsRejectedError, 403, "403", "invalid client credentials"),
    ("slashid", {"body_encoding": "json"}, TokenRejectedError, 400, "400", "x-www-form-urlencoded"),
    ("sqr", "secret", CredentialsRejectedError, 401, "invalid_client", "Client authentication failed"),
    ("sqr", {"body_encoding": "form"}, TokenRejectedError, 400, "invalid_request", "JSON"),
    (
        "resales_online",
        "secret",
        CredentialsRejectedError,
        401,
        "invalid_client",
        "Client authentication failed",
    ),
    ("resales_online", {"body_encoding": "json"}, TokenRejectedError, 400, "invalid_request", "client_id"),
    ("resales_online", {"method": "GET"}, TokenRejectedError, 419, "method_not_allowed", "Wrong HTTP method"),
    ("oauth2", "secret", CredentialsRejectedError, 401, "invalid_client", "client authentication failed"),
    (
        "oauth2",
        {"client_credentials_grant": "password"},
        TokenRejectedError,
        400,
        "unsupported_grant_type",
        None,
    ),
]


@pytest.mark.parametrize(("vendor", "breakage", "kind", "status", "code", "text"), CASES)
def test_documented_errors(sandbox, caplog, vendor, breakage, kind, status, code, text) -> None:
    caplog.set_level(logging.DEBUG)
    if breakage == "secret":
        client = wrong_secret(sandbox, vendor)
    else:
        client = client_for(sandbox, vendor, dialect=get_dialect(vendor, **breakage))
    with pytest.raises(kind) as info:
        client.fetch()
    err = info.value
    assert type(err) is kind
    assert err.status == status and err.vendor == vendor and not err.retryable
    assert err.vendor_code == code
    if text:
        assert text in (err.vendor_message or "")
    assert vendor in str(err) and sandbox.token_url(vendor).split("?")[0] in str(err)
    wrong = client.credentials.client_secret.get_secret_value()
    leaks = [str(err), repr(err), repr(client), caplog.text, str(pickle.loads(pickle.dumps(err)))]
    assert_no_secret(leaks, [wrong, *sandbox.issued_secrets()])


@pytest.mark.parametrize("vendor", ["cobee", "sqr", "slashid"])
def test_rate_limit_carries_retry_after(sandbox, vendor: str) -> None:
    sandbox.fail_next(vendor, 1, status=429, retry_after=119)
    with pytest.raises(RateLimitedError) as info:
        client_for(sandbox, vendor).fetch()
    assert info.value.retryable and info.value.retry_after == 119
    assert "retry after 119 s" in str(info.value)
    assert client_for(sandbox, vendor).fetch().is_valid()  # the next request goes through


def test_cobee_rate_limit_body(sandbox) -> None:
    sandbox.fail_next("cobee", 1, status=429, retry_after=119)
    with pytest.raises(RateLimitedError) as info:
        client_for(sandbox, "cobee").fetch()
    assert info.value.vendor_code == "Too Many Requests"
    assert info.value.vendor_message == "Rate limit exceeded, retry in 119 seconds"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_unavailable_is_retryable(sandbox, status: int) -> None:
    sandbox.fail_next("sqod", 1, status=status)
    client = client_for(sandbox, "sqod")
    with pytest.raises(VendorUnavailableError) as info:
        await client.afetch()
    assert info.value.retryable and info.value.status == status
    assert not isinstance(info.value, RateLimitedError)


def test_transport_error(sandbox) -> None:
    with socket.socket() as s:  # a port with nothing listening on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    creds = sandbox.credentials("sqr")
    client = TokenClient(
        "sqr", f"http://127.0.0.1:{port}/v1/oauth/token", creds.client_id, creds.client_secret
    )
    with pytest.raises(TokenTransportError) as info:
        client.fetch()
    assert info.value.retryable and "ConnectError" in str(info.value)
    assert_no_secret([str(info.value)], [creds.client_secret])


def test_html_answer_is_a_response_error(sandbox) -> None:
    creds = sandbox.credentials("sqr")
    client = TokenClient("sqr", sandbox.base_url + "/nowhere", creds.client_id, creds.client_secret)
    with pytest.raises(TokenRejectedError):  # a 404 with a JSON body
        client.fetch()
    wrong_path = get_dialect("sqr", access_token_path=["data.token"])
    with pytest.raises(TokenResponseError) as info:
        client_for(sandbox, "sqr", dialect=wrong_path).fetch()
    assert info.value.missing_field == "data.token" and "data.token" in str(info.value)


def test_resales_non_numeric_client_id_fails_before_sending(sandbox) -> None:
    client = TokenClient("resales_online", sandbox.token_url("resales_online"), "abc", "s3cret-value")
    with pytest.raises(DialectError, match="numeric client id"):
        client.fetch()
    assert sandbox.token_requests("resales_online") == 0


def test_all_errors_share_one_base() -> None:
    for kind in (
        CredentialsRejectedError,
        RateLimitedError,
        TokenResponseError,
        TokenTransportError,
        VendorUnavailableError,
        DialectError,
        TokenRejectedError,
    ):
        assert issubclass(kind, TokenError)


def test_vendor_echoing_the_secret_is_scrubbed() -> None:
    from datetime import UTC, datetime

    from prefect_vendortokens.core.response import parse_token_response

    body = b'{"error":"invalid_client","error_description":"bad secret hunter2-secret-value"}'
    with pytest.raises(CredentialsRejectedError) as info:
        parse_token_response(
            get_dialect("oauth2"),
            status=401,
            headers={},
            body=body,
            sent_at=datetime.now(UTC),
            token_url="https://x.test/token?client_secret=hunter2-secret-value",
            secrets=["hunter2-secret-value"],
        )
    assert "hunter2-secret-value" not in str(info.value)
    assert "bad secret ***" in str(info.value)
