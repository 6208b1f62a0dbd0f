"""The keys that name stored data stay byte-identical across versions: an existing user's Prefect
token document, Vault token path and refresh lock are found again after an upgrade."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from prefect_vendortokens import VaultCredentials, VendorCredentials
from prefect_vendortokens.core.identity import digest
from prefect_vendortokens.stores.base import StoreLabel
from prefect_vendortokens.stores.prefect_block import PrefectTokenStore
from prefect_vendortokens.stores.prefect_lock import limit_name
from prefect_vendortokens.stores.vault_kv import VaultTokenStore


def _blocks() -> dict[str, VendorCredentials]:
    vault = VaultCredentials(address="http://127.0.0.1:8200", token=SecretStr("root-token"))
    return {
        "inline": VendorCredentials(
            vendor="sqr",
            client_id="client-1",
            client_secret=SecretStr("s3cret"),
            scopes=["b", "a"],
            token_store="prefect",
        ),
        "issuer": VendorCredentials(
            vendor="oauth2",
            issuer="https://login.example.com",
            client_id="c",
            client_secret=SecretStr("x"),
            grant="authorization_code",
            token_store="prefect",
        ),
        "vault": VendorCredentials(
            vendor="cobee", vault=vault, vault_secret={"path": "vendors/cobee"}, token_store={"kind": "vault"}
        ),
    }


# Computed by version 0.1.0 (before the keys had one function).
PINNED = {
    "inline": "7b65f28419079adf21dda68328118d40df283b154743bd740214f07b770860a6",
    "issuer": "0886627d407a1c76ccf05748c87fbbecf5a7042ed25295a9b6144b275dc3b04d",
    "vault": "0e022e837c07f1eb514046168416cd12fbfa8aec8a74b51d67e2cbbf9d52c9b7",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_stored_data_keeps_its_names(name: str) -> None:
    block = _blocks()[name]
    key = block.account_key()
    assert key == PINNED[name]
    vendor = block.effective_dialect.name
    assert PrefectTokenStore(StoreLabel(vendor=vendor)).block_name(key) == f"vendortoken-{vendor}-{key[:24]}"
    assert VaultTokenStore(None).secret_path(key) == f"prefect-vendortokens/tokens/{key[:40]}"
    assert limit_name(key) == f"vendortokens-refresh-{key[:24]}"


def test_the_vault_session_key_is_stable() -> None:
    vault = _blocks()["vault"].vault
    assert vault is not None
    assert vault.session_key() == "3e72c7d70344e44291ca062be934c28da64c8b824e1f6fa9b1758c96a1d1ee0f"


def test_one_digest_for_text_and_for_structures() -> None:
    assert (
        digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )  # sha256("abc")
    assert digest({"b": 1, "a": [2]}) == digest({"a": [2], "b": 1})  # canonical JSON
    assert digest({"a": 1}) != digest({"a": 2})
