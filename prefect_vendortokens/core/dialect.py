"""``TokenDialect``: how one vendor's token endpoint wants to be asked and how it answers.

Pure data (no I/O), so a new vendor is a new value, editable in the Prefect UI, not new code.
Response paths are dotted (``data.token``, ``errors.0.message``); each path field takes a list of
alternatives, the first present wins, because vendors' docs often disagree with their servers.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
    model_validator,
)


class BodyEncoding(StrEnum):
    """How request fields are encoded; the encoding sets Content-Type itself."""

    FORM = "form"
    JSON = "json"
    QUERY = "query"
    NONE = "none"


class ClientAuth(StrEnum):
    """How the client proves who it is (RFC 6749 2.3, OpenID Connect Core 9)."""

    BASIC = "basic"  # RFC 6749 client_secret_basic
    BODY = "body"  # client_secret_post (or JSON fields)
    QUERY = "query"
    BASIC_AND_QUERY = "basic_and_query"  # Basic, plus the client id as a query parameter (SQOD)
    NONE = "none"  # a public client: the client id only (with PKCE for the code grant)
    PRIVATE_KEY_JWT = "private_key_jwt"  # RFC 7523 2.2 assertion signed with the client's key
    CLIENT_SECRET_JWT = "client_secret_jwt"  # the same, an HMAC of the client secret
    TLS_CLIENT_AUTH = "tls_client_auth"  # RFC 8705 2.1: a CA-issued client certificate
    SELF_SIGNED_TLS_CLIENT_AUTH = "self_signed_tls_client_auth"  # RFC 8705 2.2: a registered one


# The methods whose secret never travels; the others send the client secret itself.
ASSERTION_AUTH = (ClientAuth.PRIVATE_KEY_JWT, ClientAuth.CLIENT_SECRET_JWT)
# Mutual TLS (RFC 8705): the certificate on the connection proves the client; the body carries
# only the client id, and the tokens are bound to the certificate.
MTLS_AUTH = (ClientAuth.TLS_CLIENT_AUTH, ClientAuth.SELF_SIGNED_TLS_CLIENT_AUTH)
# What each method needs besides the client id, one row per method: the block's validation and
# the Vault secret's keys read it ("" for a public client).
CLIENT_AUTH_NEEDS: dict[ClientAuth, str] = {
    ClientAuth.BASIC: "client_secret",
    ClientAuth.BODY: "client_secret",
    ClientAuth.QUERY: "client_secret",
    ClientAuth.BASIC_AND_QUERY: "client_secret",
    ClientAuth.NONE: "",
    ClientAuth.PRIVATE_KEY_JWT: "private_key",
    ClientAuth.CLIENT_SECRET_JWT: "client_secret",
    # mTLS: the certificate and its key travel with the connection's TLS settings, no secret.
    ClientAuth.TLS_CLIENT_AUTH: "",
    ClientAuth.SELF_SIGNED_TLS_CLIENT_AUTH: "",
}


class ExpiresAtFormat(StrEnum):
    AUTO = "auto"  # numbers above 1e11 are milliseconds, strings are ISO 8601 or numeric
    EPOCH_SECONDS = "epoch_seconds"
    EPOCH_MILLISECONDS = "epoch_milliseconds"
    ISO8601 = "iso8601"


_ACRONYMS = {"id": "ID", "url": "URL", "uri": "URI", "pkce": "PKCE", "json": "JSON", "jwt": "JWT"}


def _title(name: str, _info: object = None) -> str:
    """Form titles in sentence case with acronyms kept (``client_id_field`` -> "Client ID field"),
    where pydantic would generate "Client Id Field"."""
    words = [_ACRONYMS.get(w, w) for w in name.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _inline(enum: type[StrEnum]) -> WithJsonSchema:
    """The enum inline in the field's schema: the V1 form titles a ``$ref``'d enum by its class
    name ("BodyEncoding") and shows no default."""
    return WithJsonSchema({"type": "string", "enum": [member.value for member in enum]})


# Optional text fields are "" for none, not None: the forms show a nullable field as an untitled
# string/null switch (V1) or a "None" switch with no input (V2).
_NONE_IS_EMPTY = (
    "default_token_url",
    "grant_type_field",
    "client_credentials_grant",
    "refresh_grant",
    "authorization_code_grant",
    "scope_field",
    "auth_scheme",
)

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 3.4
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523 2.1

# Fields added after 0.1. Left at their defaults they are left out of ``model_dump``, so the dump
# of every dialect that existed before (which the blocks hash into the account key, the name of
# the stored token and its lock) stays byte for byte what it was.
_ADDED_LATER = (
    "device_code_grant",
    "default_device_authorization_url",
    "device_code_field",
    "jwt_bearer_grant",
    "assertion_field",
    "assertion_audience",
    "assertion_scope",
    "assertion_scope_claim",
    "assertion_claims",
    "assertion_lifetime",
    "client_id_in_jwt_bearer",
    "password_grant",
    "username_field",
    "password_field",
)


class TokenDialect(BaseModel):
    """One vendor's token endpoint: the request it wants and the answers it gives.

    Empty text means "none" (no grant type field, no refresh grant, no scheme)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, field_title_generator=_title, title="Custom dialect"
    )

    name: str = Field("custom", description="Label used in logs and errors.")
    default_token_url: str = Field(
        "", description="The vendor's documented token URL, used when a block gives none."
    )

    # --- request -------------------------------------------------------------------------
    method: Literal["POST", "GET", "PUT"] = Field("POST", description="HTTP method.")
    body_encoding: Annotated[BodyEncoding, _inline(BodyEncoding)] = Field(
        BodyEncoding.FORM, description="Request body encoding."
    )
    client_auth: Annotated[ClientAuth, _inline(ClientAuth)] = Field(
        ClientAuth.BASIC, description="Where client credentials go."
    )
    client_id_field: str = Field("client_id", description="Field name for the client id.")
    client_secret_field: str = Field("client_secret", description="Field name for the secret.")
    basic_auth_urlencode: bool = Field(
        True,
        description=(
            "URL-encode id and secret before Basic encoding, as RFC 6749 2.3.1 requires. SQOD "
            "and SlashID expect the raw values, so their presets turn it off."
        ),
    )
    client_id_query_param: str = Field(
        "client_id", description="Query parameter for the client id (query auth modes)."
    )
    client_id_type: Literal["string", "integer"] = Field(
        "string", description="Send the client id as a JSON number when 'integer'."
    )
    grant_type_field: str = Field(
        "grant_type", description="Field carrying the grant type; empty when the vendor has none."
    )
    client_credentials_grant: str = Field(
        "client_credentials", description="Grant value for client credentials."
    )
    refresh_grant: str = Field(
        "", description="Grant value for the refresh grant; empty when the vendor has none."
    )
    authorization_code_grant: str = Field(
        "", description="Grant value for the code exchange; empty when the vendor has none."
    )
    scope_field: str = Field("scope", description="Field carrying the scopes.")
    scope_separator: str = Field(" ", description="Separator between scopes.")
    refresh_token_field: str = Field("refresh_token", description="Field for the refresh token.")
    send_scope_on_refresh: bool = Field(True, description="Send the scopes with a refresh.")
    refresh_reuse_grace: float = Field(
        0,
        ge=0,
        description=(
            "Seconds the vendor still accepts a refresh token after rotating it (Okta, Auth0 and "
            "WSO2 call it a reuse interval or grace period); 0 for none. With it, a refresh whose "
            "answer was lost (a timeout, a process killed) is retried once with the same refresh "
            "token inside it instead of asking a person to authorize again."
        ),
    )
    code_field: str = Field("code", description="Field for the authorization code.")
    redirect_uri_field: str = Field("redirect_uri", description="Field for the redirect URI.")
    code_verifier_field: str = Field("code_verifier", description="Field carrying the PKCE code verifier.")
    client_id_in_code_grant: bool = Field(
        False, description="Also send the client id as a field in the code exchange."
    )
    # Device authorization grant (RFC 8628): a person approves on another device while we poll.
    device_code_grant: str = Field(
        DEVICE_CODE_GRANT, description="Grant value for polling with a device code (RFC 8628)."
    )
    default_device_authorization_url: str = Field(
        "", description="The vendor's device authorization endpoint, used when none is configured."
    )
    device_code_field: str = Field("device_code", description="Field carrying the device code.")
    # JWT bearer grant (RFC 7523 2.1): a signed assertion is the grant (service accounts).
    jwt_bearer_grant: str = Field(
        JWT_BEARER_GRANT, description="Grant value for a signed assertion as the grant (RFC 7523 2.1)."
    )
    assertion_field: str = Field("assertion", description="Field carrying the grant's assertion.")
    assertion_audience: str = Field(
        "",
        description=(
            "The assertion's aud claim; empty for the token URL (Google). Salesforce wants its "
            "login host (https://login.salesforce.com)."
        ),
    )
    assertion_scope: Literal["field", "claim", "none"] = Field(
        "field",
        description=(
            "Where the scopes of a JWT bearer grant go: the request's scope field (RFC 7523), a "
            "claim of the assertion (Google), or nowhere (Salesforce: the connected app's scopes)."
        ),
    )
    assertion_scope_claim: str = Field("scope", description="The claim carrying the scopes.")
    assertion_claims: dict[str, JsonValue] = Field(
        default_factory=dict,
        description=(
            "More claims of the grant's assertion, templated like extra fields (Box's "
            "box_subject_type, DocuSign's scope)."
        ),
    )
    assertion_lifetime: int = Field(
        300,
        ge=1,
        le=3600,
        description="Seconds from iat to exp of the grant's assertion (Salesforce: at most 180).",
    )
    client_id_in_jwt_bearer: bool = Field(
        True,
        description=(
            "With client authentication 'none', send the client id with the JWT bearer grant. "
            "Google and Salesforce know the client from the assertion and want it off."
        ),
    )
    # Resource owner password grant (RFC 6749 4.3).
    password_grant: str = Field("password", description="Grant value for a user's name and password.")
    username_field: str = Field("username", description="Field for the user name.")
    password_field: str = Field("password", description="Field for the password.")
    extra_fields: dict[str, JsonValue] = Field(
        default_factory=dict,
        description=(
            "Fields sent with every token request. A string value of exactly '{name}' is replaced "
            "by the credentials' extra value 'name' keeping its JSON type; '{name}' inside a "
            "longer string is substituted as text."
        ),
    )
    extra_headers: dict[str, str] = Field(
        default_factory=dict, description="Headers sent with every token request (templated)."
    )
    extra_query: dict[str, str] = Field(
        default_factory=dict, description="Query parameters sent with every token request."
    )

    # --- response ------------------------------------------------------------------------
    access_token_path: list[str] = Field(["access_token"], description="Path(s) to the token.")
    token_type_path: list[str] = Field(["token_type"], description="Path(s) to the token type.")
    expires_in_path: list[str] = Field(["expires_in"], description="Path(s) to expires-in.")
    expires_at_path: list[str] = Field([], description="Path(s) to an absolute expiry.")
    expires_at_format: Annotated[ExpiresAtFormat, _inline(ExpiresAtFormat)] = Field(
        ExpiresAtFormat.AUTO, description="Its format."
    )
    refresh_token_path: list[str] = Field(["refresh_token"], description="Path(s) to it.")
    refresh_expires_in_path: list[str] = Field(
        ["refresh_expires_in", "refresh_token_expires_in"],
        description="Path(s) to the refresh token's lifetime in seconds, where a vendor says it.",
    )
    scope_path: list[str] = Field(["scope"], description="Path(s) to the granted scope.")
    id_token_path: list[str] = Field(["id_token"], description="Path(s) to an OIDC id token.")
    error_code_path: list[str] = Field(["error"], description="Path(s) to the error code.")
    error_message_path: list[str] = Field(
        ["error_description", "message"], description="Path(s) to the error message; all present are joined."
    )
    default_lifetime: float = Field(
        0, ge=0, description="Lifetime in seconds when the answer carries no expiry; 0 for none."
    )

    # --- using the token -----------------------------------------------------------------
    auth_header: str = Field("Authorization", description="Header that carries the token.")
    auth_scheme: str = Field("Bearer", description="Scheme before the token; empty to send the token alone.")

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Fields added later are left out while at their defaults (see ``_ADDED_LATER``)."""
        data: dict[str, Any] = handler(self)
        fields = type(self).model_fields
        for name in _ADDED_LATER:
            if name in data and getattr(self, name) == fields[name].get_default(call_default_factory=True):
                del data[name]
        return data

    @model_validator(mode="before")
    @classmethod
    def _none_is_empty(cls, data: Any) -> Any:
        """``None`` (code and documents from 0.1) means empty; 0 means no default lifetime."""
        if isinstance(data, dict):
            data = {k: ("" if v is None and k in _NONE_IS_EMPTY else v) for k, v in data.items()}
            if data.get("default_lifetime", 0) is None:
                data["default_lifetime"] = 0
        return data

    @model_validator(mode="after")
    def _check(self) -> TokenDialect:
        if not self.access_token_path:
            raise ValueError(f"dialect {self.name!r}: access_token_path needs at least one path")
        body_auth = (ClientAuth.BODY, ClientAuth.NONE, *ASSERTION_AUTH, *MTLS_AUTH)
        if self.body_encoding is BodyEncoding.NONE and self.client_auth in body_auth:
            raise ValueError(
                f"dialect {self.name!r}: client_auth {self.client_auth.value!r} needs a body; "
                "pick a body_encoding"
            )
        grants = (self.client_credentials_grant, self.refresh_grant, self.authorization_code_grant)
        if self.grant_type_field and not any(grants):
            raise ValueError(f"dialect {self.name!r}: no grant is enabled")
        return self
