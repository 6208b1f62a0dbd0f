"""``VendorCredentials``: one vendor account as a Prefect block.

The block is configuration. Tokens live in the process-wide ``TokenManager`` for the account
(``engine/manager.py``), so loading the same block in a hundred tasks of one flow run costs one token.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit

import httpx
from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.blocks.abstract import CredentialsBlock
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from ..core.about import DOCS_URL, KEY_LOGO_URL
from ..core.caches import ProcessCache
from ..core.dialect import ClientAuth, TokenDialect
from ..core.errors import (
    BlockNotFoundError,
    DialectError,
    TokenError,
)
from ..core.identity import digest
from ..core.presets import DIALECT_NAMES, get_dialect
from ..core.response import safe_url
from ..core.token import AccessToken
from ..core.url import refuse_user_info
from ..engine.auth import VendorTokenAuth
from ..engine.consent import CONSENT_TIMEOUT, run_consent
from ..engine.manager import LazyClientSource, TokenManager, manager_for
from ..engine.ports import ClientSource, TokenStore
from ..stores.base import StoreLabel, StoreRequest
from ..stores.journal import default_journal
from ..stores.registry import STORES
from ..transport.client import TokenClient
from ..vault.source import SecretRef, VaultClientSource
from . import events
from .loading import TypedLoadErrors
from .settings import (
    CLIENT_AUTH_METHODS,
    AuthorizationSettings,
    ClientAuthSettings,
    HttpSettings,
    TokenStoreSettings,
    VaultSecretPath,
    nest_flat_settings,
)
from .vault import VaultCredentials

logger = logging.getLogger("prefect_vendortokens")


# Every preset, and "custom": a new preset needs no edit here.
VendorName = Literal[(*DIALECT_NAMES, "custom")]  # type: ignore[valid-type]
_STORE_NOTED: ProcessCache[str, bool] = ProcessCache("store choices logged")


class VendorCredentials(TypedLoadErrors, CredentialsBlock):
    """A vendor API account: how to get its tokens, and the client credentials to get them with.

    Tokens are fetched on first use, cached for the whole process, refreshed before expiry and
    never stored in the block. Field order is form order: the essentials first, grouped
    settings after, the custom dialect last.
    """

    # pydantic's errors quote a slice of the input, which may be a URL with a password in it or
    # a secret in the wrong field; our messages name the field instead.
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "Vendor Credentials"
    _block_type_slug = "vendor-credentials"
    _logo_url = KEY_LOGO_URL  # type: ignore[assignment]
    _documentation_url = DOCS_URL  # type: ignore[assignment]
    _description = (
        "Client credentials for a vendor API with short-lived tokens (presets: "
        + ", ".join(DIALECT_NAMES)
        + "; or 'custom' for a dialect of your own). Fill in the vendor, client ID and client secret "
        "(or a Vault block and secret path); the token URL defaults to the vendor's."
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
        title="Vendor",
        description="The vendor's token dialect; 'custom' to describe it yourself in Custom dialect (last).",
    )
    token_url: str = Field(
        default="",
        title="Token URL",
        description="The token endpoint; empty for the vendor's documented URL or the issuer's metadata.",
    )
    client_id: str = Field(
        default="",
        title="Client ID",
        description="The OAuth client id (may be left empty when Vault holds it).",
    )
    client_secret: SecretStr = Field(
        default=SecretStr(""),
        title="Client secret",
        description="Stored encrypted by Prefect. Leave empty when the secret comes from Vault.",
    )
    scopes: list[str] = Field(default_factory=list, title="Scopes", description="Scopes to ask for.")
    grant: Literal["client_credentials", "authorization_code"] = Field(
        default="client_credentials",
        title="Grant",
        description="client_credentials: the app's own tokens. authorization_code: a user's, after "
        "their consent, given once with `prefect-vendortokens authorize BLOCK`; the refresh token "
        "is kept in the shared token store and renewed there.",
    )
    issuer: str = Field(
        default="",
        title="Issuer (discovery)",
        description="An OAuth 2.0 / OpenID Connect issuer URL: the token and authorization endpoints "
        "come from its metadata (RFC 8414). Leave Token URL empty.",
    )
    extra: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        title="Extra values",
        description="Values a dialect's templates need, such as an audience or a customer id.",
    )
    vault: VaultCredentials | None = Field(
        default=None,
        title="Vault for the client secret",
        description="Read the client id and secret from this Vault at use time instead of storing them here.",
    )
    vault_secret: VaultSecretPath = Field(
        default_factory=VaultSecretPath,
        title="Vault secret",
        description="Where the client credentials sit in that Vault (used only with a Vault block).",
    )
    token_store: TokenStoreSettings = Field(
        default_factory=TokenStoreSettings,
        title="Shared token store",
        description="Where tokens are shared by processes and flow runs.",
    )
    token_store_vault: VaultCredentials | None = Field(
        default=None,
        title="Vault for the token store",
        description="For store 'vault'; empty to use the Vault for the client secret.",
    )
    client_auth: ClientAuthSettings = Field(
        default_factory=ClientAuthSettings,
        title="Client authentication",
        description="The vendor's own way, or an OAuth method (private_key_jwt, public client).",
    )
    authorization: AuthorizationSettings = Field(
        default_factory=AuthorizationSettings,
        title="User authorization",
        description="For grant authorization_code: the consent's endpoint, redirect and parameters.",
    )
    http: HttpSettings = Field(
        default_factory=HttpSettings, title="Advanced HTTP settings", description="Timeout, TLS, margin."
    )
    dialect: TokenDialect | None = Field(
        default=None,
        title="Custom dialect (vendor 'custom' only)",
        description="How a vendor without a preset wants to be asked. Ignored unless Vendor is 'custom'.",
    )

    _manager: TokenManager | None = PrivateAttr(None)  # see manager()

    # --- validation -----------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _accept_form_and_flat_input(cls, data: Any) -> Any:
        """What the UI forms post, and flat keywords: ``{}`` or nulls for an untouched nested
        Vault block (V1 form) mean none; a dialect is dropped unless the vendor is custom."""
        if not isinstance(data, dict):
            return data
        data = nest_flat_settings(data)
        for name in ("vault", "token_store_vault"):
            if _blank(data.get(name)):
                data[name] = None
        if data.get("vendor", "oauth2") != "custom":
            data.pop("dialect", None)
        for name in ("token_url", "client_id"):
            if data.get(name) is None:
                data.pop(name, None)
        if data.get("client_secret") is None:
            data.pop("client_secret", None)
        return data

    @model_validator(mode="after")
    def _check_config(self) -> VendorCredentials:
        name = self._label()
        if self.vendor == "custom" and self.dialect is None:
            raise ValueError(f"{name}: vendor 'custom' needs a Custom dialect")
        url = self.effective_token_url
        if not url and not self.issuer.strip():
            raise ValueError(
                f"{name}: no Token URL given (nor an Issuer) and the {self.vendor!r} preset has no default"
            )
        for field, value in (
            ("token_url", url),
            ("issuer", self.issuer.strip()),
            ("authorization.authorization_url", self.authorization.authorization_url.strip()),
        ):
            if value:
                self._check_url(name, field, value)
        self._check_secrets(name)
        self._check_grant(name)
        kind = STORES.get(self.token_store.kind)
        if kind is not None and kind.needs_vault and self.token_store_vault is None and self.vault is None:
            raise ValueError(
                f"{name}: token store {kind.name!r} needs a Vault block (token_store_vault or vault)"
            )
        return self

    def _check_url(self, name: str, field: str, url: str) -> None:
        refuse_user_info(url, field, label=name)  # before anything that could echo the URL
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError(f"{name}: {field} has an invalid port") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{name}: {field} must be an http(s) URL, got {parts.scheme or 'no'} scheme")
        if parts.scheme == "http" and not (self.http.allow_insecure_http or _is_loopback(parts.hostname)):
            raise ValueError(
                f"{name}: {field} uses plain http on {parts.hostname}; use https, a loopback host, "
                "or set allow_insecure_http"
            )

    def _check_secrets(self, name: str) -> None:
        auth = self.effective_dialect.client_auth
        inline_secret = self.client_secret.get_secret_value().strip()
        inline_key = self.client_auth.private_key.get_secret_value().strip()
        wants_secret = auth not in (ClientAuth.NONE, ClientAuth.PRIVATE_KEY_JWT)
        if self.vault is not None:
            if not self.vault_secret.path.strip():
                raise ValueError(f"{name}: a Vault reference needs vault_secret.path (the secret's path)")
            if inline_secret:
                raise ValueError(
                    f"{name}: give either an inline client_secret or a Vault reference, not both"
                )
            if inline_key:
                raise ValueError(f"{name}: give either an inline private key or a Vault reference, not both")
            return
        if not self.client_id.strip() and wants_secret:
            raise ValueError(
                f"{name}: client_id and client_secret are required (non-empty), or a Vault block and path"
            )
        if not self.client_id.strip():
            raise ValueError(f"{name}: client_id is required (non-empty), or a Vault block and path")
        if wants_secret and not inline_secret:
            raise ValueError(
                f"{name}: client_id and client_secret are required (non-empty), or a Vault block and path"
            )
        if auth is ClientAuth.PRIVATE_KEY_JWT and not inline_key:
            raise ValueError(
                f"{name}: private_key_jwt needs client_auth.private_key, or a Vault block and path"
            )

    def _check_grant(self, name: str) -> None:
        if self.grant != "authorization_code":
            return
        dialect = self.effective_dialect
        if not (dialect.authorization_code_grant and dialect.refresh_grant):
            raise ValueError(
                f"{name}: grant authorization_code needs a vendor with the authorization-code and "
                f"refresh grants; {dialect.name!r} lacks one (pick oauth2, slashid or a custom dialect)"
            )
        if self.token_store.kind == "memory":
            raise ValueError(
                f"{name}: grant authorization_code keeps its refresh token in a shared store; "
                "choose token store prefect, vault or auto"
            )
        if not (self.authorization.authorization_url.strip() or self.issuer.strip()):
            raise ValueError(
                f"{name}: grant authorization_code needs authorization.authorization_url or an issuer"
            )

    # --- configuration ------------------------------------------------------------------
    def _label(self) -> str:
        block = getattr(self, "_block_document_name", None)
        return f"block {block!r}" if block else f"VendorCredentials({self.vendor})"

    @property
    def effective_dialect(self) -> TokenDialect:
        dialect = self.dialect if self.dialect is not None else get_dialect(self.vendor)
        method = self.client_auth.method
        if method == "vendor default":
            return dialect
        return dialect.model_copy(update={"client_auth": ClientAuth(CLIENT_AUTH_METHODS[method])})

    @property
    def refresh_reuse_grace(self) -> float:
        """Seconds the vendor accepts a rotated refresh token again: the block's setting, else the
        dialect's (0: none)."""
        return self.authorization.refresh_reuse_grace or self.effective_dialect.refresh_reuse_grace

    @property
    def effective_token_url(self) -> str | None:
        """The configured token URL; empty with an issuer (discovery finds it at use time)."""
        return self.token_url.strip() or (
            "" if self.issuer.strip() else self.effective_dialect.default_token_url
        )

    def _verify(self) -> bool | ssl.SSLContext:
        path = self.http.ca_bundle_path.strip()
        if not path:
            return self.http.verify_tls
        try:
            return ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:  # missing or not a PEM file
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise DialectError(
                f"{self._label()}: cannot use the CA bundle {path}: {reason}", vendor=self.vendor
            ) from None

    def _account(self) -> dict[str, Any]:
        """Who the tokens belong to (no secret): the key of the shared store and its lock."""
        return {
            # How the vendor treats a reused refresh token is behaviour, not identity (see cache_key).
            "dialect": self.effective_dialect.model_dump(mode="json", exclude={"refresh_reuse_grace"}),
            "token_url": self.effective_token_url,
            "client_id": self.client_id,
            "scopes": sorted(self.scopes),
            "extra": self.extra,
            # Only when set, so the keys (and stored tokens) of existing blocks stay as they were.
            **({"issuer": self.issuer.strip()} if self.issuer.strip() else {}),
            **({"grant": self.grant} if self.grant != "client_credentials" else {}),
            "vault": None
            if self.vault is None
            else {"session": self.vault.session_key(), **self.vault_secret.model_dump()},
        }

    def account_key(self) -> str:
        """The account's identity: blocks with equal keys share the stored token."""
        account = self._account()
        if self.client_secret.get_secret_value():  # a changed inline secret is a different account
            account["secret"] = digest(self.client_secret.get_secret_value())
        if self.client_auth.private_key.get_secret_value():
            account["private_key"] = digest(self.client_auth.private_key.get_secret_value())
        return digest(account)

    def cache_key(self) -> str:
        """The process-wide manager's key: the account plus everything that changes how tokens
        are obtained (store, margin, timeout, TLS), so two blocks that behave differently never
        share a manager silently."""
        store_vault = self.token_store_vault or self.vault
        behaviour = {
            "account": self.account_key(),
            "http": self.http.model_dump(),
            "store": self.token_store.model_dump(),
            "client_auth": self.client_auth.model_dump(exclude={"private_key"}),
            "reuse_grace": self.refresh_reuse_grace,
            "store_vault": None if store_vault is None else store_vault.session_key(),
        }
        return digest(behaviour)

    def _token_client(
        self, client_id: str, client_secret: SecretStr, private_key: SecretStr | None = None
    ) -> TokenClient:
        """The account's client; with an issuer, its endpoints come from discovery (a blocking
        read, cached per process: the manager builds clients in a thread)."""
        options: dict[str, Any] = {
            "scopes": self.scopes,
            "extra": self.extra,
            "timeout": self.http.timeout,
            "verify": self._verify(),
            "authorization_url": self.authorization.authorization_url.strip() or None,
            "private_key": private_key or self.client_auth.private_key,
            "key_id": self.client_auth.key_id.strip(),
            "signing_alg": self.client_auth.signing_alg.strip(),
            "assertion_audience": self.client_auth.assertion_audience.strip(),
        }
        dialect, url = self.effective_dialect, self.effective_token_url
        if self.issuer.strip():
            return TokenClient.from_issuer(
                dialect, self.issuer.strip(), client_id, client_secret, token_url=url or None, **options
            )
        return TokenClient(dialect, url, client_id, client_secret, **options)

    def _source(self) -> ClientSource:
        if self.vault is not None:
            ref = self.vault_secret
            auth = self.effective_dialect.client_auth
            return VaultClientSource(
                self.vault,
                SecretRef(
                    ref.path,
                    ref.mount,
                    ref.version or None,
                    ref.client_id_key,
                    "" if auth in (ClientAuth.NONE, ClientAuth.PRIVATE_KEY_JWT) else ref.client_secret_key,
                    ref.private_key_key if auth is ClientAuth.PRIVATE_KEY_JWT else "",
                ),
                client_id=self.client_id.strip(),
                label=self._label(),
                make_client=self._token_client,
            )
        return LazyClientSource(lambda: self._token_client(self.client_id.strip(), self.client_secret))

    def store_kind(self) -> str:
        """The shared store this block uses: the configured kind, with 'auto' resolved."""
        kind = self.token_store.kind
        if kind != "auto":
            return str(kind)
        # A user's grant lives only in a shared store (authorize writes it there).
        shared = self.grant == "authorization_code" or events.prefect_api_available()
        chosen = "prefect" if shared else "memory"
        key = self.account_key()
        if _STORE_NOTED.get(key) is None:
            _STORE_NOTED.put(key, True)
            reason = (
                "a Prefect API is configured"
                if chosen == "prefect"
                else "no Prefect API is configured (set PREFECT_API_URL to share tokens across processes)"
            )
            logger.info("%s: token store %r: %s", self._label(), chosen, reason)
        return chosen

    def _store(self) -> TokenStore | None:
        about = StoreLabel(
            vendor=self.effective_dialect.name,
            block=getattr(self, "_block_document_name", None),
            token_url=safe_url(self.effective_token_url or ""),  # shown in the UI: no query, no user-info
        )
        request = StoreRequest(
            label=about,
            vault=self.token_store_vault or self.vault,
            vault_mount=self.token_store.vault_mount,
            vault_path=self.token_store.vault_path,
        )
        return STORES[self.store_kind()].build(request)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if not name.startswith("_"):  # a changed field may be another account or behaviour
            self._manager = None

    def manager(self) -> TokenManager:
        """The process-wide token manager of this account, resolved once per block instance
        (the key hashes the whole configuration; the hot path must not) and again after a
        field is assigned or ``clear_token_cache()``. The groups are frozen, so every change is
        an assignment."""
        private = self.__pydantic_private__  # a plain dict: reads it ~5x faster than self._manager
        manager = private.get("_manager") if private is not None else None
        if manager is None or manager.retired:
            manager = self._manager = self._resolve_manager()
        return manager

    def _resolve_manager(self) -> TokenManager:
        manager = manager_for(
            self.cache_key(),
            self._source,
            margin=self.http.margin,
            label=self._label(),
            make_store=self._store,
            store_key=self.account_key(),
            user_grant=self.grant == "authorization_code",
            reuse_grace=self.refresh_reuse_grace,
            journal=default_journal() if self.grant == "authorization_code" else None,
        )
        events.watch(
            manager,
            block_name=getattr(self, "_block_document_name", None),
            block_id=getattr(self, "_block_document_id", None),
            vendor=self.effective_dialect.name,
        )
        return manager

    def rotate(self, horizon: float = 0.0) -> tuple[AccessToken, bool]:
        """Make sure the shared token is valid for at least ``horizon`` more seconds. Returns the
        token and whether a new one was requested (the rotation flow's unit of work)."""
        manager = self.manager()
        before = manager.requests
        token = manager.get_token(min_ttl=horizon)
        return token, manager.requests != before

    def authorize(
        self,
        *,
        show_url: Callable[[str], None] = print,
        port: int | None = None,
        timeout: float = CONSENT_TIMEOUT,
    ) -> AccessToken:
        """Run the user's consent for grant authorization_code (what `prefect-vendortokens
        authorize` does): ``show_url`` gets the authorization URL to open; the redirect comes
        back on ``127.0.0.1:port``. The token and its refresh token go to the shared store under
        the refresh lock; returns the token. Interactive, so sync only."""
        if self.grant != "authorization_code":
            raise DialectError(
                f"{self._label()}: grant is {self.grant}; authorize is for grant authorization_code",
                vendor=self.vendor,
            )
        manager = self.manager()
        client = manager.source.client(True)
        settings = self.authorization
        if not client.authorization_url_base:
            raise DialectError(
                f"{self._label()}: no authorization endpoint (set authorization.authorization_url, or "
                "an issuer whose metadata has one)",
                vendor=self.vendor,
            )
        token = run_consent(
            client,
            show_url=show_url,
            port=settings.redirect_port if port is None else port,
            path=settings.redirect_path,
            extra_params=settings.extra_params,
            timeout=timeout,
        )
        if token.refresh_token is None:
            logger.warning(
                "%s: the vendor issued no refresh token; the grant ends when this token expires "
                "(ask for offline access, e.g. scope offline_access with prompt=consent)",
                self._label(),
            )
        return manager.install(token)

    # --- tokens -------------------------------------------------------------------------
    async def aget_token(self, force_refresh: bool = False) -> AccessToken:
        """A valid token (cached per process; one request for all concurrent callers)."""
        manager = self.manager()
        return await (manager.aget_token(force=True) if force_refresh else manager.aget_token())

    # Type checkers see the sync call's type: Prefect's ``async_dispatch`` types the result as
    # ``AccessToken | Coroutine``, which every sync caller would have to narrow (async code awaits
    # ``aget_token``). At run time the dispatching function.
    if TYPE_CHECKING:

        def get_token(self, force_refresh: bool = False) -> AccessToken:
            """A valid token (cached per process; one request for all concurrent callers)."""
            ...

    else:

        @async_dispatch(aget_token)
        def get_token(self, force_refresh: bool = False) -> AccessToken:
            """A valid token (cached per process; one request for all concurrent callers)."""
            manager = self.manager()  # a plain call: the manager's lock-free path
            return manager.get_token(force=True) if force_refresh else manager.get_token()

    # --- HTTP clients -------------------------------------------------------------------
    def auth(self) -> VendorTokenAuth:
        """An ``httpx.Auth`` for your own client: header, refresh before expiry, 401 replay."""
        dialect = self.effective_dialect
        return VendorTokenAuth(self.manager(), dialect.auth_header, dialect.auth_scheme)

    def get_client(self, **httpx_kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` that authenticates every request with this account's token."""
        httpx_kwargs.setdefault("timeout", self.http.timeout)
        httpx_kwargs.setdefault("verify", self._verify())
        auth = self.auth()
        hooks = dict(httpx_kwargs.pop("event_hooks", None) or {})
        hooks["request"] = [auth.strip_on_redirect, *hooks.get("request", [])]
        return httpx.Client(auth=auth, event_hooks=hooks, **httpx_kwargs)

    def get_async_client(self, **httpx_kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` that authenticates every request with this account's token."""
        httpx_kwargs.setdefault("timeout", self.http.timeout)
        httpx_kwargs.setdefault("verify", self._verify())
        auth = self.auth()
        hooks = dict(httpx_kwargs.pop("event_hooks", None) or {})
        hooks["request"] = [auth.astrip_on_redirect, *hooks.get("request", [])]
        return httpx.AsyncClient(auth=auth, event_hooks=hooks, **httpx_kwargs)


def load_credentials(credentials: VendorCredentials | str) -> VendorCredentials:
    """A block given as itself or by its saved name (what the tasks, flows and CLI accept).
    A missing block is a ``BlockNotFoundError``, an invalid one an ``InvalidBlockError``."""
    if isinstance(credentials, VendorCredentials):
        return credentials
    try:
        return cast(VendorCredentials, VendorCredentials.load(credentials, _sync=True))  # type: ignore[call-arg]
    except ValueError as exc:
        if isinstance(exc, TokenError):
            raise
        raise _not_found(credentials) from None


async def aload_credentials(credentials: VendorCredentials | str) -> VendorCredentials:
    if isinstance(credentials, VendorCredentials):
        return credentials
    try:
        return await VendorCredentials.aload(credentials)
    except ValueError as exc:
        if isinstance(exc, TokenError):
            raise
        raise _not_found(credentials) from None


def _not_found(name: str) -> BlockNotFoundError:
    return BlockNotFoundError(
        f"no Vendor Credentials block named {name!r} (create it in the Prefect UI under Blocks, "
        "or save one in code)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _blank(value: Any) -> bool:
    """An untouched nested block in a form: nothing, ``{}``, or only empty values."""
    if value is None:
        return True
    if isinstance(value, dict):
        return all(v in (None, "", [], {}) for v in value.values())
    return False
