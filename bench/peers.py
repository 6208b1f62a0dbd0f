"""The three ways to hold a client-credentials token that the benchmark compares, each set up as
its own documentation shows: ours (a VendorCredentials block), authlib's OAuth2Client, and
httpx-auth's OAuth2ClientCredentials. All talk to the emulation's RFC 6749 server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from prefect_vendortokens import VendorCredentials
from prefect_vendortokens.testing import VendorSandbox

PEERS = ("ours", "authlib", "httpx-auth")


@dataclass(frozen=True)
class Account:
    token_url: str
    api_url: str
    client_id: str
    client_secret: str

    @classmethod
    def of(cls, sandbox: VendorSandbox) -> Account:
        creds = sandbox.credentials("oauth2")
        return cls(
            sandbox.token_url("oauth2"),
            sandbox.api_url("oauth2") + "/resource",
            creds.client_id,
            creds.client_secret,
        )


def block(account: Account, store: str = "memory") -> VendorCredentials:
    return VendorCredentials(
        vendor="oauth2",
        token_url=account.token_url,
        client_id=account.client_id,
        client_secret=account.client_secret,
        token_store=store,
    )


def authlib_client(account: Account, asynchronous: bool = False) -> Any:
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth2Client

    kind = AsyncOAuth2Client if asynchronous else OAuth2Client
    return kind(
        account.client_id,
        account.client_secret,
        token_endpoint=account.token_url,
        grant_type="client_credentials",
        token_endpoint_auth_method="client_secret_basic",
    )


def authlib_token(client: Any) -> None:
    """authlib's client-credentials pattern: fetch when there is no token, else keep it active."""
    if not client.token:
        client.fetch_token()
    client.ensure_active_token(client.token)


async def authlib_atoken(client: Any) -> None:
    if not client.token:
        await client.fetch_token()
    await client.ensure_active_token(client.token)


def httpx_auth(account: Account) -> httpx.Auth:
    import httpx_auth as ha

    ha.OAuth2.token_cache.clear()  # a process-global cache: each measure starts cold
    return ha.OAuth2ClientCredentials(account.token_url, account.client_id, account.client_secret)


def static_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
