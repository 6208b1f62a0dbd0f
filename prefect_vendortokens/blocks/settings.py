"""The grouped settings of a ``VendorCredentials`` block: nested models with defaults.

Prefect's forms render a nested model as a titled group; a non-optional nested model with a
default (the prefect-aws pattern) shows its defaults and always posts a complete value, where an
optional one (``X | None``) shows a "None" switch (V2) or posts ``{}`` (V1). So the groups here
are never optional, and every field a person may leave alone has a visible default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ..core.dialect import TokenDialect
from ..stores.registry import STORES

# "auto" and every store of the table; a new store needs no edit here.
TokenStoreKind = Literal[("auto", *STORES)]  # type: ignore[valid-type]
_STORE_HELP = (
    "auto: Prefect when a Prefect API is configured or inside a flow run, else this process only. "
    + " ".join(f"{kind.name}: {kind.description}." for kind in STORES.values())
)


class _Group(BaseModel):
    # Frozen: a change is an assignment of a new group, which the block notices (see manager()).
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _none_is_default(cls, data: Any) -> Any:
        """A null from an older document or a cleared form field means "the default"."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None or _nullable(cls, k)}
        return data


def _nullable(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return field is None or (not field.is_required() and field.default is None)


class VaultSecretPath(_Group):
    """Where the client id and secret sit in Vault (used when the Vault block is set)."""

    model_config = ConfigDict(title="Vault secret settings")  # the V1 form heads a group with this

    path: str = Field(
        default="",
        title="Secret path",
        description="Path of the KV secret, e.g. vendors/cobee (without the mount).",
    )
    mount: str = Field(default="secret", title="KV mount", description="Mount of the KV engine.")
    version: int = Field(
        default=0, ge=0, title="Pinned version", description="A KV v2 version to read; 0 for the latest."
    )
    client_id_key: str = Field(
        default="client_id",
        title="Client ID key",
        description="Key of the client id in the secret (ignored when Client ID is filled in).",
    )
    client_secret_key: str = Field(
        default="client_secret", title="Client secret key", description="Key of the client secret."
    )
    private_key_key: str = Field(
        default="private_key",
        title="Private key key",
        description="Key of the private key (PEM or JWK), for private_key_jwt and grant jwt_bearer.",
    )
    # The user grants' secrets (grant password; grant jwt_bearer's Google key file).
    username_key: str = Field(
        default="username",
        title="Username key",
        description="Key of the user name (grant password; ignored when Username is filled in).",
    )
    password_key: str = Field(default="password", title="Password key", description="Key of the password.")
    service_account_key_key: str = Field(
        default="service_account_key",
        title="Service-account key file key",
        description="Key of a Google service-account key file (its JSON text or object), grant jwt_bearer.",
    )
    # Mutual TLS (RFC 8705): the client certificate and its key.
    tls_certificate_key: str = Field(
        default="tls_certificate",
        title="Client certificate key",
        description="Key of the client certificate (PEM), for tls_client_auth and "
        "self_signed_tls_client_auth (ignored when the block holds the certificate).",
    )
    tls_key_key: str = Field(
        default="tls_key",
        title="Client certificate private key key",
        description="Key of the client certificate's private key (PEM), for mutual TLS.",
    )


@dataclass(frozen=True)
class GrantKind:
    """One grant a block can use: a row of ``GRANTS`` (the block's choice, its help text and its
    validation read the table)."""

    name: str
    description: str
    # Tokens from a person's consent (`prefect-vendortokens authorize`): only the refresh token
    # renews them, so they live in a shared store, journaled on the host, refreshed under the lock.
    user: bool = False
    # The dialect's grant values the grant needs (empty: the vendor lacks it), and their name.
    dialect_needs: tuple[str, ...] = ()
    needs_text: str = ""
    # What the block must give (names of ``GrantFacts.given``): "authorization endpoint",
    # "device endpoint", "username", "password", "signing key".
    block_needs: tuple[str, ...] = ()
    # A person consents with `authorize` (the loopback redirect, or --device).
    consent: bool = False

    def problem(self, facts: GrantFacts) -> str:
        """What keeps a block from using this grant ("" for nothing)."""
        dialect = facts.dialect
        if not all(getattr(dialect, need) for need in self.dialect_needs):
            return (
                f"grant {self.name} needs a vendor with {self.needs_text}; {dialect.name!r} lacks one "
                "(pick oauth2, slashid or a custom dialect)"
            )
        if self.user and facts.store == "memory":
            return (
                f"grant {self.name} keeps its refresh token in a shared store; choose token store "
                "prefect, vault or auto"
            )
        missing = [need for need in self.block_needs if need not in facts.given]
        if missing:
            return f"grant {self.name} needs {' and '.join(_NEED_TEXT[need] for need in missing)}"
        return ""


@dataclass(frozen=True)
class GrantFacts:
    """What a block gives a grant, as ``GrantKind.problem`` reads it (a Vault reference counts
    as giving the secrets it may hold)."""

    dialect: TokenDialect
    store: str
    given: frozenset[str]


_NEED_TEXT = {
    "authorization endpoint": "authorization.authorization_url or an issuer",
    "device endpoint": "authorization.device_authorization_url, an issuer or a vendor with a device endpoint",
    "username": "username (or the Vault secret's username_key)",
    "password": "password (or the Vault secret's password_key)",
    "signing key": "client_auth.private_key or service_account_key (or either in the Vault secret)",
}


GRANTS: dict[str, GrantKind] = {
    grant.name: grant
    for grant in (
        GrantKind("client_credentials", "the app's own tokens."),
        GrantKind(
            "authorization_code",
            "a user's, after their consent, given once with `prefect-vendortokens authorize BLOCK`; "
            "the refresh token is kept in the shared token store and renewed there.",
            user=True,
            dialect_needs=("authorization_code_grant", "refresh_grant"),
            needs_text="the authorization-code and refresh grants",
            block_needs=("authorization endpoint",),
            consent=True,
        ),
        GrantKind(
            "device_code",
            "a user's, after their consent on another device (RFC 8628), given once with "
            "`prefect-vendortokens authorize BLOCK --device`: for a worker with no browser; the "
            "refresh token is kept in the shared token store and renewed there.",
            user=True,
            dialect_needs=("device_code_grant", "refresh_grant"),
            needs_text="the device code and refresh grants",
            block_needs=("device endpoint",),
            consent=True,
        ),
        GrantKind(
            "jwt_bearer",
            "a service account's: an assertion signed with the private key (or a Google "
            "service-account key file) is the grant (RFC 7523); username is its subject, if any.",
            dialect_needs=("jwt_bearer_grant",),
            needs_text="the JWT bearer grant",
            block_needs=("signing key",),
        ),
        GrantKind(
            "password",
            "a user's name and password (RFC 6749 4.3), with the client's own authentication.",
            dialect_needs=("password_grant",),
            needs_text="the password grant",
            block_needs=("username", "password"),
        ),
    )
}
# The choices come from the table; type checkers see the plain string the Literal narrows.
if TYPE_CHECKING:
    GrantName = str
else:
    GrantName = Literal[tuple(GRANTS)]
GRANT_HELP = " ".join(f"{grant.name}: {grant.description}" for grant in GRANTS.values())

# The OAuth names of the methods (OpenID Connect Core 9) -> the dialect's ``client_auth`` value.
CLIENT_AUTH_METHODS: dict[str, str] = {
    "client_secret_basic": "basic",
    "client_secret_post": "body",
    "client_secret_jwt": "client_secret_jwt",
    "private_key_jwt": "private_key_jwt",
    "none": "none",
    "tls_client_auth": "tls_client_auth",
    "self_signed_tls_client_auth": "self_signed_tls_client_auth",
}
ClientAuthMethod = Literal[("vendor default", *CLIENT_AUTH_METHODS)]  # type: ignore[valid-type]


class ClientAuthSettings(_Group):
    """How the client proves who it is at the token endpoint; the vendor's own way by default."""

    model_config = ConfigDict(title="Client authentication settings")

    method: ClientAuthMethod = Field(
        default="vendor default",
        title="Method",
        description=(
            "vendor default: as the vendor's dialect says. client_secret_basic / client_secret_post: "
            "the secret in a Basic header / in the body. client_secret_jwt: an HMAC-signed assertion. "
            "private_key_jwt: an assertion signed with the private key below (RFC 7523). none: a "
            "public client (client ID only, with PKCE). tls_client_auth / self_signed_tls_client_auth: "
            "mutual TLS with the client certificate below (CA-issued / registered with the vendor); "
            "the tokens are bound to it and every API call presents it."
        ),
    )
    private_key: SecretStr = Field(
        default=SecretStr(""),
        title="Private key",
        description="For private_key_jwt: a PEM private key or a private JWK, stored encrypted "
        "(or leave empty and keep it in Vault).",
    )
    key_id: str = Field(
        default="", title="Key ID (kid)", description="The key's id as registered with the vendor."
    )
    signing_alg: str = Field(
        default="", title="Signing algorithm", description="e.g. RS256, PS256, ES256; empty: from the key."
    )
    assertion_audience: str = Field(
        default="",
        title="Assertion audience",
        description="The assertion's aud; empty for the token URL. Some servers want the issuer.",
    )
    # Mutual TLS (RFC 8705): the client certificate and its key (or both in Vault).
    tls_certificate: str = Field(
        default="",
        title="Client certificate (PEM)",
        description="For tls_client_auth / self_signed_tls_client_auth: the client certificate (PEM, "
        "the leaf first, then any intermediates); empty to read it from Vault.",
    )
    tls_key: SecretStr = Field(
        default=SecretStr(""),
        title="Client certificate private key (PEM)",
        description="Its private key (PEM), stored encrypted (or leave empty and keep it in Vault).",
    )


class AuthorizationSettings(_Group):
    """The user consent of grants authorization_code and device_code, run once by
    `prefect-vendortokens authorize`."""

    model_config = ConfigDict(title="User authorization settings")

    authorization_url: str = Field(
        default="",
        title="Authorization URL",
        description="The vendor's authorization endpoint; empty to read it from the issuer's metadata.",
    )
    redirect_port: int = Field(
        default=8765,
        ge=1,
        le=65535,
        title="Redirect port",
        description="Loopback port of the redirect (register http://127.0.0.1:<port><path> with the vendor).",
    )
    redirect_path: str = Field(
        default="/callback", title="Redirect path", description="Path of the redirect URI."
    )
    device_authorization_url: str = Field(
        default="",
        title="Device authorization URL",
        description="For `authorize --device` (RFC 8628): empty for the issuer's metadata or the vendor's.",
    )
    extra_params: dict[str, str] = Field(
        default_factory=dict,
        title="Extra authorization parameters",
        description="Added to the authorization URL, e.g. prompt=consent, audience, resource.",
    )
    refresh_reuse_grace: float = Field(
        default=0,
        ge=0,
        title="Refresh token reuse grace (seconds)",
        description=(
            "How long the vendor still accepts a refresh token it has just rotated (Okta, Auth0, "
            "WSO2: the reuse interval); 0 for the dialect's (none for every preset). With it, a "
            "refresh whose answer was lost (a timeout, a killed worker) is retried once with the same "
            "refresh token; without it the grant is reported lost at once (authorize again)."
        ),
    )


class TokenStoreSettings(_Group):
    """Where tokens are shared across processes and flow runs."""

    model_config = ConfigDict(title="Token store settings")

    kind: TokenStoreKind = Field(
        default="auto",
        title="Store",
        description=_STORE_HELP,
    )
    vault_mount: str = Field(default="secret", title="Vault KV v2 mount", description="For store 'vault'.")
    vault_path: str = Field(
        default="prefect-vendortokens/tokens",
        title="Vault path prefix",
        description="For store 'vault': one secret per account below this path.",
    )


class HttpSettings(_Group):
    """How the token endpoint is reached; the defaults suit most vendors."""

    model_config = ConfigDict(title="HTTP settings")

    timeout: float = Field(
        default=30.0, gt=0, title="Timeout (seconds)", description="Upper bound of one token request."
    )
    verify_tls: bool = Field(default=True, title="Verify TLS", description="Verify the vendor's certificate.")
    ca_bundle_path: str = Field(
        default="",
        title="CA bundle path",
        description="A PEM file of CAs to verify the vendor with, on the machine that runs the flow.",
    )
    allow_insecure_http: bool = Field(
        default=False,
        title="Allow plain HTTP",
        description="Allow an http:// token URL on a non-loopback host. Never in production.",
    )
    # Not ``float | None``: the V1 form shows a nullable number without its title.
    refresh_margin: float = Field(
        default=0,
        ge=0,
        title="Refresh margin (seconds)",
        description="Renew this long before expiry; 0 for 10% of the lifetime (10 s to 5 min).",
    )

    @property
    def margin(self) -> float | None:
        """The manager's margin: None for the lifetime-based default policy."""
        return self.refresh_margin or None


# Flat keyword names of version 0.1 (and of Python callers who prefer them) -> (group, field).
FLAT_SETTINGS: dict[str, tuple[str, str]] = {
    "vault_path": ("vault_secret", "path"),
    "vault_mount": ("vault_secret", "mount"),
    "vault_version": ("vault_secret", "version"),
    "vault_client_id_key": ("vault_secret", "client_id_key"),
    "vault_client_secret_key": ("vault_secret", "client_secret_key"),
    "token_store_vault_mount": ("token_store", "vault_mount"),
    "token_store_vault_path": ("token_store", "vault_path"),
    "timeout": ("http", "timeout"),
    "verify_tls": ("http", "verify_tls"),
    "ca_bundle_path": ("http", "ca_bundle_path"),
    "allow_insecure_http": ("http", "allow_insecure_http"),
    "refresh_margin": ("http", "refresh_margin"),
}


def nest_flat_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Move flat keywords into their groups (``timeout=5`` -> ``http.timeout``) and accept
    ``token_store="memory"`` for ``token_store.kind``, so code and 0.1 documents keep working."""
    data = dict(data)
    if isinstance(data.get("token_store"), str):
        data["token_store"] = {"kind": data["token_store"]}
    for flat, (group, name) in FLAT_SETTINGS.items():
        if flat not in data:
            continue
        value = data.pop(flat)
        current = data.get(group)
        if isinstance(current, BaseModel):
            current = current.model_dump()
        data[group] = {**(current or {}), name: value}
    return data


def form_input(data: dict[str, Any]) -> dict[str, Any]:
    """A Vendor Credentials block's input as the UI forms post it, and flat keywords: ``{}`` or
    nulls for an untouched nested Vault block (V1 form) mean none; nulls for the essentials mean
    the default; a dialect is dropped unless the vendor is custom."""
    data = nest_flat_settings(data)
    for name in ("vault", "token_store_vault"):
        if _blank(data.get(name)):
            data[name] = None
    if data.get("vendor", "oauth2") != "custom":
        data.pop("dialect", None)
    for name in ("token_url", "client_id", "client_secret"):
        if data.get(name) is None:
            data.pop(name, None)
    return data


def _blank(value: Any) -> bool:
    """An untouched nested block in a form: nothing, ``{}``, or only empty values."""
    if value is None:
        return True
    if isinstance(value, dict):
        return all(v in (None, "", [], {}) for v in value.values())
    return False
