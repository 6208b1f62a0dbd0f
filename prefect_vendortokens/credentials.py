"""``VendorCredentials``: one vendor account as a Prefect block.

The block is configuration. Tokens live in the process-wide ``TokenManager`` for the account
(``manager.py``), so loading the same block in a hundred tasks of one flow run costs one token.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import ssl
import threading
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr, model_validator

from .auth import VendorTokenAuth
from .client import TokenClient
from .dialect import TokenDialect
from .errors import DialectError, VaultSecretNotFoundError
from .manager import ClientSource, StaticClientSource, TokenManager, manager_for
from .presets import get_dialect
from .store import PrefectTokenStore, TokenStore, VaultTokenStore
from .token import AccessToken
from .vault import VaultCredentials

VendorName = Literal["sqod", "cobee", "slashid", "sqr", "resales_online", "oauth2", "custom"]


class VendorCredentials(CredentialsBlock):
    """A vendor API account: how to get its tokens, and the client credentials to get them with.

    Tokens are fetched on first use, cached for the whole process, refreshed before expiry and
    never stored in the block.
    """

    _block_type_name = "Vendor Credentials"
    _block_type_slug = "vendor-credentials"
    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/fb3f4debabcda1c5a3aeea4f5b3f94c28845e23e-250x250.png"
    _documentation_url = "https://github.com/prefect-vendortokens/prefect-vendortokens#readme"  # type: ignore[assignment]
    _description = (
        "Client credentials for a vendor API with short-lived tokens "
        "(SQOD, Cobee, SlashID, SQR, Resales-Online or any OAuth2 dialect)."
    )
    _code_example = """
```python
from prefect_vendortokens import VendorCredentials

vendor_credentials_block = VendorCredentials.load("BLOCK_NAME")
token = vendor_credentials_block.get_token()          # a valid AccessToken, cached per process
with vendor_credentials_block.get_client() as client:  # bearer header, refresh, 401 replay
    client.get("https://api.vendor.example/v1/things")
```
"""

    vendor: VendorName = Field(
        default="oauth2",
        description="Vendor preset, or 'custom' to describe the token endpoint in the dialect field.",
    )
    dialect: TokenDialect | None = Field(
        default=None,
        description="The token endpoint's dialect; only with vendor 'custom'.",
    )
    token_url: str | None = Field(
        default=None,
        description="Token endpoint URL; defaults to the preset's documented URL.",
    )
    client_id: str | None = Field(default=None, description="OAuth client id.")
    client_secret: SecretStr | None = Field(default=None, description="OAuth client secret.")
    scopes: list[str] = Field(default_factory=list, description="Scopes to ask for.")
    extra: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Extra values the dialect needs, such as an audience or a customer id.",
    )
    refresh_margin: float | None = Field(
        default=None,
        ge=0,
        description="Seconds before expiry to renew a token; empty for 10% of its lifetime (10 s to 5 min).",
    )
    timeout: float = Field(default=30.0, gt=0, description="Timeout in seconds for each HTTP request.")
    verify_tls: bool = Field(default=True, description="Verify TLS certificates.")
    ca_bundle_path: str | None = Field(
        default=None, description="Path to a CA bundle (PEM) to verify the vendor with."
    )
    allow_insecure_http: bool = Field(
        default=False,
        description="Allow a plain-http token URL on a non-loopback host (never do this in production).",
    )
    vault: VaultCredentials | None = Field(
        default=None,
        description="Read the client id and secret from this Vault at use time instead of storing them here.",
    )
    vault_path: str | None = Field(default=None, description="Path of the KV secret in Vault.")
    vault_mount: str = Field(default="secret", description="KV mount the secret is in.")
    vault_version: int | None = Field(
        default=None, ge=1, description="Pin a KV v2 version; empty for the latest."
    )
    vault_client_id_key: str = Field(default="client_id", description="Key of the client id in the secret.")
    vault_client_secret_key: str = Field(
        default="client_secret", description="Key of the client secret in the secret."
    )
    token_store: Literal["prefect", "vault", "memory"] = Field(
        default="prefect",
        description=(
            "Where tokens are shared across processes and flow runs: encrypted Prefect block "
            "documents, Vault KV v2, or only this process's memory."
        ),
    )
    token_store_vault: VaultCredentials | None = Field(
        default=None, description="Vault for the 'vault' token store; empty to use the vault field."
    )
    token_store_vault_mount: str = Field(
        default="secret", description="KV v2 mount of the Vault token store."
    )
    token_store_vault_path: str = Field(
        default="prefect-vendortokens/tokens", description="Path prefix of the Vault token store."
    )

    # --- validation -----------------------------------------------------------------------
    @model_validator(mode="after")
    def _check_config(self) -> VendorCredentials:
        name = self._label()
        if self.vendor == "custom" and self.dialect is None:
            raise ValueError(f"{name}: vendor 'custom' needs a dialect")
        if self.vendor != "custom" and self.dialect is not None:
            raise ValueError(
                f"{name}: a dialect is only used with vendor 'custom' (got vendor {self.vendor!r})"
            )
        url = self.effective_token_url
        if not url:
            raise ValueError(f"{name}: no token_url given and the {self.vendor!r} preset has no default")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{name}: token_url must be an http(s) URL, got {parts.scheme or 'no'} scheme")
        if parts.scheme == "http" and not (self.allow_insecure_http or _is_loopback(parts.hostname)):
            raise ValueError(
                f"{name}: token_url uses plain http on {parts.hostname}; use https, a loopback host, "
                "or set allow_insecure_http"
            )
        self._check_secrets(name)
        if self.token_store == "vault" and self.token_store_vault is None and self.vault is None:
            raise ValueError(f"{name}: token_store 'vault' needs token_store_vault (or vault)")
        return self

    def _check_secrets(self, name: str) -> None:
        if self.vault is not None:
            if not self.vault_path:
                raise ValueError(f"{name}: a Vault reference needs vault_path")
            if self.client_secret is not None:
                raise ValueError(
                    f"{name}: give either an inline client_secret or a Vault reference, not both"
                )
            return
        if self.vault_path:
            raise ValueError(f"{name}: vault_path is set but no vault block is given")
        if not self.client_id or self.client_secret is None:
            raise ValueError(f"{name}: client_id and client_secret are required (or a Vault reference)")

    # --- configuration ------------------------------------------------------------------
    def _label(self) -> str:
        block = getattr(self, "_block_document_name", None)
        return f"block {block!r}" if block else f"VendorCredentials({self.vendor})"

    @property
    def effective_dialect(self) -> TokenDialect:
        return self.dialect if self.dialect is not None else get_dialect(self.vendor)

    @property
    def effective_token_url(self) -> str | None:
        if self.token_url:
            return self.token_url
        return (
            self.dialect.default_token_url
            if self.dialect is not None
            else get_dialect(self.vendor).default_token_url
        )

    def _verify(self) -> bool | ssl.SSLContext:
        if self.ca_bundle_path:
            return ssl.create_default_context(cafile=self.ca_bundle_path)
        return self.verify_tls

    def _account(self) -> dict[str, Any]:
        """What identifies the account (no secret), for the process-wide token cache key."""
        return {
            "dialect": self.effective_dialect.model_dump(mode="json"),
            "token_url": self.effective_token_url,
            "client_id": self.client_id,
            "scopes": sorted(self.scopes),
            "extra": self.extra,
            "vault": None
            if self.vault is None
            else {
                "session": self.vault.session_key(),
                "mount": self.vault_mount,
                "path": self.vault_path,
                "version": self.vault_version,
                "keys": [self.vault_client_id_key, self.vault_client_secret_key],
            },
        }

    def cache_key(self) -> str:
        account = self._account()
        if self.client_secret is not None:  # a changed inline secret is a different account
            account["secret"] = hashlib.sha256(self.client_secret.get_secret_value().encode()).hexdigest()
        return hashlib.sha256(json.dumps(account, sort_keys=True).encode()).hexdigest()

    def _token_client(self, client_id: str, client_secret: SecretStr) -> TokenClient:
        try:
            return TokenClient(
                self.effective_dialect,
                self.effective_token_url,
                client_id,
                client_secret,
                scopes=self.scopes,
                extra=self.extra,
                timeout=self.timeout,
                verify=self._verify(),
            )
        except DialectError:
            raise
        except (ValueError, OSError) as exc:  # e.g. an unreadable CA bundle
            raise DialectError(f"{self._label()}: {type(exc).__name__}: {exc}", vendor=self.vendor) from None

    def _source(self) -> ClientSource:
        if self.vault is not None:
            return VaultClientSource(self)
        if not self.client_id or self.client_secret is None:  # validated, but keep type checkers honest
            raise DialectError(
                f"{self._label()}: client_id and client_secret are required", vendor=self.vendor
            )
        return StaticClientSource(self._token_client(self.client_id, self.client_secret))

    def _store(self) -> TokenStore | None:
        if self.token_store == "prefect":
            return PrefectTokenStore()
        if self.token_store == "vault":
            vault = self.token_store_vault or self.vault
            return VaultTokenStore(vault, self.token_store_vault_mount, self.token_store_vault_path)
        return None

    def manager(self) -> TokenManager:
        """The process-wide token manager of this account."""
        return manager_for(
            self.cache_key(),
            self._source,
            margin=self.refresh_margin,
            label=self._label(),
            make_store=self._store,
        )

    def rotate(self, horizon: float = 0.0) -> tuple[AccessToken, bool]:
        """Make sure the shared token is valid for at least ``horizon`` more seconds. Returns the
        token and whether a new one was requested (the rotation flow's unit of work)."""
        manager = self.manager()
        before = manager.requests
        token = manager.get_token(min_ttl=horizon)
        return token, manager.requests != before

    # --- tokens -------------------------------------------------------------------------
    async def aget_token(self, force_refresh: bool = False) -> AccessToken:
        """A valid token (cached per process; one request for all concurrent callers)."""
        return await self.manager().aget_token(force=force_refresh)

    @async_dispatch(aget_token)
    def get_token(self, force_refresh: bool = False) -> AccessToken:
        """A valid token (cached per process; one request for all concurrent callers)."""
        return self.manager().get_token(force=force_refresh)

    # --- HTTP clients -------------------------------------------------------------------
    def auth(self) -> VendorTokenAuth:
        """An ``httpx.Auth`` for your own client: header, refresh before expiry, 401 replay."""
        dialect = self.effective_dialect
        return VendorTokenAuth(self.manager(), dialect.auth_header, dialect.auth_scheme)

    def get_client(self, **httpx_kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` that authenticates every request with this account's token."""
        httpx_kwargs.setdefault("timeout", self.timeout)
        httpx_kwargs.setdefault("verify", self._verify())
        return httpx.Client(auth=self.auth(), **httpx_kwargs)

    def get_async_client(self, **httpx_kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` that authenticates every request with this account's token."""
        httpx_kwargs.setdefault("timeout", self.timeout)
        httpx_kwargs.setdefault("verify", self._verify())
        return httpx.AsyncClient(auth=self.auth(), **httpx_kwargs)


def load_credentials(credentials: VendorCredentials | str) -> VendorCredentials:
    """A block given as itself or by its saved name (what the tasks accept)."""
    if isinstance(credentials, VendorCredentials):
        return credentials
    return VendorCredentials.load(credentials, _sync=True)  # type: ignore[call-arg]


async def aload_credentials(credentials: VendorCredentials | str) -> VendorCredentials:
    if isinstance(credentials, VendorCredentials):
        return credentials
    return await VendorCredentials.aload(credentials)


class VaultClientSource:
    """Client id and secret read from Vault when a token is needed (through the Vault session's
    read cache); the token client is rebuilt only when they change (a rotated secret)."""

    reloadable = True

    def __init__(self, block: VendorCredentials) -> None:
        self._block = block
        self._lock = threading.Lock()
        self._client: TokenClient | None = None
        self._fingerprint = ""

    def client(self, fresh: bool = False) -> TokenClient:
        block = self._block
        assert block.vault is not None and block.vault_path  # noqa: S101 - validated by the block
        data = block.vault.read_secret(
            block.vault_path, mount=block.vault_mount, version=block.vault_version, fresh=fresh
        )
        client_id = block.client_id or data.get(block.vault_client_id_key)
        secret = data.get(block.vault_client_secret_key)
        missing = [
            k
            for k, v in ((block.vault_client_id_key, client_id), (block.vault_client_secret_key, secret))
            if not v
        ]
        if missing:
            raise VaultSecretNotFoundError(
                f"{block._label()}: the Vault secret has no {' or '.join(repr(k) for k in missing)} "
                f"(keys present: {', '.join(sorted(data)) or 'none'})",
                address=block.vault.address,
                namespace=block.vault.namespace,
                mount=block.vault_mount,
                path=block.vault_path,
            )
        fingerprint = hashlib.sha256(f"{client_id}\0{secret}".encode()).hexdigest()
        with self._lock:
            if fingerprint != self._fingerprint or self._client is None:
                self._client = block._token_client(str(client_id), SecretStr(str(secret)))
                self._fingerprint = fingerprint
            return self._client

    async def aclient(self, fresh: bool = False) -> TokenClient:
        return await asyncio.to_thread(self.client, fresh)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
