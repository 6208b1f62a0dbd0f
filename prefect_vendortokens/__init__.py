"""prefect-vendortokens: short-lived vendor API tokens for Prefect flows, fetched, refreshed,
shared and rotated without a secret ever landing in Prefect's database, results or logs."""

from .auth import VendorTokenAuth
from .client import TokenClient
from .credentials import VendorCredentials
from .dialect import BodyEncoding, ClientAuth, ExpiresAtFormat, TokenDialect
from .errors import (
    CredentialsRejectedError,
    DialectError,
    RateLimitedError,
    TokenError,
    TokenRejectedError,
    TokenResponseError,
    TokenTransportError,
    VaultAuthError,
    VaultError,
    VaultKVVersionError,
    VaultPermissionError,
    VaultSealedError,
    VaultSecretNotFoundError,
    VaultTLSError,
    VaultUnreachableError,
    VendorUnavailableError,
)
from .manager import TokenManager, clear_token_cache
from .pkce import Pkce
from .presets import DIALECT_NAMES, get_dialect
from .retry import RetryPolicy
from .token import AccessToken, ExpirySource, RedactedTokenError
from .vault import VaultCredentials

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
    "RetryPolicy",
    "TokenClient",
    "TokenDialect",
    "TokenError",
    "TokenManager",
    "TokenRejectedError",
    "TokenResponseError",
    "TokenTransportError",
    "VaultAuthError",
    "VaultCredentials",
    "VaultError",
    "VaultKVVersionError",
    "VaultPermissionError",
    "VaultSealedError",
    "VaultSecretNotFoundError",
    "VaultTLSError",
    "VaultUnreachableError",
    "VendorCredentials",
    "VendorTokenAuth",
    "VendorUnavailableError",
    "clear_token_cache",
    "get_dialect",
]
