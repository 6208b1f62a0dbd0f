"""The table of token stores. The block's "Store" choice, its description and the validation
come from it; a new store is one module with a ``build(StoreRequest)`` and one row here. A store
module is imported only when a block chooses it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..engine.ports import TokenStore
from .base import StoreRequest


@dataclass(frozen=True)
class StoreKind:
    name: str
    description: str
    builder: str = ""  # "module:Class.method" taking a StoreRequest; empty: this process only
    needs_vault: bool = False

    def build(self, request: StoreRequest) -> TokenStore | None:
        if not self.builder:
            return None
        module, _, path = self.builder.partition(":")
        target: object = importlib.import_module(module)
        for part in path.split("."):
            target = getattr(target, part)
        return target(request)  # type: ignore[operator, no-any-return]


STORES: dict[str, StoreKind] = {
    kind.name: kind
    for kind in (
        StoreKind(
            "prefect",
            "an encrypted Prefect block document per account",
            "prefect_vendortokens.stores.prefect_block:PrefectTokenStore.build",
        ),
        StoreKind(
            "vault",
            "a Vault KV v2 secret per account (needs a Vault block)",
            "prefect_vendortokens.stores.vault_kv:VaultTokenStore.build",
            needs_vault=True,
        ),
        StoreKind("memory", "this process only"),
    )
}
