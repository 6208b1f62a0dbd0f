"""Shared fixtures: the real vendor emulation on 127.0.0.1, and a canary check."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest

from prefect_vendortokens import TokenClient
from prefect_vendortokens.testing import VendorSandbox, vendor_sandbox

SCOPES = {"slashid": ("openid", "offline_access"), "oauth2": ("openid", "offline_access")}


@pytest.fixture
def sandbox() -> Iterator[VendorSandbox]:
    with vendor_sandbox() as sb:
        yield sb


def client_for(sb: VendorSandbox, vendor: str, **kwargs) -> TokenClient:
    creds = sb.credentials(vendor)
    kwargs.setdefault("scopes", SCOPES.get(vendor, ()))
    return TokenClient(
        kwargs.pop("dialect", vendor), sb.token_url(vendor), creds.client_id, creds.client_secret, **kwargs
    )


def assert_no_secret(texts: Iterable[str], secrets: Iterable[str]) -> None:
    """No text contains any secret (client secrets, access and refresh tokens)."""
    secrets = [s for s in secrets if s]
    assert secrets, "a canary check needs canaries"
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into: {text[:200]!r}"
