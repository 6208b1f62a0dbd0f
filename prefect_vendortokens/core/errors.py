"""Typed token errors.

Every message names the vendor and the token URL and the vendor's own error code and message,
and never the client secret, a token or the request body: messages end up verbatim in Prefect's
logs, task run states and events, so they are scrubbed of every secret the caller knows of.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

_MAX_VENDOR_TEXT = 300


def secret_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret as it may come back in a vendor's echo: raw, URL- and form-encoded,
    JSON-escaped."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    return tuple(forms)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret (longer than 3 characters) in ``text`` with ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) > 3}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class TokenError(Exception):
    """Base of every error this package raises about tokens."""

    retryable: bool = False

    def __init__(
        self,
        summary: str,
        *,
        vendor: str | None = None,
        token_url: str | None = None,
        status: int | None = None,
        vendor_code: str | None = None,
        vendor_message: str | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        secrets = tuple(secrets)
        self.vendor = vendor
        self.token_url = token_url
        self.status = status
        self.vendor_code = _clip(redact(vendor_code, secrets)) if vendor_code else None
        self.vendor_message = _clip(redact(vendor_message, secrets)) if vendor_message else None
        self.summary = redact(summary, secrets)
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.summary]
        where = ", ".join(
            p
            for p in (
                f"vendor {self.vendor!r}" if self.vendor else "",
                f"token URL {self.token_url}" if self.token_url else "",
                f"HTTP {self.status}" if self.status is not None else "",
            )
            if p
        )
        if where:
            parts.append(f"({where})")
        if self.vendor_code or self.vendor_message:
            said = ": ".join(p for p in (self.vendor_code, self.vendor_message) if p)
            parts.append(f"vendor said: {said}")
        return " ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the typed fields across pickling (Prefect persists exceptions).
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[TokenError], state: dict[str, Any]) -> TokenError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._render())
    return err


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_VENDOR_TEXT else text[: _MAX_VENDOR_TEXT - 1] + "…"


class DialectError(TokenError, ValueError):
    """The dialect or its inputs cannot produce a token request (a configuration mistake)."""


class TokenRejectedError(TokenError):
    """The vendor refused the token request (a 4xx). Not worth retrying unchanged."""


class CredentialsRejectedError(TokenRejectedError):
    """The vendor rejected the client credentials or grant (invalid_client, invalid_grant, 401)."""


class AuthorizationRequiredError(CredentialsRejectedError):
    """A user-authorized account has no usable grant: never authorized here, or the vendor
    revoked or expired its refresh token. A person must consent again
    (``prefect-vendortokens authorize BLOCK``); retrying cannot help."""


class AuthorizationError(TokenError):
    """The consent run by ``authorize`` did not complete: the user or the server refused, the
    ``state`` did not match, or no answer came before the deadline."""


class DeviceAuthorizationDeniedError(AuthorizationError):
    """The person refused the device authorization (RFC 8628 ``access_denied``); asking again
    needs a new device code and the person's consent."""


class DeviceCodeExpiredError(AuthorizationError):
    """The device code lapsed before the person approved it (RFC 8628 ``expired_token``, or its
    ``expires_in`` passed while polling); start a new device authorization."""


class VendorUnavailableError(TokenError):
    """The vendor is down or overloaded (5xx, 408). Worth retrying, after ``retry_after`` if set."""

    retryable = True

    def __init__(self, summary: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(summary, **kwargs)

    def _render(self) -> str:
        text = super()._render()
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g} s)"
        return text


class RateLimitedError(VendorUnavailableError):
    """The vendor is rate limiting this client (429)."""


class TokenResponseError(TokenError):
    """The vendor's answer could not be understood (not JSON, HTML, no token in it)."""

    def __init__(self, summary: str, *, missing_field: str | None = None, **kwargs: Any) -> None:
        self.missing_field = missing_field
        super().__init__(summary, **kwargs)


class TokenTransportError(TokenError):
    """The request never got an HTTP answer (connection refused, timeout, TLS failure).
    ``sent`` is False only when it surely never reached the server (it failed while
    connecting); otherwise the server may have acted on it (rotated a refresh token) and the
    answer was lost."""

    retryable = True

    def __init__(self, summary: str, *, sent: bool = True, **kwargs: Any) -> None:
        self.sent = sent
        super().__init__(summary, **kwargs)


class DiscoveryError(TokenTransportError):
    """The issuer's metadata (RFC 8414 / OpenID Connect discovery) could not be had or used."""


class TokenStoreError(TokenError):
    """The shared token store or its cross-process refresh lock could not be used."""

    retryable = True


def store_error_type(failure: BaseException) -> type[TokenStoreError]:
    """The ``TokenStoreError`` a store's own failure becomes: the type its class names in
    ``store_error`` (a sealed Vault stays recognisable as one), else ``TokenStoreError``."""
    named = getattr(type(failure), "store_error", None)
    return named if isinstance(named, type) and issubclass(named, TokenStoreError) else TokenStoreError


class BlockNotFoundError(TokenError, ValueError):
    """No saved block of this type has that name (a ``ValueError``, as Prefect's own is)."""


class InvalidBlockError(TokenError, ValueError):
    """A saved block does not validate. The message names the block, each field and its problem,
    never an input value (pydantic echoes inputs, and an input may be a client secret)."""
