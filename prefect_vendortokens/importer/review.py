"""What one token answer settles about an imported dialect (pure): an answer in; the fixed
dialect, the token or typed error, and fixes, confirmations and doubts out. Reports name fields
and paths, never a value from the answer: it holds a token."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.dialect import ExpiresAtFormat, TokenDialect
from ..core.errors import (
    CredentialsRejectedError,
    TokenError,
    TokenResponseError,
    VendorUnavailableError,
)
from ..core.expiry import jwt_claims
from ..core.response import first, parse_token_response
from ..core.token import AccessToken, ExpirySource
from . import names, schema
from .response_side import looks_like_jwt


@dataclass
class ProbeReport:
    """What one token request showed: the token (or the vendor's typed error), the dialect with
    what the answer settled, and in words what was fixed, confirmed and still doubted."""

    dialect: TokenDialect
    token: AccessToken | None = None
    error: TokenError | None = None
    status: int | None = None
    fixes: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.token is not None

    def to_json(self) -> dict[str, Any]:
        token = self.token
        return {
            "ok": self.ok,
            "status": self.status,
            "fingerprint": token.fingerprint if token else None,
            "expiry_source": token.expiry_source.value if token else None,
            "lifetime_seconds": round(token.lifetime) if token else None,
            "error": f"{type(self.error).__name__}: {self.error}" if self.error else None,
            "fixes": self.fixes,
            "confirmed": self.confirmed,
            "doubts": self.doubts,
        }


def _walk(data: Any, prefix: str = "", depth: int = 0) -> Iterable[tuple[str, Any]]:
    if depth > 6:
        return
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path, value
            yield from _walk(value, path, depth + 1)
    elif isinstance(data, list) and data:
        path = f"{prefix}.0" if prefix else "0"
        yield path, data[0]
        yield from _walk(data[0], path, depth + 1)


def _leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _actual_format(value: Any) -> ExpiresAtFormat | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
            return ExpiresAtFormat.ISO8601
    if isinstance(value, int | float):
        return ExpiresAtFormat.EPOCH_MILLISECONDS if abs(value) > 1e11 else ExpiresAtFormat.EPOCH_SECONDS
    return None


def _find_token(data: Any) -> str | None:
    best = None
    for path, value in _walk(data):
        if not isinstance(value, str) or not value or schema.norm(_leaf(path)) in ("refreshtoken", "idtoken"):
            continue
        points = names.score(_leaf(path), names.ACCESS_TOKEN) + (3 if looks_like_jwt(value) else 0)
        if points >= 7 and (best is None or points > best[0]):
            best = (points, path)
    return best[1] if best else None


def _find_expiry(data: Any, skip: set[str]) -> tuple[str, str] | None:
    """(path, "in" or "at") of an expiry the dialect does not read yet."""
    for path, value in _walk(data):
        if path in skip or schema.norm(_leaf(path)).startswith("refresh"):
            continue
        p_in = names.score(_leaf(path), names.EXPIRES_IN)
        p_at = names.score(_leaf(path), names.EXPIRES_AT)
        if max(p_in, p_at) < 5:
            continue
        fmt = _actual_format(value)
        if fmt is None:
            continue
        number = None if fmt is ExpiresAtFormat.ISO8601 else float(value)
        if number is not None and number < 1e8 and p_in:
            return path, "in"
        if (number is None or number >= 1e9) and p_at:
            return path, "at"
    return None


def _find_errors(data: Any) -> tuple[list[str], list[str]]:
    codes, messages = [], []
    for path, value in _walk(data):
        if isinstance(value, dict | list | bool) or value is None:
            continue
        if names.score(_leaf(path), names.ERROR_CODE) >= 8:
            codes.append(path)
        elif names.score(_leaf(path), names.ERROR_MESSAGE) >= 8:
            messages.append(path)
    return codes, messages


def review(
    dialect: TokenDialect,
    *,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    sent_at: datetime,
    token_url: str,
    secrets: Iterable[str] = (),
    guessed: Iterable[str] = (),
) -> ProbeReport:
    """What the answer to one token request settles about ``dialect`` (pure)."""
    secrets, guessed = tuple(secrets), set(guessed)
    report = ProbeReport(dialect=dialect, status=status)
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        data = None

    def parse() -> None:
        report.token, report.error = None, None
        try:
            report.token = parse_token_response(
                report.dialect,
                status=status,
                headers=headers,
                body=body,
                sent_at=sent_at,
                token_url=token_url,
                secrets=secrets,
            )
        except TokenError as exc:
            report.error = exc

    def fix(what: str, **update: Any) -> None:
        report.dialect = TokenDialect.model_validate({**report.dialect.model_dump(), **update})
        report.fixes.append(what)
        parse()

    parse()
    d = report.dialect
    if report.token is None and isinstance(report.error, TokenResponseError) and isinstance(data, dict):
        found = _find_token(data)
        if found:
            fix(
                f"the token came at {found!r}, not at {' or '.join(d.access_token_path)!r}",
                access_token_path=[found],
            )
    if report.token is not None and isinstance(data, dict):
        _review_token(report, data, fix)
    if report.error is not None:
        _review_error(report, data, guessed, fix)
    return report


def _review_token(report: ProbeReport, data: dict[str, Any], fix: Any) -> None:
    d = report.dialect
    at_value = first(data, d.expires_at_path)
    if at_value is not None and d.expires_at_format is ExpiresAtFormat.AUTO:
        fmt = _actual_format(at_value)
        if fmt is not None:
            fix(
                f"the expiry time is {fmt.value.replace('_', ' ')}: expires_at_format set",
                expires_at_format=fmt.value,
            )
        else:
            report.doubts.append(
                f"the expiry at {' or '.join(d.expires_at_path)} could not be read as a time"
            )
    token = report.token
    if token is None:  # the answer's expiry could not be read after all: the error says why
        return
    if token.expiry_source in (
        ExpirySource.GLOBAL_DEFAULT,
        ExpirySource.DIALECT_DEFAULT,
        ExpirySource.JWT_EXP,
    ):
        found = _find_expiry(data, {*report.dialect.expires_in_path, *report.dialect.expires_at_path})
        if found is not None:
            path, kind = found
            if kind == "in":
                fix(f"the answer's lifetime is at {path!r}: expires_in_path set", expires_in_path=[path])
            else:
                fmt = _actual_format(first(data, [path])) or ExpiresAtFormat.AUTO
                fix(
                    f"the answer's expiry time is at {path!r} ({fmt.value.replace('_', ' ')}): "
                    "expires_at_path set",
                    expires_at_path=[path],
                    expires_at_format=fmt.value,
                )
    token = report.token
    if token is None:
        return
    source = token.expiry_source
    lifetime = f"{token.lifetime:.0f} s"
    if source is ExpirySource.EXPIRES_IN:
        report.confirmed.append(f"expiry from {' or '.join(report.dialect.expires_in_path)} ({lifetime})")
    elif source is ExpirySource.EXPIRES_AT:
        report.confirmed.append(f"expiry from {' or '.join(report.dialect.expires_at_path)} ({lifetime})")
    elif source is ExpirySource.JWT_EXP:
        report.confirmed.append(
            f"the answer has no expiry; the token is a JWT and its exp claim says {lifetime}"
        )
    elif source is ExpirySource.DIALECT_DEFAULT:
        report.confirmed.append(
            f"the answer has no expiry; the document's stated lifetime is used ({lifetime})"
        )
    else:
        report.doubts.append(
            "the answer has no expiry and the token is not a JWT: set default_lifetime to the vendor's "
            "token lifetime (300 s is assumed meanwhile)"
        )
    report.confirmed.append(f"the token is at {' or '.join(report.dialect.access_token_path)}")
    defaults = TokenDialect()
    for name in ("token_type_path", "refresh_token_path", "scope_path"):
        paths = getattr(report.dialect, name)
        if paths != getattr(defaults, name) and paths and first(data, paths) is None:
            report.doubts.append(f"{name}: the document names {' or '.join(paths)}, which this answer lacks")
    claims = jwt_claims(token.access_token.get_secret_value())
    if claims is not None and source is not ExpirySource.JWT_EXP and "exp" in claims:
        report.confirmed.append(
            "the token is a JWT; its exp claim is read only when the answer has no expiry"
        )


def _review_error(report: ProbeReport, data: Any, guessed: set[str], fix: Any) -> None:
    d = report.dialect
    if (
        isinstance(data, dict)
        and first(data, d.error_code_path) is None
        and first(data, d.error_message_path) is None
    ):
        codes, messages = _find_errors(data)
        if codes or messages:
            fix(
                "the error came at " + ", ".join([*codes, *messages]) + ": error paths set",
                **({"error_code_path": [*codes, *d.error_code_path]} if codes else {}),
                **({"error_message_path": [*messages, *d.error_message_path]} if messages else {}),
            )
    error = report.error
    if isinstance(error, CredentialsRejectedError):
        report.doubts.append(
            "the vendor refused the client credentials: if they are right, the client authentication "
            f"({report.dialect.client_auth.value}) "
            + (
                "was a guess: try the other way (client_auth 'body' or 'basic')"
                if "client_auth" in guessed
                else "is what the document says; check the id and secret"
            )
        )
    elif isinstance(error, VendorUnavailableError):
        report.doubts.append(
            "the vendor did not answer usefully (unavailable or rate limited): probe again later"
        )
    elif isinstance(error, TokenResponseError):
        keys = sorted({path for path, _ in _walk(data)})[:12] if isinstance(data, (dict, list)) else []
        report.doubts.append(
            f"no token in the answer at {' or '.join(report.dialect.access_token_path)}"
            + (f"; the answer has: {', '.join(keys)}" if keys else "")
        )
    elif error is not None:
        open_fields = sorted(guessed & {"body_encoding", "client_credentials_grant", "client_auth"})
        report.doubts.append(
            "the vendor refused the request itself: check "
            + (
                ", ".join(open_fields) + " (guessed)"
                if open_fields
                else "the body encoding, the field names and the grant"
            )
        )
