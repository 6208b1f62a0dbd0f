"""The crash matrix's account: a user-authorized (grant authorization_code) account at the
emulation's OAuth2 server, whose refresh tokens rotate and whose grant is revoked when a spent
one comes back. The worker processes and the test build the same block from one JSON spec."""

from __future__ import annotations

from typing import Any

from prefect_vendortokens import VaultCredentials, VendorCredentials


def spec(sandbox: Any, case: str, store: str, grace: float, vault_address: str | None) -> dict[str, Any]:
    creds = sandbox.credentials("oauth2")
    return {
        "token_url": sandbox.token_url("oauth2"),
        "authorization_url": sandbox.authorize_url("oauth2"),
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "case": case,  # a separate account (and stored token, lock, journal entry) per case
        "store": store,
        "grace": grace,
        "vault": vault_address,
    }


def block(s: dict[str, Any]) -> VendorCredentials:
    store: dict[str, Any] = {"token_store": {"kind": s["store"]}}
    if s["store"] == "vault":
        store["token_store_vault"] = VaultCredentials(address=s["vault"], token="root")
    return VendorCredentials(
        vendor="oauth2",
        token_url=s["token_url"],
        client_id=s["client_id"],
        client_secret=s["client_secret"],
        grant="authorization_code",
        scopes=["openid", "offline_access"],
        extra={"case": s["case"]},
        authorization={
            "authorization_url": s["authorization_url"],
            "refresh_reuse_grace": s["grace"],
        },
        **store,
    )


def consent(creds: VendorCredentials) -> Any:
    """Stands in for the person's consent: the emulation's OAuth2 server also gives a rotating
    refresh token to the client-credentials grant, and the account's own client (a user grant)
    has no grant of its own to fetch with. Installed under the lock like ``authorize``."""
    from dataclasses import replace

    from prefect_vendortokens.blocks.account import client_spec

    spec = replace(client_spec(creds), grant="client_credentials")
    first = spec.client(creds.client_id, creds.client_secret).fetch()
    return creds.manager().install(first)
