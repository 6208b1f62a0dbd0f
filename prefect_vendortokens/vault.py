"""``VaultCredentials``: a HashiCorp Vault (or OpenBao) connection as a Prefect block.

The block is configuration; the authenticated client, its renewals and the read cache live in
a process-wide ``VaultSession`` (``vault_session.py``), so every load of the block shares them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator

from .vault_session import VaultConfig, VaultLogin, VaultSession, session_for

AuthMethod = Literal["token", "approle", "jwt", "kubernetes", "userpass"]
DEFAULT_MOUNTS = {
    "token": "token",
    "approle": "approle",
    "jwt": "jwt",
    "kubernetes": "kubernetes",
    "userpass": "userpass",
}
K8S_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class VaultCredentials(Block):
    """How to reach and log in to HashiCorp Vault (or OpenBao), to read vendor secrets at use time."""

    _block_type_name = "Vault Credentials"
    _block_type_slug = "vault-credentials"
    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/ff1ec0ab01d5e8d7f3c7e0e1e6c7ccff6b0f2a1c-250x250.png"
    _documentation_url = "https://github.com/prefect-vendortokens/prefect-vendortokens#vault"  # type: ignore[assignment]
    _description = (
        "A Vault or OpenBao server and how to log in to it (token, AppRole, JWT/OIDC, Kubernetes, userpass)."
    )
    _code_example = """
```python
from prefect_vendortokens import VaultCredentials

vault_credentials_block = VaultCredentials.load("BLOCK_NAME")
data = vault_credentials_block.read_secret("vendors/cobee", mount="secret")
```
"""

    address: str = Field(description="Vault address, e.g. https://vault.example.com:8200.")
    namespace: str | None = Field(default=None, description="Vault Enterprise / OpenBao namespace.")
    auth_method: AuthMethod = Field(default="token", description="How to log in.")
    auth_mount: str | None = Field(
        default=None, description="Mount path of the auth method; empty for the method's default."
    )
    token: SecretStr | None = Field(default=None, description="Vault token (auth method 'token').")
    role_id: str | None = Field(default=None, description="AppRole role id.")
    secret_id: SecretStr | None = Field(default=None, description="AppRole secret id.")
    role: str | None = Field(default=None, description="Role name for JWT/OIDC or Kubernetes login.")
    jwt: SecretStr | None = Field(default=None, description="A JWT for JWT/OIDC login.")
    jwt_path: str | None = Field(
        default=None,
        description=(
            "File holding the JWT (JWT/OIDC), or the service account token (Kubernetes; "
            "the standard path if empty)."
        ),
    )
    username: str | None = Field(default=None, description="Userpass user name.")
    password: SecretStr | None = Field(default=None, description="Userpass password.")
    verify_tls: bool = Field(default=True, description="Verify Vault's TLS certificate.")
    ca_bundle_path: str | None = Field(default=None, description="CA bundle (PEM) to verify Vault with.")
    timeout: float = Field(default=10.0, gt=0, description="Timeout in seconds for each Vault request.")
    read_cache_ttl: float = Field(default=60.0, ge=0, description="Seconds a secret read is reused.")
    kv_version: Literal[1, 2] | None = Field(
        default=None, description="KV engine version; empty to detect it from the mount."
    )

    @model_validator(mode="after")
    def _check(self) -> VaultCredentials:
        label = f"Vault block for {self.address}"
        need = {
            "token": ["token"],
            "approle": ["role_id", "secret_id"],
            "jwt": ["role"],
            "kubernetes": ["role"],
            "userpass": ["username", "password"],
        }[self.auth_method]
        missing = [f for f in need if not getattr(self, f)]
        if self.auth_method == "jwt" and not (self.jwt or self.jwt_path):
            missing.append("jwt or jwt_path")
        if missing:
            raise ValueError(f"{label}: auth method {self.auth_method!r} needs {', '.join(missing)}")
        if not self.address.startswith(("http://", "https://")):
            raise ValueError(f"{label}: the address must start with http:// or https://")
        return self

    def _login_spec(self) -> VaultLogin:
        def secret(value: SecretStr | None) -> str:
            return value.get_secret_value() if value is not None else ""

        jwt_path = self.jwt_path or (K8S_TOKEN_PATH if self.auth_method == "kubernetes" else "")
        return VaultLogin(
            method=self.auth_method,
            mount=self.auth_mount or DEFAULT_MOUNTS[self.auth_method],
            token=secret(self.token),
            role_id=self.role_id or "",
            secret_id=secret(self.secret_id),
            role=self.role or "",
            jwt=secret(self.jwt),
            jwt_path=jwt_path,
            username=self.username or "",
            password=secret(self.password),
        )

    def _config(self) -> VaultConfig:
        verify: bool | str = self.ca_bundle_path or self.verify_tls
        return VaultConfig(
            address=self.address.rstrip("/"),
            namespace=self.namespace,
            verify=verify,
            timeout=self.timeout,
            read_cache_ttl=self.read_cache_ttl,
            kv_version=self.kv_version,
        )

    def session_key(self) -> str:
        """Identifies the configuration (secrets only as hashes) for the per-process session."""
        data = self.model_dump(mode="json", exclude={"token", "secret_id", "jwt", "password"})
        secrets = [s.get_secret_value() for s in (self.token, self.secret_id, self.jwt, self.password) if s]
        data["secrets"] = hashlib.sha256("\0".join(secrets).encode()).hexdigest()
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

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
