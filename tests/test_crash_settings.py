"""The crash-safety settings as docs/crash-safety.md shows them: the vendor's refresh token
reuse grace on the dialect and on the block, the refresh lock's lease, the tests' pause hook."""

from __future__ import annotations

import pytest

from prefect_vendortokens import VendorCredentials, get_dialect
from prefect_vendortokens.blocks import account
from prefect_vendortokens.stores.base import LOCK_LEASE, lock_lease

from .conftest import block_for


def test_the_reuse_grace_on_the_dialect_and_on_the_block(sandbox) -> None:
    assert get_dialect("oauth2", refresh_reuse_grace=30).refresh_reuse_grace == 30
    assert get_dialect("slashid").refresh_reuse_grace == 0  # no preset has one

    plain = block_for(sandbox, "oauth2", token_store="memory")
    graced = block_for(sandbox, "oauth2", token_store="memory", authorization={"refresh_reuse_grace": 30})
    custom = VendorCredentials(
        vendor="custom",
        dialect=get_dialect("oauth2", refresh_reuse_grace=12),
        token_url=sandbox.token_url("oauth2"),
        client_id=sandbox.credentials("oauth2").client_id,
        client_secret=sandbox.credentials("oauth2").client_secret,
        token_store="memory",
    )
    assert (plain.refresh_reuse_grace, graced.refresh_reuse_grace, custom.refresh_reuse_grace) == (0, 30, 12)
    assert graced.manager().account.reuse_grace == 30 and plain.manager().account.reuse_grace == 0
    # Behaviour, not identity: the same account and stored token, another manager.
    assert graced.account_key() == plain.account_key() and account.cache_key(graced) != account.cache_key(
        plain
    )


def test_the_lock_lease_is_read_in_one_place(monkeypatch, caplog) -> None:
    monkeypatch.delenv("VENDORTOKENS_LOCK_LEASE", raising=False)
    assert lock_lease() == LOCK_LEASE == 60
    monkeypatch.setenv("VENDORTOKENS_LOCK_LEASE", "3")
    assert lock_lease() == 3
    for bad in ("-1", "soon"):
        monkeypatch.setenv("VENDORTOKENS_LOCK_LEASE", bad)
        assert lock_lease() == LOCK_LEASE
    assert "is not a positive number" in caplog.text


@pytest.mark.parametrize(
    ("raw", "parsed"), [("", None), ("locked", ("locked", 600.0)), ("written:2.5", ("written", 2.5))]
)
def test_the_pause_hook_setting(monkeypatch, raw: str, parsed) -> None:
    from prefect_vendortokens.engine import manager

    monkeypatch.setenv(manager.PAUSE_ENV, raw)
    assert manager._pause_setting() == parsed
