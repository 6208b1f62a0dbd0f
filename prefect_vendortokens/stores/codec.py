"""The stored form of a token: JSON with its secrets in clear, for a store that keeps it in a
secret field (an encrypted block document, a Vault secret). Unreadable JSON is no token. The
refresh in flight, if any, rides in the same JSON (``in_flight``), so writing a token clears
it in the same write, and versions that do not know it ignore it."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from ..core.token import AccessToken, ExpirySource
from ..engine.ports import InFlight, StoredRecord

logger = logging.getLogger("prefect_vendortokens")


def dump_token(token: AccessToken) -> str:
    """JSON with the secrets in clear, for a store that keeps it in a secret field."""
    return json.dumps(_token_data(token))


def dump_record(record: StoredRecord) -> str:
    """The token's JSON plus the refresh in flight (its fingerprint, holder and time: no secret)."""
    if record.token is None:
        raise ValueError("a stored record needs a token")
    data = _token_data(record.token)
    if record.in_flight is not None:
        mark = record.in_flight
        data["in_flight"] = {
            "refresh_fingerprint": mark.refresh_fingerprint,
            "holder": mark.holder,
            "since": mark.since.isoformat(),
        }
    return json.dumps(data)


def load_record(raw: str) -> StoredRecord:
    token = load_token(raw)
    try:
        mark = json.loads(raw).get("in_flight") if token is not None else None
        in_flight = (
            InFlight(mark["refresh_fingerprint"], mark["holder"], datetime.fromisoformat(mark["since"]))
            if mark
            else None
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        logger.warning("ignoring an unreadable in-flight refresh mark")
        in_flight = None
    return StoredRecord(token, in_flight)


def _token_data(token: AccessToken) -> dict[str, Any]:
    def reveal(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    return {
        "access_token": token.secret(),
        "refresh_token": reveal(token.refresh_token),
        "refresh_expires_at": token.refresh_expires_at.isoformat() if token.refresh_expires_at else None,
        "id_token": reveal(token.id_token),
        "token_type": token.token_type,
        "scope": token.scope,
        "issued_at": token.issued_at.isoformat(),
        "expires_at": token.expires_at.isoformat(),
        "expiry_source": token.expiry_source.value,
        "vendor": token.vendor,
    }


def load_token(raw: str) -> AccessToken | None:
    try:
        data = json.loads(raw)
        return AccessToken(
            access_token=SecretStr(data["access_token"]),
            refresh_token=SecretStr(data["refresh_token"]) if data.get("refresh_token") else None,
            refresh_expires_at=(
                datetime.fromisoformat(data["refresh_expires_at"]) if data.get("refresh_expires_at") else None
            ),
            id_token=SecretStr(data["id_token"]) if data.get("id_token") else None,
            token_type=data.get("token_type") or "Bearer",
            scope=data.get("scope"),
            issued_at=datetime.fromisoformat(data["issued_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            expiry_source=ExpirySource(data["expiry_source"]),
            vendor=data.get("vendor"),
        )
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring an unreadable stored token")
        return None
