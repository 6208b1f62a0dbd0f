"""Tokens in Vault KV v2, one secret per account (``mount``/``path``/<account>), written with
check-and-set on the version last read, so two writers never silently overwrite each other; and
the store's own refresh lock, in Vault too (``mount``/``path``/locks/<account>: the holder and
its lease end, taken and released with check-and-set). So a Vault store needs no Prefect
server, and the lock lives where the tokens do (one policy path prefix covers both)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..core.token import AccessToken
from ..engine.ports import StoredRecord
from ..vault.errors import VaultError, VaultSecretNotFoundError
from ..vault.session import VaultSession
from .base import StoreRequest, lock_lease
from .codec import dump_record, load_record

logger = logging.getLogger("prefect_vendortokens")


class VaultTokenStore:
    """Tokens in Vault KV v2 (``mount``/``path``/<account>), written with check-and-set."""

    name = "vault"

    def __init__(
        self, vault: VaultSession, mount: str = "secret", path: str = "prefect-vendortokens/tokens"
    ) -> None:
        self.vault = vault  # the Vault session (per process, per configuration)
        self.mount = mount
        self.path = path.strip("/")
        self._versions: dict[str, int] = {}
        self.lock = VaultLock(vault, mount, self.path)

    @classmethod
    def build(cls, request: StoreRequest) -> VaultTokenStore:
        return cls(request.vault, request.vault_mount, request.vault_path)

    def secret_path(self, key: str) -> str:
        return f"{self.path}/{key[:40]}"

    def read(self, key: str) -> AccessToken | None:
        return self.read_record(key).token

    def write(self, key: str, token: AccessToken) -> None:
        self.write_record(key, StoredRecord(token))

    def read_record(self, key: str) -> StoredRecord:
        version, data = _read(self.vault, self.mount, self.secret_path(key))
        # Never written, or its latest version deleted: check-and-set needs the current version
        # number all the same, or every later write would be refused.
        self._versions[key] = version
        return load_record(data["token"]) if data.get("token") else StoredRecord(None)

    def write_record(self, key: str, record: StoredRecord) -> None:
        """Check-and-set on the version last read. Losing the race is fine (the other writer's
        token is as good); any other failure (sealed, forbidden, unreachable) is raised, typed."""
        path = self.secret_path(key)
        cas = self._versions.get(key)
        if cas is None:
            cas = _current_version(self.vault, self.mount, path)
        data = {"token": dump_record(record), "fingerprint": record.token.fingerprint if record.token else ""}
        if _cas_write(self.vault, self.mount, path, data, cas):
            self._versions[key] = cas + 1
            return
        logger.info("token store %s/%s: another writer was first (check-and-set)", self.mount, path)
        self._versions[key] = _current_version(self.vault, self.mount, path)


class VaultLock:
    """``RefreshLock`` on ``mount``/``path``/locks/<account>. Free when it names no holder or its
    lease has ended (wall clock: the hosts' clocks need to agree only within the lease)."""

    def __init__(
        self, vault: VaultSession, mount: str, path: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.vault, self.mount, self.path, self.clock = vault, mount, path.strip("/"), clock

    def try_acquire(self, key: str) -> VaultLease | None:
        path = f"{self.path}/locks/{key[:40]}"
        version, held = _read(self.vault, self.mount, path)
        if held.get("holder") and float(held.get("until") or 0) > self.clock():
            return None
        claim = {"holder": uuid.uuid4().hex, "until": self.clock() + lock_lease()}
        if not _cas_write(self.vault, self.mount, path, claim, version):
            return None  # another process took it between our read and our write
        return VaultLease(self, path, version + 1)


class VaultLease:
    def __init__(self, lock: VaultLock, path: str, version: int) -> None:
        self.lock, self.path, self.version = lock, path, version

    def release(self) -> None:
        """Free it, unless its lease ended and another process took it meanwhile (then
        check-and-set refuses, which is right)."""
        lock = self.lock
        if not _cas_write(lock.vault, lock.mount, self.path, {"holder": "", "until": 0}, self.version):
            logger.info("refresh lock %s/%s: taken over after its lease ended", lock.mount, self.path)


def _read(vault: VaultSession, mount: str, path: str) -> tuple[int, dict[str, Any]]:
    """(version, data) of a secret; (its current version, {}) when it has none to read."""
    try:
        answer = vault.call(
            lambda c: c.secrets.kv.v2.read_secret_version(
                path=path, mount_point=mount, raise_on_deleted_version=True
            ),
            mount=mount,
            path=path,
        )
    except VaultSecretNotFoundError:
        return _current_version(vault, mount, path), {}
    return int(answer["data"]["metadata"]["version"]), dict(answer["data"]["data"] or {})


def _current_version(vault: VaultSession, mount: str, path: str) -> int:
    """The latest version number, also of a deleted or destroyed latest version (0 if never)."""
    try:
        metadata = vault.call(
            lambda c: c.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount),
            mount=mount,
            path=path,
        )
    except VaultSecretNotFoundError:
        return 0
    return int(metadata["data"].get("current_version") or 0)


def _cas_write(vault: VaultSession, mount: str, path: str, data: dict[str, Any], cas: int) -> bool:
    """Write ``data`` if the secret is still at version ``cas``; False if another writer was first."""
    try:
        vault.call(
            lambda c: c.secrets.kv.v2.create_or_update_secret(
                path=path, secret=data, cas=cas, mount_point=mount
            ),
            mount=mount,
            path=path,
        )
    except VaultError as exc:
        if "check-and-set" not in (exc.vendor_message or ""):
            raise
        return False
    return True
