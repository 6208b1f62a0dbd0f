"""Reading token responses (sans-IO): a token, or a typed ``TokenError``, and nothing else."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from .dialect import TokenDialect
from .errors import (
    CredentialsRejectedError,
    RateLimitedError,
    TokenError,
    TokenRejectedError,
    TokenResponseError,
    VendorUnavailableError,
)
from .expiry import resolve_expiry
from .token import AccessToken

_MISSING = object()
_INDEX = re.compile(r"-?[0-9]+")
CREDENTIAL_ERROR_CODES = frozenset(
    {"invalid_client", "invalid_grant", "unauthorized_client", "access_denied", "unauthorized"}
)
MAX_RETRY_AFTER = 3600.0
HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what may follow "Bearer " in a header


def lookup(data: Any, path: str) -> Any:
    """Follow a dotted path (``a.b.0.c``) through dicts and lists; ``_MISSING`` when absent."""
    node = data
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and _INDEX.fullmatch(part) and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def first(data: Any, paths: Iterable[str]) -> Any:
    """The value at the first path present and not null, else None."""
    for path in paths:
        value = lookup(data, path)
        if value is not _MISSING and value is not None:
            return value
    return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), clamped to [0, 3600]."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def parse_token_response(
    dialect: TokenDialect,
    *,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    sent_at: datetime,
    token_url: str,
    secrets: Iterable[str] = (),
) -> AccessToken:
    """Turn one HTTP answer from a token endpoint into an ``AccessToken`` or a ``TokenError``."""
    secrets = tuple(secrets)
    where: dict[str, Any] = {
        "vendor": dialect.name,
        "token_url": safe_url(token_url),
        "status": status,
        "secrets": secrets,
    }
    data = _json_body(body)
    code = _text(first(data, dialect.error_code_path)) if isinstance(data, dict) else None
    message = _joined(data, dialect.error_message_path) if isinstance(data, dict) else None
    token_value = first(data, dialect.access_token_path) if isinstance(data, dict) else None

    if 200 <= status < 300:
        if isinstance(token_value, str) and token_value:
            if not HEADER_SAFE.fullmatch(token_value):
                # CR/LF or other bytes would make the API call fail with an httpx error whose
                # message holds the token (and lands in Prefect's logs and events).
                raise TokenResponseError(
                    "the access token is not a valid header value (visible ASCII, RFC 6750); "
                    "refusing to use it",
                    **{**where, "secrets": (*secrets, token_value)},
                )
            return _token(dialect, data, token_value, sent_at)
        if code:  # a 200 that carries an error body is an error
            raise _classify(status, code, message, headers, where, ok_status=True)
        if data is None:
            raise TokenResponseError(
                f"token endpoint answered {_content_kind(headers, body)}, not a JSON token",
                **where,
            )
        missing = " or ".join(dialect.access_token_path)
        raise TokenResponseError(
            f"token response has no access token at {missing!r}", missing_field=missing, **where
        )
    raise _classify(status, code, message, headers, where, ok_status=False)


def error_response(
    dialect: TokenDialect,
    *,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    token_url: str,
    secrets: Iterable[str] = (),
) -> TokenError:
    """The typed error for an answer that carries no token, classified as the token endpoint's
    are (for endpoints that answer like it: RFC 8628's device authorization endpoint)."""
    secrets = tuple(secrets)
    where: dict[str, Any] = {
        "vendor": dialect.name,
        "token_url": safe_url(token_url),
        "status": status,
        "secrets": secrets,
    }
    data = _json_body(body)
    code = _text(first(data, dialect.error_code_path)) if isinstance(data, dict) else None
    message = _joined(data, dialect.error_message_path) if isinstance(data, dict) else None
    if 200 <= status < 300 and not code:
        return TokenResponseError(f"the endpoint answered {_content_kind(headers, body)}", **where)
    return _classify(status, code, message, headers, where, ok_status=200 <= status < 300)


def error_code(dialect: TokenDialect, body: bytes) -> str | None:
    """The vendor's error code in ``body`` (the dialect's ``error_code_path``), if any."""
    data = _json_body(body)
    return _text(first(data, dialect.error_code_path)) if isinstance(data, dict) else None


def _classify(
    status: int,
    code: str | None,
    message: str | None,
    headers: Mapping[str, str],
    where: dict[str, Any],
    *,
    ok_status: bool,
) -> TokenError:
    said: dict[str, Any] = {"vendor_code": code, "vendor_message": message}
    retry_after = parse_retry_after(_header(headers, "retry-after"))
    if status == 429 or (code or "").lower() in {"too many requests", "rate_limited", "slow_down"}:
        return RateLimitedError(
            "vendor is rate limiting token requests", retry_after=retry_after, **said, **where
        )
    if status >= 500 or status == 408 or (code or "").lower() == "temporarily_unavailable":
        return VendorUnavailableError(
            "token endpoint is unavailable", retry_after=retry_after, **said, **where
        )
    if 300 <= status < 400:
        return TokenResponseError("token endpoint answered a redirect; check the token URL", **where)
    if status in (401, 403) or (code or "").lower() in CREDENTIAL_ERROR_CODES:
        return CredentialsRejectedError("vendor rejected the client credentials or grant", **said, **where)
    if ok_status:
        return TokenRejectedError("token endpoint answered 2xx with an error body", **said, **where)
    return TokenRejectedError("vendor refused the token request", **said, **where)


def _token(dialect: TokenDialect, data: dict[str, Any], value: str, sent_at: datetime) -> AccessToken:
    expires_at, source = resolve_expiry(
        expires_at=first(data, dialect.expires_at_path),
        expires_in=first(data, dialect.expires_in_path),
        access_token=value,
        sent_at=sent_at,
        default_lifetime=dialect.default_lifetime or None,
        expires_at_format=dialect.expires_at_format,
        vendor=dialect.name,
    )
    token_type = _text(first(data, dialect.token_type_path)) or "Bearer"
    scope = first(data, dialect.scope_path)
    if isinstance(scope, list):
        scope = " ".join(str(s) for s in scope)
    refresh = first(data, dialect.refresh_token_path)
    id_token = first(data, dialect.id_token_path)
    refresh_in = first(data, dialect.refresh_expires_in_path)
    refresh_expires_at = None
    if isinstance(refresh, str) and refresh and _seconds(refresh_in):
        refresh_expires_at = sent_at + timedelta(seconds=_seconds(refresh_in))  # type: ignore[arg-type]
    return AccessToken(
        access_token=SecretStr(value),
        token_type=token_type,
        scope=_text(scope),
        issued_at=sent_at,
        expires_at=expires_at,
        expiry_source=source,
        refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
        refresh_expires_at=refresh_expires_at,
        id_token=SecretStr(id_token) if isinstance(id_token, str) and id_token else None,
        vendor=dialect.name,
    )


def _seconds(value: Any) -> float | None:
    """A positive lifetime in seconds (a number or numeric text; 0 means "does not expire")."""
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 < seconds < 10 * 365 * 86400 else None


def _joined(data: Any, paths: Iterable[str]) -> str | None:
    """Every message present (a vendor's message plus its hint), in path order, once each."""
    texts: list[str] = []
    for path in paths:
        value = lookup(data, path)
        text = None if value is _MISSING else _text(value)
        if text and text not in texts:
            texts.append(text)
    return " | ".join(texts) or None


def _json_body(body: bytes) -> Any:
    if not body or not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return json.dumps(value)[:300]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _content_kind(headers: Mapping[str, str], body: bytes) -> str:
    if not body.strip():
        return "an empty body"
    ctype = (_header(headers, "content-type") or "no content type").split(";")[0].strip()
    return f"{len(body)} bytes of {ctype}"


def safe_url(url: str) -> str:
    """The URL without its query string (which may carry a client secret) and without user-info
    (``https://user:password@host``)."""
    parts = urlsplit(url.split("?", 1)[0])
    if parts.username is None and parts.password is None:
        return urlunsplit(parts._replace(fragment=""))
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host, fragment=""))
