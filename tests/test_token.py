"""The token type never shows its secret, and pickles (Prefect results) drop it."""

from __future__ import annotations

import copy
import logging
import pickle
from datetime import UTC, datetime, timedelta

import cloudpickle
import pytest
from pydantic import SecretStr

from prefect_vendortokens import AccessToken, ExpirySource, RedactedTokenError

SECRET, REFRESH = "at-CANARY-0123456789", "rt-CANARY-9876543210"


def make() -> AccessToken:
    now = datetime.now(UTC)
    return AccessToken(
        access_token=SecretStr(SECRET),
        refresh_token=SecretStr(REFRESH),
        issued_at=now,
        expires_at=now + timedelta(hours=1),
        expiry_source=ExpirySource.EXPIRES_IN,
        vendor="sqr",
    )


def test_repr_str_log_and_json_show_no_secret(caplog) -> None:
    token = make()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("t").info("token %s / %r", token, token)
    for text in (
        repr(token),
        str(token),
        token.describe(),
        token.model_dump_json(),
        str(token.model_dump()),
        caplog.text,
    ):
        assert SECRET not in text and REFRESH not in text
    assert token.fingerprint in repr(token)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
def test_pickle_drops_secrets_and_keeps_fingerprint(dumps) -> None:
    token = make()
    raw = dumps(token)
    assert SECRET.encode() not in raw and REFRESH.encode() not in raw
    back = pickle.loads(raw)
    assert back.redacted and back.fingerprint == token.fingerprint and back.expires_at == token.expires_at
    assert not back.is_valid() and back.refresh_token is None
    with pytest.raises(RedactedTokenError, match="pickled"):
        back.secret()
    assert pickle.loads(pickle.dumps(back)).fingerprint == token.fingerprint


def test_copies_keep_the_secret() -> None:
    token = make()
    assert copy.copy(token).secret() == SECRET and copy.deepcopy(token).secret() == SECRET
    assert token.model_copy(update={"scope": "x"}).secret() == SECRET


def test_authorization_value_normalises_bearer() -> None:
    token = make().model_copy(update={"token_type": "bearer"})
    assert token.authorization_value() == f"Bearer {SECRET}"
    assert token.authorization_value("Token") == f"Token {SECRET}"


def test_refresh_token_lifetime_is_read_stored_and_kept_alive_by_rotation() -> None:
    """A vendor that says when the refresh token lapses (Keycloak's refresh_expires_in, GitHub's
    refresh_token_expires_in): the rotation's horizon renews it before then, even while the
    access token is still good, and the stored form keeps the date."""
    import json

    from prefect_vendortokens import get_dialect
    from prefect_vendortokens.core.response import parse_token_response
    from prefect_vendortokens.engine.plan import Want
    from prefect_vendortokens.stores.codec import dump_token, load_token

    sent = datetime.now(UTC)

    def parse(body: dict) -> AccessToken:
        raw = json.dumps(body).encode()
        return parse_token_response(
            get_dialect("oauth2"), status=200, headers={}, body=raw, sent_at=sent, token_url="https://x"
        )

    body = {"access_token": "a" * 20, "expires_in": 86400, "refresh_token": "r" * 20}
    token = parse({**body, "refresh_expires_in": 600})
    assert token.refresh_expires_at == sent + timedelta(seconds=600)
    assert load_token(dump_token(token)).refresh_expires_at == token.refresh_expires_at
    assert Want().accepts(token, None)  # a plain call takes it
    assert not Want(min_ttl=900).accepts(token, None)  # the rotation (15 min horizon) renews it
    assert Want(min_ttl=300).accepts(token, None)
    silent = parse(body)
    assert silent.refresh_expires_at is None and Want(min_ttl=900).accepts(silent, None)


def test_a_token_stored_by_an_earlier_version_still_loads() -> None:
    """The stored form is the token's own model now; what version 0.1 wrote reads the same."""
    from prefect_vendortokens.stores.codec import dump_record, load_record

    old = (
        '{"access_token": "abcd", "refresh_token": "rt-1", "refresh_expires_at": null, "id_token": null,'
        ' "token_type": "Bearer", "scope": "a b", "issued_at": "2026-12-03T09:00:00+00:00",'
        ' "expires_at": "2026-12-03T10:00:00+00:00", "expiry_source": "expires_in", "vendor": "v",'
        ' "in_flight": {"refresh_fingerprint": "f", "holder": "h:1", "since": "2026-12-03T09:00:00+00:00"}}'
    )
    record = load_record(old)
    assert record.token is not None and type(record.token) is AccessToken
    assert record.token.secret() == "abcd" and record.token.refresh_token.get_secret_value() == "rt-1"
    assert record.token.expires_at == datetime(2026, 12, 3, 10, tzinfo=UTC) and record.token.scope == "a b"
    assert record.in_flight is not None and record.in_flight.holder == "h:1"
    again = load_record(dump_record(record))
    assert again.token == record.token and again.in_flight == record.in_flight
    assert "abcd" not in repr(again)
