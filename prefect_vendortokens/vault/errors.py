"""Vault's typed errors. Importable without hvac (the top-level package exports them); the
mapping of hvac's and requests' failures onto them is ``vault/guard.py``."""

from __future__ import annotations

from typing import Any, ClassVar

from ..core.errors import TokenError, TokenStoreError


class VaultError(TokenError):
    """Reading credentials from Vault failed. Messages name the address, namespace, mount and
    path, never a token or secret."""

    def __init__(
        self,
        summary: str,
        *,
        address: str | None = None,
        namespace: str | None = None,
        mount: str | None = None,
        path: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.address, self.namespace, self.mount, self.path = address, namespace, mount, path
        super().__init__(summary, **kwargs)

    def _render(self) -> str:
        where = ", ".join(
            f"{label} {value}"
            for label, value in (
                ("Vault", self.address),
                ("namespace", self.namespace),
                ("mount", self.mount),
                ("path", self.path),
            )
            if value
        )
        text = f"{self.summary} ({where})" if where else self.summary
        if self.vendor_message:
            text += f": {self.vendor_message}"
        return text


class VaultUnreachableError(VaultError):
    """No answer from Vault (connection refused, DNS, timeout)."""

    retryable = True


class VaultTLSError(VaultError):
    """The TLS handshake with Vault failed (wrong CA, bad certificate)."""


class VaultSealedError(VaultError):
    """Vault is sealed (or in maintenance)."""

    retryable = True
    store_error: ClassVar[type[TokenStoreError]]  # set below: SealedStoreError


class SealedStoreError(TokenStoreError, VaultSealedError):
    """The Vault token store (or its refresh lock) is sealed: both a ``TokenStoreError`` and a
    ``VaultSealedError``, retryable; it works again once Vault is unsealed."""


# What the engine makes of a sealed Vault under a store call (see ``store_error_type``).
VaultSealedError.store_error = SealedStoreError


class VaultPermissionError(VaultError):
    """Vault answered 403: the token may not read this path, or it expired or was revoked."""


class VaultAuthError(VaultError):
    """Logging in to Vault failed (bad AppRole secret id, wrong password, rejected JWT)."""


class VaultSecretNotFoundError(VaultError):
    """The path, the version or a key in the secret does not exist."""


class VaultKVVersionError(VaultError):
    """The mount's KV version does not fit the request (a version pinned on KV v1, or a
    configured version that differs from the mount's)."""
