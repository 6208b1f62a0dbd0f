"""prefect-vendortokens: short-lived vendor API tokens for Prefect flows, fetched, refreshed,
shared and rotated without a secret ever landing in Prefect's database, results or logs."""

from .client import TokenClient
from .dialect import BodyEncoding, ClientAuth, ExpiresAtFormat, TokenDialect
from .errors import (
    CredentialsRejectedError,
    DialectError,
    RateLimitedError,
    TokenError,
    TokenRejectedError,
    TokenResponseError,
    TokenTransportError,
    VendorUnavailableError,
)
from .pkce import Pkce
from .presets import DIALECT_NAMES, get_dialect
from .token import AccessToken, ExpirySource, RedactedTokenError

__version__ = "0.1.0"

__all__ = [
    "DIALECT_NAMES",
    "AccessToken",
    "BodyEncoding",
    "ClientAuth",
    "CredentialsRejectedError",
    "DialectError",
    "ExpiresAtFormat",
    "ExpirySource",
    "Pkce",
    "RateLimitedError",
    "RedactedTokenError",
    "TokenClient",
    "TokenDialect",
    "TokenError",
    "TokenRejectedError",
    "TokenResponseError",
    "TokenTransportError",
    "VendorUnavailableError",
    "get_dialect",
]
