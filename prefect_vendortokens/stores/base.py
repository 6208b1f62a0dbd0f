"""What a shared token store is: the store protocol, the separate refresh-lock protocol, and what
a store is built from. Pure: no Prefect, no hvac (the engine reads only these types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..core.token import AccessToken


class Lease(Protocol):
    """A held refresh lock."""

    def release(self) -> None: ...


class RefreshLock(Protocol):
    """One refresh per account at a time across processes: ``try_acquire`` takes the account's
    lock if it is free (else ``None`` at once; the manager polls the store meanwhile). Its
    holder re-reads the store, refreshes if still needed and writes back before releasing, so a
    rotated refresh token is never sent twice. A crashed holder's lease expires."""

    def try_acquire(self, key: str) -> Lease | None: ...


class TokenStore(Protocol):
    """Where one token per account is shared by every process and flow run. Calls may block
    (the engine runs each in a thread, bounded) and raise anything (the engine types it)."""

    name: str
    lock: RefreshLock

    def read(self, key: str) -> AccessToken | None: ...
    def write(self, key: str, token: AccessToken) -> None: ...


@dataclass(frozen=True)
class StoreLabel:
    """What a person needs to recognise a stored token: vendor, credentials block, token URL."""

    vendor: str
    block: str | None = None
    token_url: str = ""


@dataclass(frozen=True)
class StoreRequest:
    """What a store is built from: the account's label and the block's store settings."""

    label: StoreLabel
    vault: Any = None  # a VaultCredentials block, for stores that live in Vault
    vault_mount: str = "secret"
    vault_path: str = "prefect-vendortokens/tokens"
