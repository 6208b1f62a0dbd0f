"""One cache facility: every process-wide cache of the package is registered, and
``clear_token_cache()`` (the public name) empties each of them."""

from __future__ import annotations

from types import SimpleNamespace

from prefect_vendortokens import clear_token_cache
from prefect_vendortokens.core import caches


def test_clear_token_cache_empties_every_process_cache() -> None:
    # Importing the modules registers their caches.
    import prefect_vendortokens.blocks.credentials
    import prefect_vendortokens.stores.journal
    import prefect_vendortokens.stores.prefect_block
    import prefect_vendortokens.stores.prefect_lock
    import prefect_vendortokens.transport.discovery
    import prefect_vendortokens.vault.session  # noqa: F401

    names = {cache.name for cache in caches.registry}
    assert names >= {
        "token managers",
        "issuer metadata",
        "Vault sessions",
        "Prefect store documents",
        "Prefect lock limits set up",
        "host journal",
        "store choices logged",
    }
    for cache in caches.registry:
        cache.put("probe", SimpleNamespace(retired=False))  # a manager is retired when cleared
    clear_token_cache()
    assert all(cache.get("probe") is None for cache in caches.registry)


def test_a_cleared_manager_is_retired() -> None:
    from prefect_vendortokens.engine.manager import LazyClientSource, manager_for

    def source() -> LazyClientSource:
        return LazyClientSource(lambda: None)  # type: ignore[arg-type, return-value]

    first = manager_for("acct", source)
    assert manager_for("acct", source) is first
    clear_token_cache()
    assert first.retired and manager_for("acct", source) is not first
