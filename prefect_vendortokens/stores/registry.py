"""The table of token stores. The block's "Store" choice, its description and the validation
come from it; a new store is one module with a ``build(StoreRequest)`` and one row here. A
store module is imported only when a block chooses it: each row's builder imports it inside."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..engine.ports import TokenStore
from .base import StoreRequest

Builder = Callable[[StoreRequest], TokenStore]


def _prefect(request: StoreRequest) -> TokenStore:
    from .prefect_block import PrefectTokenStore

    return PrefectTokenStore.build(request)


def _vault(request: StoreRequest) -> TokenStore:
    from .vault_kv import VaultTokenStore

    return VaultTokenStore.build(request)


@dataclass(frozen=True)
class StoreKind:
    name: str
    description: str
    builder: Builder | None = None  # None: this process only
    needs_vault: bool = False

    def build(self, request: StoreRequest) -> TokenStore | None:
        return self.builder(request) if self.builder is not None else None


STORES: dict[str, StoreKind] = {
    kind.name: kind
    for kind in (
        StoreKind("prefect", "an encrypted Prefect block document per account", _prefect),
        StoreKind(
            "vault", "a Vault KV v2 secret per account (needs a Vault block)", _vault, needs_vault=True
        ),
        StoreKind("memory", "this process only"),
    )
}
