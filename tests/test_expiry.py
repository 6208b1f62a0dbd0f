"""Expiry: every form, in the documented order, counted from when the request was sent."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from prefect_vendortokens import ExpirySource, get_dialect
from prefect_vendortokens.core.expiry import GLOBAL_DEFAULT_LIFETIME
from prefect_vendortokens.core.response import parse_token_response
from prefect_vendortokens.core.token import default_margin

SENT = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def parse(body: dict, dialect=None):
    return parse_token_response(
        dialect or get_dialect("oauth2"),
        status=200,
        headers={},
        body=json.dumps(body).encode(),
        sent_at=SENT,
        token_url="https://x.test/t",
    )


def jwt(claims: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'none'})}.{enc(claims)}.sig"


@pytest.mark.parametrize(("value", "seconds"), [(3600, 3600), (3600.5, 3600.5), ("7200", 7200), (" 60 ", 60)])
def test_expires_in_forms(value, seconds) -> None:
    token = parse({"access_token": "t", "expires_in": value})
    assert token.expires_at == SENT + timedelta(seconds=seconds)
    assert token.expiry_source is ExpirySource.EXPIRES_IN


AT = datetime(2026, 1, 1, 13, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        int(AT.timestamp()),
        float(AT.timestamp()),
        str(int(AT.timestamp())),
        int(AT.timestamp() * 1000),
        "2026-01-01T13:00:00Z",
        "2026-01-01T14:00:00+01:00",
        "2026-01-01T13:00:00",
    ],
)
def test_expires_at_forms(value) -> None:
    dialect = get_dialect("oauth2", expires_at_path=["expires_at", "data.expiresAt"])
    token = parse({"access_token": "t", "expires_at": value, "expires_in": 10}, dialect)
    assert token.expires_at == AT and token.expiry_source is ExpirySource.EXPIRES_AT


def test_expires_at_nested_camel_case_milliseconds() -> None:
    dialect = get_dialect(
        "oauth2",
        access_token_path=["data.accessToken"],
        expires_at_path=["data.expiresAt"],
        expires_at_format="epoch_milliseconds",
    )
    token = parse({"data": {"accessToken": "t", "expiresAt": int(AT.timestamp() * 1000)}}, dialect)
    assert token.expires_at == AT


def test_jwt_exp_when_no_expiry_fields() -> None:
    token = parse({"access_token": jwt({"exp": int(AT.timestamp())})})
    assert token.expires_at == AT and token.expiry_source is ExpirySource.JWT_EXP


def test_dialect_default_then_global_default(caplog) -> None:
    assert (
        parse({"access_token": "opaque"}, get_dialect("slashid")).expiry_source
        is ExpirySource.DIALECT_DEFAULT
    )
    caplog.set_level(logging.WARNING)
    token = parse({"access_token": "opaque"})
    assert token.expiry_source is ExpirySource.GLOBAL_DEFAULT
    assert token.expires_at == SENT + timedelta(seconds=GLOBAL_DEFAULT_LIFETIME)
    assert "no token expiry" in caplog.text and "opaque" not in caplog.text


@pytest.mark.parametrize("bad", ["soon", None, -5, 0, True, "nan", [1]])
def test_unreadable_expires_in_falls_through(bad) -> None:
    token = parse({"access_token": jwt({"exp": int(AT.timestamp())}), "expires_in": bad})
    assert token.expiry_source is ExpirySource.JWT_EXP


def test_absurd_lifetime_is_clamped() -> None:
    token = parse({"access_token": "t", "expires_in": 1e300})
    assert token.expires_at.year < SENT.year + 11


@pytest.mark.parametrize(("lifetime", "margin"), [(2, 0.5), (60, 10), (3600, 300), (30 * 86400, 300), (0, 0)])
def test_margin_is_a_clamped_fraction(lifetime, margin) -> None:
    assert default_margin(lifetime) == pytest.approx(margin)


def test_validity_uses_margin() -> None:
    token = parse({"access_token": "t", "expires_in": 60})
    assert token.is_valid(now=SENT + timedelta(seconds=49))
    assert not token.is_valid(now=SENT + timedelta(seconds=51))
    assert token.is_valid(margin=0, now=SENT + timedelta(seconds=59))
