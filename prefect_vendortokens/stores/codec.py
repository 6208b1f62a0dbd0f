"""The stored form of a token, one model for every store and the host journal: ``StoredToken``
is the ``AccessToken`` itself (every field of it, so a new token field is stored with no edit
here) with its secrets in clear, for a store that keeps it in a secret field (an encrypted block
document, a Vault secret), plus the refresh in flight, if any. Writing a token writes no mark,
so it clears one in the same write; versions that do not know a field ignore it. Unreadable
JSON is no token."""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ConfigDict, SecretStr, TypeAdapter, ValidationError, field_serializer

from ..core.token import AccessToken
from ..engine.ports import InFlight, StoredRecord

logger = logging.getLogger("prefect_vendortokens")
_MARK = TypeAdapter(InFlight)


class StoredToken(AccessToken):
    """An ``AccessToken`` as a store keeps it: its secrets in clear (only ever inside a secret
    field), and the refresh in flight. Never handed out: ``load_record`` returns plain tokens."""

    model_config = ConfigDict(extra="ignore")  # a newer version's fields

    in_flight: InFlight | None = None

    @field_serializer("access_token", "refresh_token", "id_token", "dpop_key")
    def _reveal(self, value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None


def dump_record(record: StoredRecord) -> str:
    """The token's JSON, secrets in clear, plus the refresh in flight (its fingerprint, holder
    and time: no secret)."""
    token = record.token
    if token is None:
        raise ValueError("a stored record needs a token")
    token.secret()  # a redacted (unpickled) token has no secret to store: RedactedTokenError
    stored = StoredToken.model_construct(**dict(token), in_flight=record.in_flight)
    exclude = {"redacted"} | ({"in_flight"} if record.in_flight is None else set())
    return stored.model_dump_json(exclude=exclude)


def load_record(raw: str) -> StoredRecord:
    try:
        data: Any = json.loads(raw)
        mark = data.pop("in_flight", None)
        stored = StoredToken.model_validate({k: v for k, v in data.items() if k != "redacted"})
    except (ValueError, TypeError, AttributeError):  # ValidationError is a ValueError
        logger.warning("ignoring an unreadable stored token")
        return StoredRecord(None)
    token = AccessToken(**{name: getattr(stored, name) for name in AccessToken.model_fields})
    try:
        in_flight = _MARK.validate_python(mark) if mark else None
    except ValidationError:
        logger.warning("ignoring an unreadable in-flight refresh mark")
        in_flight = None
    return StoredRecord(token, in_flight)


def dump_token(token: AccessToken) -> str:
    """The token alone (the host journal's entry)."""
    return dump_record(StoredRecord(token))


def load_token(raw: str) -> AccessToken | None:
    return load_record(raw).token
