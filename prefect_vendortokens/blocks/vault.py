"""``VaultCredentials``: a HashiCorp Vault (or OpenBao) connection as a Prefect block.

The block is configuration; the authenticated client, its renewals and the read cache live in
a process-wide ``VaultSession`` (``vault/session.py``), so every load of the block shares them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator

from ..core.about import DOCS_URL, KEY_LOGO_URL
from ..core.identity import digest
from ..vault.auth_methods import AUTH_METHODS, VaultLogin, missing_fields
from ..vault.session import VaultConfig, VaultSession, session_for
from .loading import TypedLoadErrors, filled

# Every method of the table: a new one needs no edit here.
# The choices come from the table; type checkers see the plain string the Literal narrows.
if TYPE_CHECKING:
    AuthMethodName = str
else:
    AuthMethodName = Literal[tuple(AUTH_METHODS)]


class VaultCredentials(TypedLoadErrors, Block):
    """How to reach and log in to HashiCorp Vault (or OpenBao), to read vendor secrets at use time.

    Optional values are empty strings rather than None so that both Prefect UIs show an input
    for them; only the fields of the chosen auth method are used.
    """

    _block_type_name = "Vault Credentials"
    _block_type_slug = "vault-credentials"
    _logo_url = KEY_LOGO_URL  # type: ignore[assignment]
    _documentation_url = DOCS_URL  # type: ignore[assignment]
    _description = (
        "A HashiCorp Vault or OpenBao server and how to log in to it (token, AppRole, JWT/OIDC, "
        "Kubernetes, userpass). Fill in the address, pick the auth method and fill in its fields."
    )
    _code_example = """
```python
from prefect_vendortokens import VaultCredentials

vault_credentials_block = VaultCredentials.load("BLOCK_NAME")
data = vault_credentials_block.read_secret("vendors/cobee", mount="secret")
```
"""

    address: str = Field(title="Address", description="Vault address, e.g. https://vault.example.com:8200.")
    namespace: str = Field(
        default="", title="Namespace", description="Vault Enterprise / OpenBao namespace; empty for none."
    )
    auth_method: AuthMethodName = Field(default="token", title="Auth method", description="How to log in.")
    token: SecretStr = Field(
        default=SecretStr(""), title="Token", description="Vault token (method 'token')."
    )
    role_id: str = Field(default="", title="AppRole role ID", description="Method 'approle'.")
    secret_id: SecretStr = Field(
        default=SecretStr(""), title="AppRole secret ID", description="Method 'approle'."
    )
    role: str = Field(default="", title="Role", description="Role name (methods 'jwt' and 'kubernetes').")
    jwt: SecretStr = Field(default=SecretStr(""), title="JWT", description="A JWT (method 'jwt').")
    jwt_path: str = Field(
        default="",
        title="JWT file path",
        description=(
            "File holding the JWT (method 'jwt'), or the service account token (method 'kubernetes'; "
            "the standard path if empty)."
        ),
    )
    username: str = Field(default="", title="Username", description="Method 'userpass'.")
    password: SecretStr = Field(default=SecretStr(""), title="Password", description="Method 'userpass'.")
    auth_mount: str = Field(
        default="", title="Auth mount", description="Mount path of the auth method; empty for its default."
    )
    verify_tls: bool = Field(default=True, title="Verify TLS", description="Verify Vault's TLS certificate.")
    ca_bundle_path: str = Field(
        default="", title="CA bundle path", description="A PEM file of CAs to verify Vault with."
    )
    timeout: float = Field(
        default=10.0, gt=0, title="Timeout (seconds)", description="Upper bound of one Vault request."
    )
    read_cache_ttl: float = Field(
        default=60.0, ge=0, title="Read cache (seconds)", description="How long a secret read is reused."
    )
    kv_version: Literal[1, 2] | None = Field(
        default=None, title="KV version", description="KV engine version; None to detect it from the mount."
    )

    @model_validator(mode="before")
    @classmethod
    def _none_is_empty(cls, data: Any) -> Any:
        """Nulls from older documents or code (``namespace=None``) mean "not set"."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None or k == "kv_version"}
        return data

    @model_validator(mode="after")
    def _check(self) -> VaultCredentials:
        label = f"Vault block for {self.address}"
        missing = missing_fields(AUTH_METHODS[self.auth_method], lambda name: filled(getattr(self, name)))
        if missing:
            raise ValueError(f"{label}: auth method {self.auth_method!r} needs {', '.join(missing)}")
        if not self.address.strip().startswith(("http://", "https://")):
            raise ValueError(f"{label}: the address must start with http:// or https://")
        return self

    def _login_spec(self) -> VaultLogin:
        def secret(value: SecretStr) -> str:
            return value.get_secret_value()

        method = AUTH_METHODS[self.auth_method]
        jwt_path = self.jwt_path or method.default_jwt_path
        return VaultLogin(
            method=self.auth_method,
            mount=self.auth_mount.strip("/") or method.default_mount,
            token=secret(self.token),
            role_id=self.role_id,
            secret_id=secret(self.secret_id),
            role=self.role,
            jwt=secret(self.jwt),
            jwt_path=jwt_path,
            username=self.username,
            password=secret(self.password),
        )

    def _config(self) -> VaultConfig:
        verify: bool | str = self.ca_bundle_path.strip() or self.verify_tls
        return VaultConfig(
            address=self.address.rstrip("/"),
            namespace=self.namespace.strip() or None,
            verify=verify,
            timeout=self.timeout,
            read_cache_ttl=self.read_cache_ttl,
            kv_version=self.kv_version,
        )

    def session_key(self) -> str:
        """Identifies the configuration (secrets only as hashes) for the per-process session."""
        data = self.model_dump(mode="json", exclude={"token", "secret_id", "jwt", "password"})
        secrets = [s.get_secret_value() for s in (self.token, self.secret_id, self.jwt, self.password)]
        data["secrets"] = digest("\0".join(secrets))
        return digest(data)

    def session(self) -> VaultSession:
        """The process-wide authenticated session for this configuration."""
        return session_for(self.session_key(), lambda: VaultSession(self._config(), self._login_spec()))

    def get_client(self) -> Any:
        """The authenticated ``hvac.Client`` (logged in, renewed as needed)."""
        return self.session().client

    def read_secret(
        self, path: str, mount: str = "secret", version: int | None = None, fresh: bool = False
    ) -> dict[str, Any]:
        """The data of the KV secret at ``mount``/``path`` (KV v1 or v2; ``version`` pins v2)."""
        return self.session().read_secret(path, mount=mount, version=version, fresh=fresh)

    async def aread_secret(
        self, path: str, mount: str = "secret", version: int | None = None, fresh: bool = False
    ) -> dict[str, Any]:
        """``read_secret`` without blocking the event loop (hvac is synchronous)."""
        return await asyncio.to_thread(self.read_secret, path, mount, version, fresh)
