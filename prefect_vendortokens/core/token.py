"""The access token value object.

Its secrets are ``SecretStr``; ``repr``, ``str`` and log forms show a short fingerprint. Pickling
drops the secrets (Prefect pickles task results and parameters into its result storage), so a
token that went through a pickle is *redacted* and refuses to be used instead of leaking.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from .errors import TokenError
from .identity import digest

# Margin policy: refresh a fraction of the lifetime early, clamped, so that a 2 s test token,
# a 60 s token and a 30-day token all behave sensibly.
MARGIN_FRACTION = 0.1
MARGIN_MIN = 10.0
MARGIN_MAX = 300.0
MARGIN_MAX_FRACTION = 0.25


class ExpirySource(StrEnum):
    """Where a token's expiry came from, best first."""

    EXPIRES_AT = "expires_at"
    EXPIRES_IN = "expires_in"
    JWT_EXP = "jwt_exp"
    DIALECT_DEFAULT = "dialect_default"
    GLOBAL_DEFAULT = "global_default"


class RedactedTokenError(TokenError):
    """A token whose secret was dropped by pickling was used."""


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible label for a secret, safe for logs."""
    return "sha256:" + digest(secret)[:12]


def default_margin(lifetime: float) -> float:
    """Seconds before expiry at which a token with this lifetime counts as expired."""
    lifetime = max(lifetime, 0.0)
    return min(MARGIN_MAX, max(MARGIN_MIN, MARGIN_FRACTION * lifetime), MARGIN_MAX_FRACTION * lifetime)


class AccessToken(BaseModel):
    """One access token: secret, type, scope, absolute expiry, refresh token, expiry source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    access_token: SecretStr
    token_type: str = "Bearer"
    scope: str | None = None
    issued_at: datetime = Field(description="When the token request was sent (UTC).")
    expires_at: datetime = Field(description="Absolute expiry (UTC).")
    expiry_source: ExpirySource
    refresh_token: SecretStr | None = None
    refresh_expires_at: datetime | None = Field(
        None, description="When the refresh token lapses, where the vendor says (UTC)."
    )
    id_token: SecretStr | None = None
    vendor: str | None = None
    # A DPoP-bound token (RFC 9449): the private JWK it is bound to, kept with it in the shared
    # store so every process proves the same key (``core/dpop.py``). None for a bearer token.
    dpop_key: SecretStr | None = None
    redacted: bool = False

    @property
    def fingerprint(self) -> str:
        # A redacted token keeps only its fingerprint in place of the secret.
        value = self.access_token.get_secret_value()
        return value if self.redacted else fingerprint(value)

    @property
    def refresh_fingerprint(self) -> str | None:
        """The refresh token's fingerprint (what an in-flight refresh mark names), if any."""
        if self.refresh_token is None or self.redacted:
            return None
        return fingerprint(self.refresh_token.get_secret_value())

    @property
    def lifetime(self) -> float:
        return (self.expires_at - self.issued_at).total_seconds()

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split()) if self.scope else ()

    def refresh_at(self, margin: float | None = None) -> datetime:
        """When this token should be replaced: ``margin`` seconds (or the default) before expiry."""
        m = default_margin(self.lifetime) if margin is None else margin
        return self.expires_at - timedelta(seconds=m)

    def is_valid(self, margin: float | None = None, now: datetime | None = None) -> bool:
        """True while the token is usable and not within the refresh margin of its expiry."""
        if self.redacted:
            return False
        return (now or datetime.now(UTC)) < self.refresh_at(margin)

    def expires_within(self, seconds: float, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) + timedelta(seconds=seconds) >= self.expires_at

    def refresh_lapses_within(self, seconds: float, now: datetime | None = None) -> bool:
        """The refresh token (the grant, for a user's account) lapses within ``seconds``: the
        rotation uses it before then, which renews it."""
        if self.refresh_token is None or self.refresh_expires_at is None:
            return False
        return (now or datetime.now(UTC)) + timedelta(seconds=seconds) >= self.refresh_expires_at

    def secret(self) -> str:
        """The raw token, for building a request. Raises on a redacted (unpickled) token."""
        if self.redacted:
            raise RedactedTokenError(
                f"token {self.fingerprint} was pickled (for example as a Prefect result) and its "
                "secret dropped; resolve tokens inside the task from the credentials block",
                vendor=self.vendor,
            )
        return self.access_token.get_secret_value()

    @property
    def dpop_bound(self) -> bool:
        """Bound to a DPoP key: every API call carries a proof made with ``dpop_key``."""
        return self.dpop_key is not None

    def authorization_value(self, scheme: str | None = None) -> str:
        """The header value, e.g. ``Bearer abc``; ``scheme`` overrides the vendor's token_type."""
        chosen = scheme if scheme is not None else _normalise_scheme(self.token_type)
        return f"{chosen} {self.secret()}" if chosen else self.secret()

    def describe(self) -> str:
        """The log form: vendor, fingerprint, expiry and its source. Never the secret."""
        vendor = f"{self.vendor} " if self.vendor else ""
        return (
            f"{vendor}token {self.fingerprint} expires {self.expires_at.isoformat(timespec='seconds')}"
            f" ({self.expiry_source.value})"
        )

    def __repr__(self) -> str:
        extra = ", redacted" if self.redacted else ""
        return (
            f"AccessToken(vendor={self.vendor!r}, fingerprint={self.fingerprint!r}, "
            f"type={self.token_type!r}, scope={self.scope!r}, "
            f"expires_at={self.expires_at.isoformat(timespec='seconds')!r}, "
            f"source={self.expiry_source.value!r}{extra})"
        )

    __str__ = describe

    # Pickle (Prefect results, cloudpickle to workers) drops the secrets. copy.copy and
    # copy.deepcopy keep them: pydantic's own __copy__/__deepcopy__ win over __reduce__.
    def __reduce__(self) -> tuple[Any, ...]:
        return (_from_redacted_state, (_redacted_state(self),))


def _redacted_state(token: AccessToken) -> dict[str, Any]:
    data = dict(token.__dict__)
    data.update(
        access_token=SecretStr(token.fingerprint),
        refresh_token=None,
        id_token=None,
        dpop_key=None,
        redacted=True,
    )
    return data


def _from_redacted_state(state: dict[str, Any]) -> AccessToken:
    return AccessToken.model_construct(**state)


def _normalise_scheme(token_type: str) -> str:
    # RFC 6750 says the scheme is case-insensitive, but many APIs only accept "Bearer".
    return "Bearer" if token_type.lower() == "bearer" else token_type
