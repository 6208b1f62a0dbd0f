"""From a block's values to working parts: the account's identity (the keys of its stored token
and of its process-wide manager), its ``ClientSpec``, its credentials source (inline or Vault),
its shared store and its ``TokenManager``. The block declares; this module builds.

It reads the block through ``AccountConfig``, the attributes it needs, so it imports no block
(the block imports it)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from pydantic import SecretStr

from ..core.caches import ProcessCache
from ..core.dialect import CLIENT_AUTH_NEEDS, MTLS_AUTH, TokenDialect
from ..core.identity import digest
from ..core.response import safe_url
from ..engine.manager import LazyClientSource, TokenManager, manager_for
from ..engine.ports import ClientSource, TokenStore
from ..stores.base import StoreLabel, StoreRequest
from ..stores.journal import default_journal
from ..stores.registry import STORES
from ..transport.spec import ClientSpec, GrantSecrets
from ..vault.source import SecretRef, VaultClientSource
from . import events
from .settings import (
    GRANTS,
    AuthorizationSettings,
    ClientAuthSettings,
    GrantFacts,
    HttpSettings,
    TokenStoreSettings,
    VaultSecretPath,
)
from .vault import VaultCredentials

logger = logging.getLogger("prefect_vendortokens")
_STORE_NOTED: ProcessCache[str, bool] = ProcessCache("store choices logged")


class AccountConfig(Protocol):
    """What this module reads of a Vendor Credentials block."""

    vendor: str
    dialect: TokenDialect | None
    token_url: str
    client_id: str
    client_secret: SecretStr
    scopes: list[str]
    grant: str
    username: str
    password: SecretStr
    service_account_key: SecretStr
    issuer: str
    extra: dict[str, Any]
    vault: VaultCredentials | None
    vault_secret: VaultSecretPath
    token_store: TokenStoreSettings
    token_store_vault: VaultCredentials | None
    client_auth: ClientAuthSettings
    dpop: bool
    authorization: AuthorizationSettings
    http: HttpSettings

    @property
    def effective_dialect(self) -> TokenDialect: ...
    @property
    def effective_token_url(self) -> str | None: ...
    @property
    def refresh_reuse_grace(self) -> float: ...
    def label(self) -> str: ...


# --- identity ---------------------------------------------------------------------------------
def account_key(block: AccountConfig) -> str:
    """The account's identity: blocks with equal keys share the stored token (it names the
    Prefect document, the Vault path and the refresh lock: pinned by tests/test_identity.py)."""
    issuer = block.issuer.strip()
    account: dict[str, Any] = {
        # How the vendor treats a reused refresh token is behaviour, not identity (see cache_key).
        "dialect": block.effective_dialect.model_dump(mode="json", exclude={"refresh_reuse_grace"}),
        "token_url": block.effective_token_url,
        "client_id": block.client_id,
        "scopes": sorted(block.scopes),
        "extra": block.extra,
        # Only when set, so the keys (and stored tokens) of existing blocks stay as they were.
        **({"issuer": issuer} if issuer else {}),
        **({"grant": block.grant} if block.grant != "client_credentials" else {}),
        "vault": None
        if block.vault is None
        else {"session": block.vault.session_key(), **_vault_ref(block.vault_secret)},
    }
    if block.client_secret.get_secret_value():  # a changed inline secret is a different account
        account["secret"] = digest(block.client_secret.get_secret_value())
    if block.client_auth.private_key.get_secret_value():
        account["private_key"] = digest(block.client_auth.private_key.get_secret_value())
    # The grants' own inputs, only when set: a user is another account, and so is another key
    # file. Not the password: a user's changed password is the same account, and a hash of a
    # guessable password must not be in a document name anyone may read (see cache_key).
    if block.username.strip():
        account["username"] = block.username.strip()
    if block.service_account_key.get_secret_value().strip():
        account["service_account_key"] = digest(block.service_account_key.get_secret_value())
    # Tokens bound to a certificate or a DPoP key are another account's (only when set: the keys
    # of existing blocks stay as they were).
    if block.client_auth.tls_certificate.strip():
        account["tls_certificate"] = digest(block.client_auth.tls_certificate.strip())
    if block.client_auth.tls_key.get_secret_value():
        account["tls_key"] = digest(block.client_auth.tls_key.get_secret_value())
    if block.dpop:
        account["dpop"] = True
    return digest(account)


def _vault_ref(ref: VaultSecretPath) -> dict[str, Any]:
    """The Vault reference in the identity; the grants' keys only when not their defaults, so
    the keys (and stored tokens) of existing blocks stay as they were."""
    later = (
        "username_key",
        "password_key",
        "service_account_key_key",
        "tls_certificate_key",
        "tls_key_key",
    )
    fields = type(ref).model_fields
    return ref.model_dump(exclude={n for n in later if getattr(ref, n) == fields[n].default})


def grant_facts(block: AccountConfig) -> GrantFacts:
    """What the block gives its grant (``GrantKind.problem`` checks the row's needs against it);
    a Vault reference may hold every secret, so it counts as giving them."""
    dialect, vault = block.effective_dialect, block.vault is not None
    given = {
        "authorization endpoint": bool(block.authorization.authorization_url.strip() or block.issuer.strip()),
        "device endpoint": bool(
            block.authorization.device_authorization_url.strip()
            or block.issuer.strip()
            or dialect.default_device_authorization_url
        ),
        "username": bool(block.username.strip()) or vault,
        "password": bool(block.password.get_secret_value()) or vault,
        "signing key": bool(
            block.client_auth.private_key.get_secret_value().strip()
            or block.service_account_key.get_secret_value().strip()
        )
        or vault,
    }
    return GrantFacts(dialect, str(block.token_store.kind), frozenset(k for k, v in given.items() if v))


def cache_key(block: AccountConfig) -> str:
    """The process-wide manager's key: the account plus everything that changes how tokens are
    obtained (store, margin, timeout, TLS), so two blocks that behave differently never share a
    manager silently."""
    store_vault = block.token_store_vault or block.vault
    return digest(
        {
            "account": account_key(block),
            "http": block.http.model_dump(),
            "store": block.token_store.model_dump(),
            "client_auth": block.client_auth.model_dump(exclude={"private_key", "tls_key"}),
            "reuse_grace": block.refresh_reuse_grace,
            "store_vault": None if store_vault is None else store_vault.session_key(),
            # In this process only (never stored): a changed password builds a new client.
            **(
                {"password": digest(block.password.get_secret_value())}
                if block.password.get_secret_value()
                else {}
            ),
        }
    )


# --- the client -------------------------------------------------------------------------------
def client_spec(block: AccountConfig) -> ClientSpec:
    auth = block.client_auth
    return ClientSpec(
        dialect=block.effective_dialect,
        token_url=block.effective_token_url or "",
        issuer=block.issuer.strip(),
        scopes=tuple(block.scopes),
        extra=dict(block.extra),
        timeout=block.http.timeout,
        verify_tls=block.http.verify_tls,
        ca_bundle_path=block.http.ca_bundle_path,
        authorization_url=block.authorization.authorization_url.strip(),
        key_id=auth.key_id.strip(),
        signing_alg=auth.signing_alg.strip(),
        assertion_audience=auth.assertion_audience.strip(),
        dpop=block.dpop,
        label=block.label(),
        grant=block.grant,
        username=block.username.strip(),
        token_url_given=bool(block.token_url.strip()),
        device_authorization_url=block.authorization.device_authorization_url.strip(),
    )


def client_source(block: AccountConfig) -> ClientSource:
    """Inline credentials, or the Vault secret they are read from at use time."""
    spec = client_spec(block)
    mtls = spec.dialect.client_auth in MTLS_AUTH
    certificate = block.client_auth.tls_certificate.strip()
    if block.vault is None:
        client_id, secret = block.client_id.strip(), block.client_secret
        key = block.client_auth.private_key
        grant_secrets = GrantSecrets(
            password=block.password if block.password.get_secret_value() else None,
            service_account_key=block.service_account_key
            if block.service_account_key.get_secret_value().strip()
            else None,
        )
        tls = (certificate, block.client_auth.tls_key) if mtls else None
        return LazyClientSource(lambda: spec.client(client_id, secret, key, grant_secrets, tls))
    ref, needs = block.vault_secret, CLIENT_AUTH_NEEDS[spec.dialect.client_auth]
    jwt_bearer, password = block.grant == "jwt_bearer", block.grant == "password"
    secret_ref = SecretRef(
        ref.path,
        ref.mount,
        ref.version or None,
        ref.client_id_key,
        ref.client_secret_key if needs == "client_secret" else "",
        ref.private_key_key if needs == "private_key" else "",
        # jwt_bearer: the private key or a Google key file, whichever the secret holds.
        signing_key_key=ref.private_key_key if jwt_bearer else "",
        service_account_key_key=ref.service_account_key_key if jwt_bearer else "",
        username_key=ref.username_key if password and not block.username.strip() else "",
        password_key=ref.password_key if password else "",
        tls_certificate_key=ref.tls_certificate_key if mtls else "",
        tls_key_key=ref.tls_key_key if mtls else "",
    )
    return VaultClientSource(
        block.vault.session(),
        secret_ref,
        spec,
        client_id=block.client_id.strip(),
        certificate=certificate if mtls else "",
    )


# --- the shared store -------------------------------------------------------------------------
def store_kind(block: AccountConfig) -> str:
    """The shared store the block uses: the configured kind, with 'auto' resolved."""
    kind = str(block.token_store.kind)
    if kind != "auto":
        return kind
    # A user's grant lives only in a shared store (authorize writes it there).
    shared = GRANTS[block.grant].user or events.prefect_api_available()
    chosen = "prefect" if shared else "memory"
    key = account_key(block)
    if _STORE_NOTED.get(key) is None:
        _STORE_NOTED.put(key, True)
        reason = (
            "a Prefect API is configured"
            if chosen == "prefect"
            else "no Prefect API is configured (set PREFECT_API_URL to share tokens across processes)"
        )
        logger.info("%s: token store %r: %s", block.label(), chosen, reason)
    return chosen


def store(block: AccountConfig) -> TokenStore | None:
    vault = block.token_store_vault or block.vault
    request = StoreRequest(
        label=StoreLabel(
            vendor=block.effective_dialect.name,
            block=getattr(block, "_block_document_name", None),
            token_url=safe_url(block.effective_token_url or ""),  # shown in the UI: no query, no user-info
        ),
        vault=vault.session() if vault is not None else None,
        vault_mount=block.token_store.vault_mount,
        vault_path=block.token_store.vault_path,
    )
    return STORES[store_kind(block)].build(request)


# --- the manager ------------------------------------------------------------------------------
def manager(block: AccountConfig) -> TokenManager:
    """The process-wide manager of the block's account (made on first use), its events wired."""
    user = GRANTS[block.grant].user
    resolved = manager_for(
        cache_key(block),
        lambda: client_source(block),
        margin=block.http.margin,
        label=block.label(),
        make_store=lambda: store(block),
        store_key=account_key(block),
        user_grant=user,
        reuse_grace=block.refresh_reuse_grace,
        journal=default_journal() if user else None,
    )
    events.watch(
        resolved,
        block_name=getattr(block, "_block_document_name", None),
        block_id=getattr(block, "_block_document_id", None),
        vendor=block.effective_dialect.name,
    )
    return resolved


def httpx_options(block: AccountConfig, kwargs: dict[str, Any], *, asynchronous: bool) -> dict[str, Any]:
    """The keywords of an ``httpx.Client`` or ``AsyncClient`` that authenticates with the
    account's token: the auth, its redirect hook (sync or async), the block's timeout and TLS."""
    from ..engine.auth import VendorTokenAuth

    dialect = block.effective_dialect
    auth = VendorTokenAuth(manager(block), dialect.auth_header, dialect.auth_scheme)
    options = {"timeout": block.http.timeout, **kwargs, "auth": auth}
    if "verify" not in options and block.effective_dialect.client_auth in MTLS_AUTH:
        # The token is bound to the client certificate: every API call presents it (the token
        # requests' own context; building it may read Vault and the issuer's metadata).
        options["verify"] = auth.manager.source.client().tls_context()
    options.setdefault("verify", client_spec(block).verify())
    hooks = dict(options.pop("event_hooks", None) or {})
    strip = auth.astrip_on_redirect if asynchronous else auth.strip_on_redirect
    hooks["request"] = [strip, *hooks.get("request", [])]
    return {**options, "event_hooks": hooks}
