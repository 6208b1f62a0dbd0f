"""What a shared token store is: the store protocol, the separate refresh-lock protocol, and what
a store is built from. Pure: no Prefect, no hvac (the engine reads only these types)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..core.token import AccessToken

logger = logging.getLogger("prefect_vendortokens")

LOCK_LEASE = 60.0  # a refresh takes < 30 s (the request's timeout) plus two bounded store calls
LOCK_LEASE_ENV = "VENDORTOKENS_LOCK_LEASE"


def lock_lease() -> float:
    """Seconds a refresh lock is held at most: a crashed holder's lock is free again after it.
    ``VENDORTOKENS_LOCK_LEASE`` overrides the 60 s default (the crash tests use a few seconds);
    set it alike in every process of an account. Read here only, for every store's lock."""
    raw = os.environ.get(LOCK_LEASE_ENV, "").strip()
    if not raw:
        return LOCK_LEASE
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        logger.warning("%s=%r is not a positive number; using %g s", LOCK_LEASE_ENV, raw, LOCK_LEASE)
        return LOCK_LEASE
    return value


class Lease(Protocol):
    """A held refresh lock."""

    def release(self) -> None: ...


class RefreshLock(Protocol):
    """One refresh per account at a time across processes: ``try_acquire`` takes the account's
    lock if it is free (else ``None`` at once; the manager polls the store meanwhile). Its
    holder re-reads the store, refreshes if still needed and writes back before releasing, so a
    rotated refresh token is never sent twice. A crashed holder's lease (``lock_lease()``)
    expires, also across a restart of the server that keeps the lock."""

    def try_acquire(self, key: str) -> Lease | None: ...


@dataclass(frozen=True)
class InFlight:
    """A refresh with a rotating refresh token is in flight: which refresh token (its
    fingerprint), sent by whom (host and process) and since when (UTC). The holder records it
    in the store before it sends; the write of the answer clears it. The next holder that finds
    it still naming the stored refresh token knows the previous one may have died (or lost the
    answer) after the vendor rotated it, with the only copy of the new one."""

    refresh_fingerprint: str
    holder: str
    since: datetime


@dataclass(frozen=True)
class StoredRecord:
    """What a store keeps for an account: the token, and the refresh in flight, if any."""

    token: AccessToken | None
    in_flight: InFlight | None = None


class TokenStore(Protocol):
    """Where one token per account is shared by every process and flow run. Calls may block
    (the engine runs each in a thread, bounded) and raise anything (the engine types it).
    ``read``/``write`` are the token alone (``write`` clears an in-flight mark);
    ``read_record``/``write_record`` carry the mark as well, for user-authorized accounts."""

    name: str
    lock: RefreshLock

    def read(self, key: str) -> AccessToken | None: ...
    def write(self, key: str, token: AccessToken) -> None: ...
    def read_record(self, key: str) -> StoredRecord: ...
    def write_record(self, key: str, record: StoredRecord) -> None: ...


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
