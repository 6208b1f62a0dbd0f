"""Shared token stores: one token per account for every process and flow run.

- ``PrefectTokenStore`` (the default): a "Vendor Token" block document per account. Block
  documents are encrypted at rest and the token sits in a secret field, so the token never
  appears in plaintext in Prefect's database.
- ``VaultTokenStore``: a KV v2 secret per account, written with check-and-set.

Both serialise refreshes across processes with a Prefect global concurrency limit of 1 per
account: the holder re-reads the store, refreshes if still needed and writes back before
releasing, so a rotated refresh token is never sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from ..core.errors import TokenStoreError, VaultError, VaultSecretNotFoundError
from ..core.token import AccessToken, ExpirySource
from ..engine.deadline import STORE_CALL_TIMEOUT, call_within
from ..vault.block import DOCS_URL, KEY_LOGO_URL

logger = logging.getLogger("prefect_vendortokens")
LOCK_LEASE = 60.0  # a crashed holder's lock is freed after this (a refresh takes < 30 s)


# --- the stored form -------------------------------------------------------------------------
def dump_token(token: AccessToken) -> str:
    """JSON with the secrets in clear, for a store that keeps it in a secret field."""

    def reveal(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    return json.dumps(
        {
            "access_token": token.secret(),
            "refresh_token": reveal(token.refresh_token),
            "id_token": reveal(token.id_token),
            "token_type": token.token_type,
            "scope": token.scope,
            "issued_at": token.issued_at.isoformat(),
            "expires_at": token.expires_at.isoformat(),
            "expiry_source": token.expiry_source.value,
            "vendor": token.vendor,
        }
    )


def load_token(raw: str) -> AccessToken | None:
    try:
        data = json.loads(raw)
        return AccessToken(
            access_token=SecretStr(data["access_token"]),
            refresh_token=SecretStr(data["refresh_token"]) if data.get("refresh_token") else None,
            id_token=SecretStr(data["id_token"]) if data.get("id_token") else None,
            token_type=data.get("token_type") or "Bearer",
            scope=data.get("scope"),
            issued_at=datetime.fromisoformat(data["issued_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            expiry_source=ExpirySource(data["expiry_source"]),
            vendor=data.get("vendor"),
        )
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring an unreadable stored token")
        return None


class TokenStore(Protocol):
    """Where tokens are shared. ``try_lock`` takes the account's refresh lock if it is free
    (else None): only its holder refreshes, the others read what it writes."""

    name: str

    def read(self, key: str) -> AccessToken | None: ...
    async def aread(self, key: str) -> AccessToken | None: ...
    def write(self, key: str, token: AccessToken) -> None: ...
    async def awrite(self, key: str, token: AccessToken) -> None: ...
    def try_lock(self, key: str) -> contextlib.AbstractContextManager[None] | None: ...
    async def atry_lock(self, key: str) -> contextlib.AbstractAsyncContextManager[None] | None: ...


# --- cross-process lock: a Prefect global concurrency limit of 1 per account -------------------
def _limit_name(key: str) -> str:
    return f"vendortokens-refresh-{key[:24]}"


def _ensure_limit(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except Exception:
            # Two processes creating it at once: the loser gets a conflict (or, from SQLite, a
            # 500). Either way it exists now, or reading it raises the real problem.
            client.read_global_concurrency_limit_by_name(name)


class _PrefectLock:
    """``try_lock``/``atry_lock`` shared by the stores: one slot of the account's global
    concurrency limit (limit 1) taken with a lease if it is free, else ``None`` at once. The
    caller polls the store meanwhile: Prefect's own waiting sleeps for the server's Retry-After,
    seconds, while a refresh takes milliseconds. A crashed holder's lease expires."""

    _ensured: ClassVar[set[str]] = set()

    def try_lock(self, key: str) -> contextlib.AbstractContextManager[None] | None:
        from prefect.client.orchestration import get_client

        name = _limit_name(key)
        try:
            if name not in self._ensured:
                _ensure_limit(name)
                self._ensured.add(name)
            with get_client(sync_client=True) as client:
                answer = client.increment_concurrency_slots_with_lease([name], 1, "concurrency", LOCK_LEASE)
        except Exception as exc:
            if _busy(exc):
                return None
            raise TokenStoreError(f"could not take the refresh lock {name}: {type(exc).__name__}") from None
        try:
            return _Held(name, _lease(answer, name))
        except TokenStoreError:
            self._ensured.discard(name)  # deleted, or another server: create it on the next try
            raise

    async def atry_lock(self, key: str) -> contextlib.AbstractAsyncContextManager[None] | None:
        # Once per refresh: the sync client in a worker thread rather than a second copy of it.
        held = await asyncio.to_thread(self.try_lock, key)
        return None if held is None else _InThread(held)


def _lease(answer: Any, name: str) -> Any:
    body = answer.json()
    if not body.get("limits"):  # the server grants anything for a limit that does not exist
        raise TokenStoreError(f"the refresh lock {name} does not exist on the Prefect server")
    return body["lease_id"]


def _busy(exc: BaseException) -> bool:
    """True when the limit answered 423 Locked (someone else holds it)."""
    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.HTTPStatusError) and seen.response.status_code == 423:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _Held(contextlib.AbstractContextManager[None]):
    def __init__(self, name: str, lease_id: Any) -> None:
        self.name, self.lease_id = name, lease_id

    def __exit__(self, *exc: object) -> None:
        from prefect.client.orchestration import get_client

        def release() -> None:
            with get_client(sync_client=True) as client:
                client.release_concurrency_slots_with_lease(self.lease_id)

        def hung() -> TokenStoreError:
            return TokenStoreError(f"no answer within {STORE_CALL_TIMEOUT:g} s")

        try:  # bounded: a lease that is not released expires by itself (LOCK_LEASE)
            call_within(release, STORE_CALL_TIMEOUT, hung)
        except Exception as err:
            logger.warning("could not release the refresh lock %s (%s)", self.name, type(err).__name__)


class _InThread(contextlib.AbstractAsyncContextManager[None]):
    """A held lock, released from async code without blocking the event loop."""

    def __init__(self, held: contextlib.AbstractContextManager[None]) -> None:
        self._held = held

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self._held.__exit__, None, None, None)


# --- Prefect block store -----------------------------------------------------------------------
@dataclass(frozen=True)
class StoreLabel:
    """What a person needs to recognise a stored token: vendor, credentials block, token URL."""

    vendor: str
    block: str | None = None
    token_url: str = ""


class StoredVendorToken(Block):
    """Internal to prefect-vendortokens: the shared token of one vendor account, written by the
    token manager and the rotation flow. Do not create these by hand; delete one to make the
    next flow run ask the vendor for a new token."""

    _block_type_name = "Vendor Token (internal)"
    _block_type_slug = "vendor-token"
    _logo_url = KEY_LOGO_URL  # type: ignore[assignment]
    _documentation_url = DOCS_URL  # type: ignore[assignment]
    _description = (
        "Internal to prefect-vendortokens, not to be created by hand: the shared token of one vendor "
        "account (encrypted), written by the token manager. Create a Vendor Credentials block instead."
    )
    _code_example = """
```python
from prefect_vendortokens.stores.base import StoredVendorToken

stored_vendor_token_block = StoredVendorToken.load("BLOCK_NAME")  # written by the token manager
```
"""

    token: SecretStr = Field(title="Token (JSON)", description="The token and its refresh token, as JSON.")
    fingerprint: str = Field(title="Fingerprint", description="The token's fingerprint, safe to show.")
    vendor: str | None = Field(default=None, title="Vendor", description="The vendor dialect.")
    expires_at: datetime = Field(title="Expires at", description="When the token expires (UTC).")
    credentials_block: str | None = Field(
        default=None,
        title="Credentials block",
        description="The Vendor Credentials block whose token this is (the last one that wrote it).",
    )
    token_url: str | None = Field(
        default=None, title="Token URL", description="The account's token endpoint."
    )


class PrefectTokenStore(_PrefectLock):
    """Tokens in encrypted Prefect block documents, one per account, named
    ``vendortoken-<vendor>-<account hash>`` and carrying the credentials block's name.

    The first write in a process saves the block (registering its type); later writes update
    that document in one API call instead of ``save``'s seven (type, schema, create, read,
    update, read), which matters to a rotation flow running every few seconds.
    """

    name = "prefect"
    _saved: ClassVar[dict[str, StoredVendorToken]] = {}

    def __init__(self, about: StoreLabel | None = None) -> None:
        self.about = about or StoreLabel(vendor="vendor")

    def block_name(self, key: str) -> str:
        vendor = re.sub(r"[^a-z0-9]+", "-", self.about.vendor.lower()).strip("-") or "vendor"
        return f"vendortoken-{vendor}-{key[:24]}"

    def read(self, key: str) -> AccessToken | None:
        try:
            block = StoredVendorToken.load(self.block_name(key), _sync=True)  # type: ignore[call-arg]
        except ValueError:  # no such block yet
            return None
        return load_token(block.token.get_secret_value())

    async def aread(self, key: str) -> AccessToken | None:
        try:
            block = await StoredVendorToken.aload(self.block_name(key))
        except ValueError:
            return None
        return load_token(block.token.get_secret_value())

    def write(self, key: str, token: AccessToken) -> None:
        from prefect.client.orchestration import get_client

        update = self._update(key, token)
        if update is not None:
            try:
                with get_client(sync_client=True) as client:
                    client.update_block_document(*update)
                return
            except Exception:
                self._saved.pop(key, None)
        block = _stored(token, self.about)
        block.save(self.block_name(key), overwrite=True, _sync=True)  # type: ignore[call-arg]
        self._saved[key] = block

    async def awrite(self, key: str, token: AccessToken) -> None:
        await asyncio.to_thread(self.write, key, token)  # once per refresh; one copy of the logic

    def _update(self, key: str, token: AccessToken) -> tuple[Any, Any] | None:
        """(document id, update) for a document this process saved before, else None."""
        from prefect.client.schemas.actions import BlockDocumentUpdate

        saved = self._saved.get(key)
        if saved is None or saved._block_document_id is None:
            return None
        # The saved instance carries the document, schema and type ids: update it in place.
        saved.token = SecretStr(dump_token(token))
        saved.fingerprint, saved.vendor, saved.expires_at = token.fingerprint, token.vendor, token.expires_at
        saved.credentials_block, saved.token_url = self.about.block, self.about.token_url or None
        document = saved._to_block_document(name=self.block_name(key), include_secrets=True)
        return saved._block_document_id, BlockDocumentUpdate(
            **document.model_dump(include={"block_schema_id", "data"})
        )


def _stored(token: AccessToken, about: StoreLabel) -> StoredVendorToken:
    return StoredVendorToken(
        token=SecretStr(dump_token(token)),
        fingerprint=token.fingerprint,
        vendor=token.vendor,
        expires_at=token.expires_at,
        credentials_block=about.block,
        token_url=about.token_url or None,
    )


# --- Vault KV v2 store -------------------------------------------------------------------------
class VaultTokenStore(_PrefectLock):
    """Tokens in Vault KV v2 (``mount``/``path``/<account>), written with check-and-set."""

    name = "vault"

    def __init__(self, vault: Any, mount: str = "secret", path: str = "prefect-vendortokens/tokens") -> None:
        self.vault = vault  # a VaultCredentials block
        self.mount = mount
        self.path = path.strip("/")
        self._versions: dict[str, int] = {}

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

    async def aread(self, key: str) -> AccessToken | None:
        return await asyncio.to_thread(self.read, key)

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

    async def awrite(self, key: str, token: AccessToken) -> None:
        await asyncio.to_thread(self.write, key, token)
