"""prefect-vendortokens: short-lived vendor API tokens for Prefect flows, fetched, refreshed,
shared and rotated without a secret ever landing in Prefect's database, results or logs."""

from typing import TYPE_CHECKING, Any

from .core.dialect import BodyEncoding, ClientAuth, ExpiresAtFormat, TokenDialect
from .core.errors import (
    AuthorizationError,
    AuthorizationRequiredError,
    CredentialsRejectedError,
    DeviceAuthorizationDeniedError,
    DeviceCodeExpiredError,
    DialectError,
    DiscoveryError,
    RateLimitedError,
    TokenError,
    TokenRejectedError,
    TokenResponseError,
    TokenTransportError,
    VendorUnavailableError,
)
from .core.pkce import Pkce
from .core.presets import DIALECT_NAMES, get_dialect
from .core.token import AccessToken, ExpirySource, RedactedTokenError
from .engine.auth import VendorTokenAuth
from .engine.manager import TokenManager, clear_token_cache
from .engine.retry import RetryPolicy
from .transport.client import TokenClient
from .transport.discovery import ServerMetadata, adiscover, discover
from .vault.errors import (
    SealedStoreError,
    VaultAuthError,
    VaultError,
    VaultKVVersionError,
    VaultPermissionError,
    VaultSealedError,
    VaultSecretNotFoundError,
    VaultTLSError,
    VaultUnreachableError,
)

if TYPE_CHECKING:
    from .blocks.credentials import VendorCredentials
    from .blocks.vault import VaultCredentials
    from .importer import ImportResult, import_openapi

# The Prefect blocks load on first use, so the engine (TokenClient, TokenManager, dialects) can be
# used without importing Prefect. All three block types are listed, so that
# ``prefect block register -m prefect_vendortokens`` (which walks ``dir()``) registers each.
_PREFECT_BOUND = {
    "VendorCredentials": "prefect_vendortokens.blocks.credentials",
    "VaultCredentials": "prefect_vendortokens.blocks.vault",
    "StoredVendorToken": "prefect_vendortokens.stores.prefect_block",
    # Not Prefect, but YAML and $ref resolution: loaded when an import is asked for.
    "import_openapi": "prefect_vendortokens.importer",
    "ImportResult": "prefect_vendortokens.importer",
}


def __getattr__(name: str) -> Any:
    if name in _PREFECT_BOUND:
        import importlib

        value = getattr(importlib.import_module(_PREFECT_BOUND[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PREFECT_BOUND))


__version__ = "0.1.0"

__all__ = [
    "DIALECT_NAMES",
    "AccessToken",
    "AuthorizationError",
    "AuthorizationRequiredError",
    "BodyEncoding",
    "ClientAuth",
    "CredentialsRejectedError",
    "DeviceAuthorizationDeniedError",
    "DeviceCodeExpiredError",
    "DialectError",
    "DiscoveryError",
    "ExpiresAtFormat",
    "ExpirySource",
    "ImportResult",
    "Pkce",
    "RateLimitedError",
    "RedactedTokenError",
    "RetryPolicy",
    "SealedStoreError",
    "ServerMetadata",
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
    "adiscover",
    "clear_token_cache",
    "discover",
    "get_dialect",
    "import_openapi",
]
