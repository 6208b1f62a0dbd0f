"""Every saved account and its stored token in a few API calls, for the rotation flow and
``status``: the Vendor Credentials blocks from one paged listing (not a load each), and the
tokens of the Prefect store from one paged listing of their documents (not a read each).
Ten thousand accounts are a hundred calls instead of twenty thousand."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import TokenError, TokenStoreError
from ..engine.ports import StoredRecord
from ..stores.prefect_block import PrefectTokenStore
from ..stores.prefect_listing import block_documents
from ..stores.prefect_lock import PrefectLock
from .credentials import VendorCredentials, load_credentials

logger = logging.getLogger("prefect_vendortokens")


@dataclass
class Survey:
    """The accounts by block name: the blocks that load, the errors of those that do not, and
    the stored record of each account whose store could be listed (the Prefect store); an
    account missing from ``stored`` is read through its own store."""

    blocks: dict[str, VendorCredentials] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)
    stored: dict[str, StoredRecord] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return sorted([*self.blocks, *self.errors])


def survey(names: Sequence[str] | None = None) -> Survey:
    """The saved Vendor Credentials blocks (``names``, or all that are not anonymous) and the
    Prefect store's records of their accounts. A wanted name that is not saved is a
    ``BlockNotFoundError`` in ``errors``; a listing of the store that fails is logged and
    leaves ``stored`` empty (every account is then read on its own, as before)."""
    found = Survey()
    wanted = set(names) if names is not None else None
    for document in _credentials_documents():
        name = document.name
        if not name or document.is_anonymous or (wanted is not None and name not in wanted):
            continue
        try:
            found.blocks[name] = VendorCredentials._load_from_block_document(document)
        except Exception as exc:  # InvalidBlockError: named, without the inputs
            found.errors[name] = exc
    for name in sorted((wanted or set()) - set(found.blocks) - set(found.errors)):
        try:  # saved since the listing, or the typed error a load gives (BlockNotFoundError)
            found.blocks[name] = load_credentials(name)
        except TokenError as exc:
            found.errors[name] = exc
    prefect = {n: b for n, b in found.blocks.items() if b.store_kind() == "prefect"}
    if prefect:
        try:
            records = PrefectTokenStore.read_all()
        except Exception as exc:
            logger.warning(
                "could not list the stored tokens (%s); reading each account's", type(exc).__name__
            )
            return found
        for name, block in prefect.items():
            manager = block.manager()
            if isinstance(manager.store, PrefectTokenStore):
                found.stored[name] = records.get(
                    manager.store.block_name(manager.store_key), StoredRecord(None)
                )
    return found


def prepare(blocks: Sequence[VendorCredentials]) -> None:
    """Read the refresh locks of these Prefect-store accounts in one paged listing, so taking
    each reads nothing first, and learn the store's block type (a failure is logged: each
    take then reads its own limit, each first write saves)."""
    keys = [b.manager().store_key for b in blocks if isinstance(b.manager().store, PrefectTokenStore)]
    if not keys:
        return
    try:
        PrefectLock.list_limits(keys)
        PrefectTokenStore.learn_kind()  # the first writes: one call each
    except Exception as exc:
        logger.warning("could not list the refresh locks (%s); reading each", type(exc).__name__)


@contextlib.contextmanager
def held(blocks: Sequence[VendorCredentials]) -> Iterator[None]:
    """Hold the refresh locks of these (due, Prefect-store) accounts as one batch: one call
    takes them all, one reads their tokens under them, one releases them, so an account's
    renewal is its token request and one write. When one of them is held elsewhere (or the
    batch cannot be had), nothing is held and each account takes its own lock as usual."""
    accounts: dict[str, str] = {}
    for block in blocks:
        manager = block.manager()
        if isinstance(manager.store, PrefectTokenStore):
            accounts[manager.store_key] = manager.store.block_name(manager.store_key)
    batch = None
    if accounts:
        try:
            batch = PrefectLock.hold(list(accounts))
        except TokenStoreError as exc:
            logger.warning("%s; each account takes its own lock", exc)
    if batch is None:
        yield
        return
    try:
        try:
            PrefectTokenStore.prefetch(accounts)
        except Exception as exc:
            logger.warning(
                "could not read %d tokens at once (%s); each is read", len(accounts), type(exc).__name__
            )
        yield
    finally:
        PrefectTokenStore.forget(accounts)
        try:
            batch.release()
        except TokenStoreError as exc:  # the leases expire by themselves
            logger.warning("%s", exc)


def _credentials_documents() -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import BlockDocument

    with get_client(sync_client=True) as client:
        slug = VendorCredentials.get_block_type_slug()
        return [BlockDocument.model_validate(d) for d in block_documents(client, slug, include_secrets=True)]
