"""The default store: tokens in encrypted Prefect block documents, one per account. Block
documents are encrypted at rest and the token sits in a secret field, so the token never appears
in plaintext in Prefect's database. Refreshes are serialised by the Prefect refresh lock."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar, cast

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from ..core.about import DOCS_URL, KEY_LOGO_URL
from ..core.caches import ProcessCache
from ..core.token import AccessToken
from ..engine.ports import StoredRecord
from .base import StoreLabel, StoreRequest
from .codec import dump_record, load_record
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


class PrefectTokenStore:
    """Tokens in encrypted Prefect block documents, one per account, named
    ``vendortoken-<vendor>-<account hash>`` and carrying the credentials block's name.

    The first write in a process saves the block (registering its type); later writes update
    that document in one API call instead of ``save``'s seven (type, schema, create, read,
    update, read), which matters to a rotation flow running every few seconds.
    """

    name = "prefect"
    _saved: ClassVar[ProcessCache[str, StoredVendorToken]] = ProcessCache("Prefect store documents")

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
        try:
            loaded = StoredVendorToken.load(self.block_name(key), _sync=True)  # type: ignore[call-arg]
            block = cast(StoredVendorToken, loaded)
        except ValueError:  # no such block yet
            return StoredRecord(None)
        self._saved.put(key, block)  # its ids: the next write is one update call, not a save
        return load_record(block.token.get_secret_value())

    def write_record(self, key: str, record: StoredRecord) -> None:
        from prefect.client.orchestration import get_client

        update = self._update(key, record)
        if update is not None:
            try:
                with get_client(sync_client=True) as client:
                    client.update_block_document(*update)
                return
            except Exception:
                self._saved.pop(key)
        block = StoredVendorToken.model_validate(_document(record, self.about))
        block.save(self.block_name(key), overwrite=True, _sync=True)  # type: ignore[call-arg]
        self._saved.put(key, block)

    def _update(self, key: str, record: StoredRecord) -> tuple[Any, Any] | None:
        """(document id, update) for a document this process saved before, else None."""
        from prefect.client.schemas.actions import BlockDocumentUpdate

        saved = self._saved.get(key)
        if saved is None or saved._block_document_id is None:
            return None
        # Prefect's own _to_block_document costs ~30 ms of CPU per call, which a rotation of a
        # thousand accounts would pay a thousand times: the document's data is ours.
        data = _document(record, self.about)
        return saved._block_document_id, BlockDocumentUpdate(
            block_schema_id=saved._block_schema_id, data=data
        )


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
