"""What a Vendor Credentials block's values must satisfy besides their types, checked when the
block is made or loaded. Each message names the block and the field, never a value (a pasted
secret must not come back in an error or the UI). The block's validator calls ``check``; what
each grant and client-authentication method needs are rows of their tables."""

from __future__ import annotations

from ..core.dialect import CLIENT_AUTH_NEEDS, MTLS_AUTH
from ..core.errors import DialectError
from ..core.mtls import check_client_certificate
from ..core.service_account import parse_service_account_key
from ..core.url import check_url
from ..stores.registry import STORES
from .account import AccountConfig, grant_facts
from .settings import GRANTS

WHERE = "or a Vault block and path"


def check(block: AccountConfig) -> None:
    """Raise ``ValueError`` for the first thing the block cannot work with."""
    name = block.label()
    if block.vendor == "custom" and block.dialect is None:
        raise ValueError(f"{name}: vendor 'custom' needs a Custom dialect")
    url = block.effective_token_url
    if not url and not block.issuer.strip():
        raise ValueError(
            f"{name}: no Token URL given (nor an Issuer) and the {block.vendor!r} preset has no default"
        )
    for field, value in (
        ("token_url", url),
        ("issuer", block.issuer.strip()),
        ("authorization.authorization_url", block.authorization.authorization_url.strip()),
    ):
        if value:
            check_url(url=value, what=field, label=name, allow_http=block.http.allow_insecure_http)
    _check_secrets(block, name)
    problem = GRANTS[block.grant].problem(grant_facts(block))
    if problem:
        raise ValueError(f"{name}: {problem}")
    kind = STORES.get(block.token_store.kind)
    if kind is not None and kind.needs_vault and block.token_store_vault is None and block.vault is None:
        raise ValueError(
            f"{name}: token store {kind.name!r} needs a Vault block (token_store_vault or vault)"
        )


def _check_secrets(block: AccountConfig, name: str) -> None:
    """The client's secrets: inline or in Vault (never both), and what its method needs."""
    needs = CLIENT_AUTH_NEEDS[block.effective_dialect.client_auth]  # "client_secret", "private_key" or ""
    inline_secret = block.client_secret.get_secret_value().strip()
    inline_key = block.client_auth.private_key.get_secret_value().strip()
    key_file = block.service_account_key.get_secret_value().strip()
    if key_file:  # a mangled paste fails here, naming the field and never the key
        try:
            parse_service_account_key(key_file, where=f"{name} service_account_key", vendor=block.vendor)
        except DialectError as exc:
            raise ValueError(str(exc)) from None
    if block.vault is not None:
        if not block.vault_secret.path.strip():
            raise ValueError(f"{name}: a Vault reference needs vault_secret.path (the secret's path)")
        for given, what in (
            (inline_secret, "client_secret"),
            (inline_key, "private key"),
            (block.password.get_secret_value(), "password"),
            (key_file, "service_account_key"),
            (block.client_auth.tls_key.get_secret_value().strip(), "client certificate key"),
        ):
            if given:
                raise ValueError(f"{name}: give either an inline {what} or a Vault reference, not both")
        return
    if needs == "client_secret" and not (block.client_id.strip() and inline_secret):
        raise ValueError(f"{name}: client_id and client_secret are required (non-empty), {WHERE}")
    if not block.client_id.strip() and not key_file:  # a key file names its own issuer
        raise ValueError(f"{name}: client_id is required (non-empty), {WHERE}")
    if needs == "private_key" and not inline_key:
        raise ValueError(f"{name}: private_key_jwt needs client_auth.private_key, {WHERE}")
    if block.effective_dialect.client_auth in MTLS_AUTH:
        _check_tls(block, name)


def _check_tls(block: AccountConfig, name: str) -> None:
    """Mutual TLS, inline: a certificate and its key, PEM, that belong together."""
    method = block.effective_dialect.client_auth
    certificate, key = block.client_auth.tls_certificate, block.client_auth.tls_key
    if not (certificate.strip() and key.get_secret_value().strip()):
        raise ValueError(
            f"{name}: {method.value} needs client_auth.tls_certificate and client_auth.tls_key (PEM), {WHERE}"
        )
    try:
        check_client_certificate(certificate, key, vendor=block.vendor)
    except DialectError as exc:
        raise ValueError(f"{name}: {exc.args[0] if exc.args else exc}") from None
