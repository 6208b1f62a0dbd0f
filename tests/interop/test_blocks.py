"""The new client authentication methods as blocks, against oidc-provider: private_key_jwt with
the key stored encrypted in Prefect or kept in Vault (OpenBao), a public client authorized from
Python, and nothing secret in Prefect's database afterwards."""

from __future__ import annotations

import threading

import pytest

from prefect_vendortokens import VaultCredentials, VendorCredentials
from prefect_vendortokens.testing.openbao import OpenBao, free_port

from .conftest import Interop


def _pem_body(pem: str) -> str:
    return pem.strip().splitlines()[5]  # a line of the key's base64, not its header


def test_private_key_jwt_block_saved_in_prefect(prefect_server, interop: Interop) -> None:
    VendorCredentials(
        vendor="oauth2",
        issuer=interop.issuer,
        client_id="jwt-client",
        client_auth={
            "method": "private_key_jwt",
            "private_key": interop.private_key_pem,
            "key_id": interop.key_id,
        },
        scopes=["api:read"],
    ).save("interop-jwt", overwrite=True)
    block = VendorCredentials.load("interop-jwt", _sync=True)  # type: ignore[call-arg]
    assert interop.private_key_pem not in repr(block)
    token = block.get_token()
    assert interop.server.introspect(token.secret())["active"] is True
    assert prefect_server.scan([_pem_body(interop.private_key_pem), token.secret()]) == []


def test_private_key_jwt_block_with_the_key_in_vault(interop: Interop) -> None:
    with OpenBao() as bao:
        bao.root().secrets.kv.v2.create_or_update_secret(
            "vendors/idp", secret={"client_id": "jwt-client", "private_key": interop.private_key_pem}
        )
        block = VendorCredentials(
            vendor="oauth2",
            issuer=interop.issuer,
            vault=VaultCredentials(address=bao.address, auth_method="token", token="root"),
            vault_secret={"path": "vendors/idp"},
            client_auth={"method": "private_key_jwt", "key_id": interop.key_id},
            scopes=["api:read"],
            token_store="memory",
        )
        token = block.get_token()
        assert interop.server.introspect(token.secret())["active"] is True


def test_block_validation_for_the_new_methods(interop: Interop) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"private_key_jwt needs client_auth\.private_key"):
        VendorCredentials(
            vendor="oauth2", issuer=interop.issuer, client_id="a", client_auth={"method": "private_key_jwt"}
        )
    with pytest.raises(ValidationError, match="keeps its refresh token in a shared store"):
        VendorCredentials(
            vendor="oauth2",
            issuer=interop.issuer,
            client_id="a",
            client_secret="s",
            grant="authorization_code",
            token_store="memory",
        )
    with pytest.raises(
        ValidationError, match="needs a vendor with the authorization-code and refresh grants"
    ):
        VendorCredentials(vendor="sqr", client_id="a", client_secret="s", grant="authorization_code")
    with pytest.raises(ValidationError, match=r"needs authorization\.authorization_url or an issuer"):
        VendorCredentials(
            vendor="oauth2",
            token_url="https://idp.example/token",
            client_id="a",
            client_secret="s",
            grant="authorization_code",
        )
    public = VendorCredentials(
        vendor="oauth2", issuer=interop.issuer, client_id="public-client", client_auth={"method": "none"}
    )
    assert public.effective_dialect.client_auth.value == "none"


def test_public_client_authorized_from_python(prefect_server, interop: Interop) -> None:
    """``block.authorize(show_url=...)``: the URL goes to a callback (a person's browser here);
    the public client exchanges the code with its PKCE verifier and no secret."""
    VendorCredentials(
        vendor="oauth2",
        issuer=interop.issuer,
        grant="authorization_code",
        client_id="public-client",
        client_auth={"method": "none"},
        scopes=["openid", "offline_access", "api:read"],
        authorization={"extra_params": {"prompt": "consent"}},
    ).save("interop-public", overwrite=True)
    block = VendorCredentials.load("interop-public", _sync=True)  # type: ignore[call-arg]

    def browser(url: str) -> None:  # the redirect must reach the listener after authorize() waits
        threading.Thread(target=interop.server.consent, args=(url,), daemon=True).start()

    token = block.authorize(show_url=browser, port=free_port(), timeout=60)
    assert token.refresh_token is not None
    assert block.get_token() is token  # installed in this process
    renewed = block.get_token(force_refresh=True)
    assert interop.server.introspect(renewed.secret())["active"] is True
    assert interop.server.reuse_revocations() == []
