"""``VendorCredentials``: one vendor account as a Prefect block, a declaration: its fields and
form, their validation and the token API. What the values build (the client, the store, the
manager) is ``account.py``'s; the consent is the engine's.

Tokens live in the process-wide ``TokenManager`` for the account (``engine/manager.py``), so
loading the same block in a hundred tasks of one flow run costs one token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import httpx
from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.blocks.abstract import CredentialsBlock
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from ..core.about import DOCS_URL, KEY_LOGO_URL
from ..core.device import DeviceAuthorization
from ..core.dialect import ClientAuth, TokenDialect
from ..core.presets import DIALECT_NAMES, GRANT_PRESET_NAMES, get_dialect
from ..core.token import AccessToken
from ..engine import consent
from ..engine.auth import VendorTokenAuth
from ..engine.manager import TokenManager
from . import account, checks
from .loading import TypedLoadErrors, aload_named, load_named
from .settings import (
    CLIENT_AUTH_METHODS,
    GRANT_HELP,
    AuthorizationSettings,
    ClientAuthSettings,
    GrantName,
    HttpSettings,
    TokenStoreSettings,
    VaultSecretPath,
    form_input,
)
from .vault import VaultCredentials

# Every preset, and "custom": a new preset needs no edit here.
VendorName = Literal[(*DIALECT_NAMES, *GRANT_PRESET_NAMES, "custom")]  # type: ignore[valid-type]


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
        + ", ".join((*DIALECT_NAMES, *GRANT_PRESET_NAMES))
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
    grant: GrantName = Field(default="client_credentials", title="Grant", description=GRANT_HELP)
    # The grants' own inputs (password, jwt_bearer): one block of lines, empty unless used.
    username: str = Field(
        default="",
        title="Username",
        description="Grant password: the user's name. Grant jwt_bearer: the assertion's subject "
        "(Salesforce's user name, a Google user to act for); empty for none.",
    )
    password: SecretStr = Field(
        default=SecretStr(""),
        title="Password",
        description="Grant password: the user's password, stored encrypted (or keep it in Vault).",
    )
    service_account_key: SecretStr = Field(
        default=SecretStr(""),
        title="Service-account key file (JSON)",
        description="Grant jwt_bearer with vendor google: the whole downloaded key file; it fills the "
        "issuer, key id, key and token URL. Stored encrypted (or keep it in Vault).",
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
    dpop: bool = Field(
        default=False,
        title="DPoP-bound tokens",
        description="Ask for tokens bound to a key of this account (RFC 9449, FAPI 2.0, atproto): a "
        "signed proof on every token request and API call. The key is kept, encrypted, with the token.",
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
        return form_input(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _check_config(self) -> VendorCredentials:
        checks.check(self)
        return self

    # --- configuration ------------------------------------------------------------------
    def label(self) -> str:
        """How errors and logs name the block: its saved name, else its vendor."""
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

    def account_key(self) -> str:
        """The account's identity: blocks with equal keys share the stored token."""
        return account.account_key(self)

    def store_kind(self) -> str:
        """The shared store this block uses: the configured kind, with 'auto' resolved."""
        return account.store_kind(self)

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
            manager = self._manager = account.manager(self)
        return manager

    def rotate(self, horizon: float = 0.0, *, peeked: bool = False) -> tuple[AccessToken, bool]:
        """Make sure the shared token is valid for at least ``horizon`` more seconds. Returns the
        token and whether a new one was requested (the rotation flow's unit of work).
        ``peeked``: the caller just read the stored token and it is due (go to the lock)."""
        manager = self.manager()
        before = manager.requests
        token = manager.get_token(min_ttl=horizon, peeked=peeked)
        manager.share()  # a new token whose store write failed: once more, or a TokenStoreError
        return token, manager.requests != before

    def authorize(
        self,
        *,
        show_url: Callable[[str], None] = print,
        port: int | None = None,
        timeout: float = consent.CONSENT_TIMEOUT,
        device: bool | None = None,
        show: Callable[[DeviceAuthorization], None] | None = None,
    ) -> AccessToken:
        """Run the user's consent for grant authorization_code or device_code (what
        `prefect-vendortokens authorize` does): ``show_url`` gets the authorization URL to open;
        the redirect comes back on ``127.0.0.1:port``. With ``device`` (the default for grant
        device_code), the device flow (RFC 8628) instead: ``show`` gets the verification URI and
        user code to show the person, and the token endpoint is polled until they approve
        elsewhere. The token and its refresh token go to the shared store under the refresh lock;
        returns the token. Interactive, so sync only."""
        settings = self.authorization
        if device or (device is None and self.grant == "device_code"):
            return consent.authorize_device(
                self.manager(), show=show or consent.print_device_authorization, timeout=timeout
            )
        return consent.authorize(
            self.manager(),
            show_url=show_url,
            port=settings.redirect_port if port is None else port,
            path=settings.redirect_path,
            extra_params=settings.extra_params,
            timeout=timeout,
        )

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
        return httpx.Client(**account.httpx_options(self, httpx_kwargs, asynchronous=False))

    def get_async_client(self, **httpx_kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` that authenticates every request with this account's token."""
        return httpx.AsyncClient(**account.httpx_options(self, httpx_kwargs, asynchronous=True))


def load_credentials(credentials: VendorCredentials | str) -> VendorCredentials:
    """A block given as itself or by its saved name (what the tasks, flows and CLI accept).
    A missing block is a ``BlockNotFoundError``, an invalid one an ``InvalidBlockError``."""
    return load_named(VendorCredentials, credentials)


async def aload_credentials(credentials: VendorCredentials | str) -> VendorCredentials:
    """``load_credentials`` for async callers."""
    return await aload_named(VendorCredentials, credentials)
