"""Tokens in Vault KV v2, one secret per account (``mount``/``path``/<account>), written with
check-and-set on the version last read, so two writers never silently overwrite each other."""

from __future__ import annotations

import logging
from typing import Any

from ..core.errors import VaultError, VaultSecretNotFoundError
from ..core.token import AccessToken
from .base import StoreRequest
from .codec import dump_token, load_token
from .prefect_lock import PrefectLock

logger = logging.getLogger("prefect_vendortokens")


class VaultTokenStore:
    """Tokens in Vault KV v2 (``mount``/``path``/<account>), written with check-and-set."""

    name = "vault"

    def __init__(self, vault: Any, mount: str = "secret", path: str = "prefect-vendortokens/tokens") -> None:
        self.vault = vault  # a VaultCredentials block
        self.mount = mount
        self.path = path.strip("/")
        self._versions: dict[str, int] = {}
        self.lock = PrefectLock()

    @classmethod
    def build(cls, request: StoreRequest) -> VaultTokenStore:
        return cls(request.vault, request.vault_mount, request.vault_path)

    def _secret_path(self, key: str) -> str:
        return f"{self.path}/{key[:40]}"

    def read(self, key: str) -> AccessToken | None:
        session = self.vault.session()
        path = self._secret_path(key)
        try:
            answer = session.call(
                lambda c: c.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=self.mount, raise_on_deleted_version=True
                ),
                mount=self.mount,
                path=path,
            )
        except VaultSecretNotFoundError:
            # Never written, or its latest version deleted or destroyed: check-and-set needs the
            # current version number all the same, or every later write would be refused.
            self._versions[key] = self._current_version(path)
            return None
        self._versions[key] = int(answer["data"]["metadata"]["version"])
        return load_token(answer["data"]["data"].get("token", ""))

    def _current_version(self, path: str) -> int:
        try:
            metadata = self.vault.session().call(
                lambda c: c.secrets.kv.v2.read_secret_metadata(path=path, mount_point=self.mount),
                mount=self.mount,
                path=path,
            )
        except VaultSecretNotFoundError:
            return 0
        return int(metadata["data"].get("current_version") or 0)

    def write(self, key: str, token: AccessToken) -> None:
        """Check-and-set on the version last read. Losing the race is fine (the other writer's
        token is as good); any other failure (sealed, forbidden, unreachable) is raised, typed."""
        session = self.vault.session()
        path = self._secret_path(key)
        cas = self._versions.get(key)
        if cas is None:
            cas = self._current_version(path)
        try:
            session.call(
                lambda c: c.secrets.kv.v2.create_or_update_secret(
                    path=path,
                    secret={"token": dump_token(token), "fingerprint": token.fingerprint},
                    cas=cas,
                    mount_point=self.mount,
                ),
                mount=self.mount,
                path=path,
            )
        except VaultError as exc:
            if "check-and-set" not in (exc.vendor_message or ""):
                raise
            logger.info("token store %s/%s: another writer was first (check-and-set)", self.mount, path)
            self._versions[key] = self._current_version(path)
            return
        self._versions[key] = cas + 1
