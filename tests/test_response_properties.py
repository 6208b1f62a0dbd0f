"""Arbitrary answers to the response parser: a token or a ``TokenError``, nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from prefect_vendortokens import DIALECT_NAMES, AccessToken, TokenError, get_dialect
from prefect_vendortokens.core.response import parse_retry_after, parse_token_response

SENT = datetime(2026, 1, 1, tzinfo=UTC)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "access_token",
        "accessToken",
        "expires_in",
        "expiresIn",
        "expires_at",
        "token_type",
        "refresh_token",
        "scope",
        "error",
        "code",
        "message",
        "errors",
        "id_token",
        "hint",
    ]
)
token_like = st.dictionaries(field_names, json_values, max_size=8)
bodies = st.one_of(
    token_like.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.just(b"<html><body>502 Bad Gateway</body></html>"),
)
headers = st.dictionaries(
    st.sampled_from(["retry-after", "Retry-After", "content-type"]), st.text(max_size=40), max_size=2
)


@example(
    dialect="oauth2", status=200, body=b'{"access_token":"t","expires_in":1' + b"0" * 400 + b"}", hdrs={}
)
@example(dialect="cobee", status=200, body=b'{"accessToken":"t","expiresIn":"1e999"}', hdrs={})
@example(dialect="slashid", status=200, body=b'{"errors":[{"httpcode":500,"message":"x"}]}', hdrs={})
@example(dialect="oauth2", status=429, body=b"", hdrs={"Retry-After": "-1e999"})
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(dialect=st.sampled_from(DIALECT_NAMES), status=st.integers(100, 599), body=bodies, hdrs=headers)
def test_parser_returns_token_or_token_error(dialect: str, status: int, body: bytes, hdrs: dict) -> None:
    try:
        token = parse_token_response(
            get_dialect(dialect),
            status=status,
            headers=hdrs,
            body=body,
            sent_at=SENT,
            token_url="https://vendor.test/token",
        )
    except TokenError as err:
        assert str(err)  # renders
        return
    assert isinstance(token, AccessToken) and 200 <= status < 300
    assert token.expires_at.tzinfo is not None and token.secret()


@given(st.text(max_size=60))
def test_retry_after_is_bounded_or_none(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or 0 <= seconds <= 3600


def test_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30
    assert parse_retry_after("120") == 120
