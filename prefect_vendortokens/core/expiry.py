"""When a token expires, from whatever the vendor said (pure functions).

Order: expires-at, expires-in, the JWT ``exp`` claim, the dialect's default lifetime, then a
global default with a warning. Lifetimes count from when the request was *sent*, so network and
server time only ever make us refresh early.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from .dialect import ExpiresAtFormat
from .token import ExpirySource

logger = logging.getLogger("prefect_vendortokens")

GLOBAL_DEFAULT_LIFETIME = 300.0
MAX_LIFETIME = 10 * 365 * 86400.0  # clamp absurd answers instead of overflowing datetime


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT-shaped token, unverified (we only read our own token's claims)."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return claims if isinstance(claims, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):  # OverflowError: an int beyond float range
        return None
    return number if math.isfinite(number) else None


def parse_expires_at(value: Any, fmt: ExpiresAtFormat = ExpiresAtFormat.AUTO) -> datetime | None:
    """An absolute expiry as an aware UTC datetime, or None when it cannot be read."""
    number = _number(value) if fmt is not ExpiresAtFormat.ISO8601 else None
    if number is not None:
        if fmt is ExpiresAtFormat.EPOCH_MILLISECONDS or (fmt is ExpiresAtFormat.AUTO and abs(number) > 1e11):
            number /= 1000.0
        try:
            return datetime.fromtimestamp(number, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and fmt in (ExpiresAtFormat.AUTO, ExpiresAtFormat.ISO8601):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def parse_expires_in(value: Any) -> float | None:
    """A positive lifetime in seconds from an int, a float or a numeric string."""
    number = _number(value)
    return number if number is not None and number > 0 else None


def resolve_expiry(
    *,
    expires_at: Any,
    expires_in: Any,
    access_token: str,
    sent_at: datetime,
    default_lifetime: float | None,
    expires_at_format: ExpiresAtFormat = ExpiresAtFormat.AUTO,
    vendor: str | None = None,
) -> tuple[datetime, ExpirySource]:
    """The absolute expiry of a new token and where it came from."""
    if expires_at is not None:
        at = parse_expires_at(expires_at, expires_at_format)
        if at is not None:
            return _clamp(at, sent_at), ExpirySource.EXPIRES_AT
        logger.warning("vendor %s sent an expires-at that could not be read; ignoring it", vendor)
    if expires_in is not None:
        lifetime = parse_expires_in(expires_in)
        if lifetime is not None:
            return _after(sent_at, lifetime), ExpirySource.EXPIRES_IN
        logger.warning("vendor %s sent an expires-in that could not be read; ignoring it", vendor)
    claims = jwt_claims(access_token)
    if claims is not None:
        at = parse_expires_at(claims.get("exp"), ExpiresAtFormat.EPOCH_SECONDS)
        if at is not None:
            return _clamp(at, sent_at), ExpirySource.JWT_EXP
    if default_lifetime is not None:
        return _after(sent_at, default_lifetime), ExpirySource.DIALECT_DEFAULT
    logger.warning(
        "vendor %s gave no token expiry; assuming %g s (set default_lifetime on the dialect)",
        vendor,
        GLOBAL_DEFAULT_LIFETIME,
    )
    return _after(sent_at, GLOBAL_DEFAULT_LIFETIME), ExpirySource.GLOBAL_DEFAULT


def _after(sent_at: datetime, seconds: float) -> datetime:
    return sent_at + timedelta(seconds=min(seconds, MAX_LIFETIME))


def _clamp(at: datetime, sent_at: datetime) -> datetime:
    return min(at, _after(sent_at, MAX_LIFETIME))
