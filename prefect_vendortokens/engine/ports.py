"""The engine's ports: what a manager needs from the world, declared where it is used. Stores,
locks, the host journal and credential sources implement these; the engine imports none of
them (the account module on top wires them in). Pure: no Prefect, no hvac."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..core.token import AccessToken
from ..transport.client import TokenClient

# Each call to the shared store or its lock (the Prefect API, Vault) answers within this, or the
# read degrades to this process's own token, the write is skipped, the lock is a TokenStoreError.
STORE_CALL_TIMEOUT = 10.0


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

    @property
    def lock(self) -> RefreshLock: ...

    def read(self, key: str) -> AccessToken | None: ...
    def write(self, key: str, token: AccessToken) -> None: ...
    def read_record(self, key: str) -> StoredRecord: ...
    def write_record(self, key: str, record: StoredRecord) -> None: ...


class Journal(Protocol):
    """This host's journal of a user grant's tokens not yet in the store (``stores/journal.py``).
    Best effort: every method logs and skips what it cannot do."""

    def write(self, key: str, token: AccessToken, secret: bytes) -> bool: ...
    def read(self, key: str, secret: bytes) -> AccessToken | None: ...
    def clear(self, key: str, stored: AccessToken, secret: bytes) -> None: ...
    def pending(self, key: str) -> bool: ...


class NoJournal:
    """No host journal: nothing is kept on disk, nothing is replayed."""

    def write(self, key: str, token: AccessToken, secret: bytes) -> bool:
        return False

    def read(self, key: str, secret: bytes) -> AccessToken | None:
        return None

    def clear(self, key: str, stored: AccessToken, secret: bytes) -> None:
        return None

    def pending(self, key: str) -> bool:
        return False


class ClientSource(Protocol):
    """Where a manager gets its ``TokenClient``; ``fresh=True`` re-reads the credentials. May
    block (a Vault read): the manager calls it in a thread."""

    reloadable: bool

    def client(self, fresh: bool = False) -> TokenClient: ...
