"""The default store: tokens in encrypted Prefect block documents, one per account. Block
documents are encrypted at rest and the token sits in a secret field, so the token never appears
in plaintext in Prefect's database. Refreshes are serialised by the Prefect refresh lock."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar, cast
from uuid import UUID

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from ..core.about import DOCS_URL, KEY_LOGO_URL
from ..core.caches import ProcessCache
from ..core.token import AccessToken
from ..engine.ports import StoredRecord
from .base import StoreLabel, StoreRequest
from .codec import dump_record, load_record
from .prefect_listing import PAGE, block_documents
from .prefect_lock import PrefectLock


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
from prefect_vendortokens.stores.prefect_block import StoredVendorToken

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


Ids = tuple[UUID, UUID]  # a saved document's id and its block schema's


class PrefectTokenStore:
    """Tokens in encrypted Prefect block documents, one per account, named
    ``vendortoken-<vendor>-<account hash>`` and carrying the credentials block's name.

    Each call is one API call once the process knows the ids it needs: a write updates the
    document read or written before (``save`` takes seven calls: type, schema, create, read,
    update, read), and a first write creates it with the block type's ids found by the first
    ``save`` of the process. ``read_all`` reads every account's token in pages of 200, for the
    rotation flow, which decides from it which accounts are due.
    """

    name = "prefect"
    _saved: ClassVar[ProcessCache[str, Ids]] = ProcessCache("Prefect store documents")
    # Records read in one call under a batch of locks this process holds (``prefetch``), each
    # answered once, by the next read of its account under that lock.
    _fresh: ClassVar[ProcessCache[str, StoredRecord]] = ProcessCache("Prefect store records read ahead")
    # (block type id, block schema id) of StoredVendorToken on the server, after a first save.
    _kind: ClassVar[ProcessCache[str, Ids]] = ProcessCache("Prefect store block type")

    def __init__(self, about: StoreLabel | None = None) -> None:
        self.about = about or StoreLabel(vendor="vendor")
        self.lock = PrefectLock()

    @classmethod
    def build(cls, request: StoreRequest) -> PrefectTokenStore:
        return cls(request.label)

    def block_name(self, key: str) -> str:
        vendor = re.sub(r"[^a-z0-9]+", "-", self.about.vendor.lower()).strip("-") or "vendor"
        return f"vendortoken-{vendor}-{key[:24]}"

    def read(self, key: str) -> AccessToken | None:
        return self.read_record(key).token

    def write(self, key: str, token: AccessToken) -> None:
        self.write_record(key, StoredRecord(token))

    def read_record(self, key: str) -> StoredRecord:
        fresh = self._fresh.get(key)
        if fresh is not None:  # read under this process's batch of locks a moment ago
            self._fresh.pop(key)
            return fresh
        try:
            loaded = StoredVendorToken.load(self.block_name(key), _sync=True)  # type: ignore[call-arg]
            block = cast(StoredVendorToken, loaded)
        except ValueError:  # no such block yet
            return StoredRecord(None)
        if block._block_document_id is not None and block._block_schema_id is not None:
            self._saved.put(key, (block._block_document_id, block._block_schema_id))
        return load_record(block.token.get_secret_value())

    def write_record(self, key: str, record: StoredRecord) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import BlockDocumentCreate, BlockDocumentUpdate

        data = _document(record, self.about)
        saved, kind = self._saved.get(key), self._kind.get(StoredVendorToken.get_block_type_slug())
        try:
            with get_client(sync_client=True) as client:
                if saved is not None:
                    client.update_block_document(
                        saved[0], BlockDocumentUpdate(block_schema_id=saved[1], data=data)
                    )
                    return
                if kind is not None:
                    made = client.create_block_document(
                        BlockDocumentCreate(
                            name=self.block_name(key),
                            data=data,
                            block_type_id=kind[0],
                            block_schema_id=kind[1],
                        )
                    )
                    self._saved.put(key, (made.id, kind[1]))
                    return
        except Exception:  # deleted meanwhile, made by another process, another server: save()
            self._saved.pop(key)
        block = StoredVendorToken.model_validate(data)
        block.save(self.block_name(key), overwrite=True, _sync=True)  # type: ignore[call-arg]
        document, kind_id, schema = block._block_document_id, block._block_type_id, block._block_schema_id
        if document is not None and kind_id is not None and schema is not None:
            self._saved.put(key, (document, schema))
            self._kind.put(StoredVendorToken.get_block_type_slug(), (kind_id, schema))

    @classmethod
    def prefetch(cls, accounts: dict[str, str]) -> None:
        """Read these accounts' records (store key -> document name) in one call, for the
        holder of their locks (``PrefectLock.hold``): each account's read under the lock is then
        answered from it, and its write is one update. Call ``forget`` when the locks go."""
        from prefect.client.orchestration import get_client

        by_name = {name: key for key, name in accounts.items()}
        if not by_name or len(by_name) > PAGE:
            raise ValueError(f"prefetch takes 1 to {PAGE} accounts, not {len(by_name)}")
        with get_client(sync_client=True) as client:
            documents = client.request(
                "POST",
                "/block_documents/filter",
                json={
                    "block_types": {"slug": {"any_": [StoredVendorToken.get_block_type_slug()]}},
                    "block_documents": {"name": {"any_": sorted(by_name)}},
                    "include_secrets": True,
                    "limit": len(by_name),
                },
            ).json()
        found = {}
        for document in documents:
            key = by_name.get(document["name"])
            if key is not None:
                found[key] = (_listed(document), UUID(document["id"]), UUID(document["block_schema_id"]))
        for key in accounts:
            if key in found:
                record, document_id, schema = found[key]
                cls._saved.put(key, (document_id, schema))
                if record is not None:
                    cls._fresh.put(key, record)
            else:
                cls._fresh.put(key, StoredRecord(None))  # none yet: the write creates it

    @classmethod
    def forget(cls, keys: Iterable[str]) -> None:
        """Drop what ``prefetch`` read and no lock holder used (the locks are going)."""
        for key in keys:
            cls._fresh.pop(key)

    @classmethod
    def learn_kind(cls) -> None:
        """Find (or register) the block type's ids once, before many first writes at once:
        without them each first write is a ``save`` of several calls, and a thousand of those
        at once kept the server busy past the store's 10 s bound."""
        slug = StoredVendorToken.get_block_type_slug()
        if cls._kind.get(slug) is not None:
            return
        StoredVendorToken.register_type_and_schema(_sync=True)  # type: ignore[call-arg]
        kind_id, schema = StoredVendorToken._block_type_id, StoredVendorToken._block_schema_id
        if kind_id is not None and schema is not None:
            cls._kind.put(slug, (kind_id, schema))

    @classmethod
    def read_all(cls) -> dict[str, StoredRecord]:
        """Every stored token on the server, by document name: one listing in pages (of 200)
        instead of a read per account. A document that does not open is left out (its
        account goes through the lock, which reads it again and says why)."""
        from prefect.client.orchestration import get_client

        records: dict[str, StoredRecord] = {}
        with get_client(sync_client=True) as client:
            slug = StoredVendorToken.get_block_type_slug()
            for document in block_documents(client, slug, include_secrets=True):
                record = _listed(document)
                if record is not None:
                    records[document["name"]] = record
        return records


def _listed(document: dict[str, Any]) -> StoredRecord | None:
    """A listed document's record, or None when it does not open."""
    try:
        return load_record(str(document["data"]["token"]))
    except Exception:
        return None


def _document(record: StoredRecord, about: StoreLabel) -> dict[str, Any]:
    """The block document's data, as Prefect stores it (the token's JSON in its secret field)."""
    token = record.token
    if token is None:
        raise ValueError("a stored record needs a token")
    return {
        "token": dump_record(record),
        "fingerprint": token.fingerprint,
        "vendor": token.vendor,
        "expires_at": token.expires_at.isoformat(),
        "credentials_block": about.block,
        "token_url": about.token_url or None,
    }
