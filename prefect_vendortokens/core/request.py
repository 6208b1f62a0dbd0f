"""Building token requests from a dialect (sans-IO: returns bytes and headers, sends nothing)."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from pydantic import JsonValue, SecretStr

from .dialect import ASSERTION_AUTH, MTLS_AUTH, BodyEncoding, ClientAuth, TokenDialect
from .errors import DialectError, secret_forms

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # RFC 7523 2.2


@dataclass(frozen=True)
class ClientCredentials:
    """Who asks: the inputs to every token request of one account."""

    token_url: str
    client_id: str
    client_secret: SecretStr
    scopes: tuple[str, ...] = ()
    extra: dict[str, JsonValue] = field(default_factory=dict)
    # private_key_jwt: the key (PEM or JWK), its ``kid``, the algorithm (empty: from the key) and
    # the assertion's audience (empty: the token URL, as RFC 7523 3 suggests).
    private_key: SecretStr | None = None
    key_id: str = ""
    signing_alg: str = ""
    assertion_audience: str = ""

    def __repr__(self) -> str:
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"


@dataclass(frozen=True)
class ClientCredentialsGrant:
    scopes: tuple[str, ...] | None = None  # None: the account's scopes


@dataclass(frozen=True)
class RefreshGrant:
    refresh_token: SecretStr
    scopes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AuthorizationCodeGrant:
    code: SecretStr
    redirect_uri: str
    code_verifier: SecretStr | None = None


@dataclass(frozen=True)
class DeviceCodeGrant:
    """RFC 8628 3.4: one poll of the token endpoint with the device code the device
    authorization answered (``core.device``)."""

    device_code: SecretStr


@dataclass(frozen=True)
class JwtBearerGrant:
    """RFC 7523 2.1: an assertion signed with the account's private key (``creds.private_key``,
    ``key_id``, ``signing_alg``) is the grant. Empty ``issuer`` is the client id (Salesforce's
    consumer key; Google's is the key file's ``client_email``); empty ``subject`` sends no ``sub``
    (Google without domain-wide delegation; Salesforce wants the user name); empty ``audience``
    is the dialect's ``assertion_audience``, else the token URL."""

    issuer: str = ""
    subject: str = ""
    audience: str = ""
    scopes: tuple[str, ...] | None = None  # None: the account's scopes


@dataclass(frozen=True)
class PasswordGrant:
    """RFC 6749 4.3: a user's name and password, with the dialect's client authentication."""

    username: str
    password: SecretStr
    scopes: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"PasswordGrant(username={self.username!r})"


Grant = (
    ClientCredentialsGrant
    | RefreshGrant
    | AuthorizationCodeGrant
    | DeviceCodeGrant
    | JwtBearerGrant
    | PasswordGrant
)


@dataclass(frozen=True)
class TokenRequest:
    """A token request ready to send. ``repr`` leaves out the headers and body (secrets)."""

    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    content: bytes | None = field(repr=False, default=None)
    grant: str = "client_credentials"
    # Every secret value this request carries (client secret, refresh token, code, verifier, the
    # Basic credentials), for scrubbing error messages; see ``errors.secret_forms``.
    secrets: tuple[str, ...] = field(repr=False, default=())

    def scrubbed(self) -> tuple[str, ...]:
        """Everything of this request an error message must never show, in every encoding it
        travelled in (the secrets, the Authorization header, the body)."""
        body = self.content.decode("utf-8", "replace") if self.content else ""
        return (*secret_forms(self.secrets), self.headers.get("Authorization", ""), body)


def build_token_request(
    dialect: TokenDialect, creds: ClientCredentials, grant: Grant, *, now: int | None = None
) -> TokenRequest:
    """The HTTP request that asks ``dialect``'s vendor for a token with ``grant``. ``now`` (epoch
    seconds) dates a client assertion and a JWT bearer grant's assertion; the clock when not given."""
    vendor = dialect.name
    fields: dict[str, JsonValue] = {}
    moment = int(time.time()) if now is None else now
    carried: list[str] = []
    public_client_id = True  # client auth "none" sends the client id (RFC 6749 2.3)

    def need(value: str | None, what: str) -> str:
        if not value:
            raise DialectError(f"dialect {vendor!r} has no {what}", vendor=vendor)
        return value

    grant_name: str
    if isinstance(grant, ClientCredentialsGrant):
        grant_name = "client_credentials"
        grant_value = dialect.client_credentials_grant
        scopes = creds.scopes if grant.scopes is None else grant.scopes
    elif isinstance(grant, RefreshGrant):
        grant_name = "refresh_token"
        grant_value = need(dialect.refresh_grant, "refresh grant (the vendor issues no refresh tokens)")
        fields[dialect.refresh_token_field] = grant.refresh_token.get_secret_value()
        scopes = (
            (creds.scopes if grant.scopes is None else grant.scopes) if dialect.send_scope_on_refresh else ()
        )
    elif isinstance(grant, AuthorizationCodeGrant):
        grant_name = "authorization_code"
        grant_value = need(dialect.authorization_code_grant, "authorization-code grant")
        fields[dialect.code_field] = grant.code.get_secret_value()
        fields[dialect.redirect_uri_field] = grant.redirect_uri
        if grant.code_verifier is not None:
            fields[dialect.code_verifier_field] = grant.code_verifier.get_secret_value()
        if dialect.client_id_in_code_grant:
            fields[dialect.client_id_field] = _client_id_value(dialect, creds.client_id)
        scopes = ()
    elif isinstance(grant, DeviceCodeGrant):
        grant_name = "device_code"
        grant_value = need(dialect.device_code_grant, "device code grant")
        fields[dialect.device_code_field] = grant.device_code.get_secret_value()
        scopes = ()  # RFC 8628 3.4: the scopes were asked for in the device authorization
    elif isinstance(grant, JwtBearerGrant):
        grant_name = "jwt_bearer"
        grant_value = need(dialect.jwt_bearer_grant, "JWT bearer grant")
        scopes = creds.scopes if grant.scopes is None else grant.scopes
        assertion = _grant_assertion(dialect, creds, grant, scopes, moment)
        fields[need(dialect.assertion_field, "assertion field")] = assertion
        carried.append(assertion)  # replayable until it expires: scrubbed like a secret
        if dialect.assertion_scope != "field":
            scopes = ()
        public_client_id = dialect.client_id_in_jwt_bearer
    elif isinstance(grant, PasswordGrant):
        grant_name = "password"
        grant_value = need(dialect.password_grant, "password grant")
        if not grant.username:
            raise DialectError(f"vendor {vendor!r}: the password grant needs a user name", vendor=vendor)
        fields[dialect.username_field] = grant.username
        fields[dialect.password_field] = grant.password.get_secret_value()
        scopes = creds.scopes if grant.scopes is None else grant.scopes
    else:  # pragma: no cover - the union above is closed
        raise TypeError(f"unknown grant {grant!r}")

    if dialect.grant_type_field and grant_value:
        fields[dialect.grant_type_field] = grant_value
    if scopes and dialect.scope_field:
        fields[dialect.scope_field] = dialect.scope_separator.join(scopes)
    carried += [v.get_secret_value() for v in _grant_secrets(grant)]
    return _assemble(
        dialect,
        creds,
        fields,
        url=creds.token_url,
        grant_name=grant_name,
        carried=carried,
        now=moment,
        public_client_id=public_client_id,
    )


def build_device_authorization_request(
    dialect: TokenDialect,
    creds: ClientCredentials,
    *,
    url: str = "",
    scopes: tuple[str, ...] | None = None,
    now: int | None = None,
) -> TokenRequest:
    """RFC 8628 3.1: the request that starts a device authorization, sent to ``url`` (else the
    dialect's ``default_device_authorization_url``; discovery's ``device_authorization_endpoint``
    is the engine's to pass). It carries the scopes, the dialect's client authentication (a
    public client: its client id) and the dialect's extra fields, headers and query; its answer
    goes to ``core.device.parse_device_authorization``."""
    vendor = dialect.name
    target = url or dialect.default_device_authorization_url
    if not target:
        raise DialectError(
            f"dialect {vendor!r} has no device authorization endpoint; configure its URL "
            "or an issuer whose metadata names one",
            vendor=vendor,
        )
    fields: dict[str, JsonValue] = {}
    chosen = creds.scopes if scopes is None else scopes
    if chosen and dialect.scope_field:
        fields[dialect.scope_field] = dialect.scope_separator.join(chosen)
    return _assemble(
        dialect,
        creds,
        fields,
        url=target,
        grant_name="device_authorization",
        carried=[],
        now=int(time.time()) if now is None else now,
        public_client_id=True,
    )


def _assemble(
    dialect: TokenDialect,
    creds: ClientCredentials,
    fields: dict[str, JsonValue],
    *,
    url: str,
    grant_name: str,
    carried: list[str],
    now: int,
    public_client_id: bool,
) -> TokenRequest:
    """The grant's ``fields`` plus the dialect's extras and client authentication, encoded."""
    vendor = dialect.name
    query: dict[str, str] = {}
    headers: dict[str, str] = {"Accept": "application/json"}
    template_values: dict[str, JsonValue] = {"client_id": creds.client_id, **creds.extra}
    for key, value in dialect.extra_fields.items():
        fields[key] = _render(value, template_values, vendor)
    for key, value in dialect.extra_headers.items():
        headers[key] = str(_render(value, template_values, vendor))
        if not (key.isascii() and headers[key].isascii()):
            raise DialectError(f"dialect {vendor!r}: header {key!r} would not be ASCII", vendor=vendor)
    for key, value in dialect.extra_query.items():
        query[key] = str(_render(value, template_values, vendor))

    secret = creds.client_secret.get_secret_value()
    auth = dialect.client_auth
    # Only a JWT bearer grant whose assertion names its issuer can go without a client id.
    if not creds.client_id and (auth is not ClientAuth.NONE or public_client_id):
        raise DialectError(f"vendor {vendor!r}: the client id is empty", vendor=vendor)
    carried = [secret, *carried]
    if (auth is ClientAuth.NONE and public_client_id) or auth in MTLS_AUTH:
        # RFC 8705 2: with mutual TLS the certificate proves the client; the body names it.
        fields[dialect.client_id_field] = _client_id_value(dialect, creds.client_id)
    if auth in ASSERTION_AUTH:
        assertion = _assertion(dialect, creds, now)
        fields[dialect.client_id_field] = _client_id_value(dialect, creds.client_id)
        fields["client_assertion_type"] = JWT_BEARER
        fields["client_assertion"] = assertion
        carried.append(assertion)  # replayable until it expires: scrubbed like a secret
    if auth in (ClientAuth.BASIC, ClientAuth.BASIC_AND_QUERY):
        headers["Authorization"] = _basic(creds.client_id, secret, dialect.basic_auth_urlencode)
    if auth in (ClientAuth.QUERY, ClientAuth.BASIC_AND_QUERY):
        query[dialect.client_id_query_param] = creds.client_id
    if auth is ClientAuth.QUERY:
        query[dialect.client_secret_field] = secret
    if auth is ClientAuth.BODY:
        fields[dialect.client_id_field] = _client_id_value(dialect, creds.client_id)
        fields[dialect.client_secret_field] = secret

    content: bytes | None = None
    if dialect.body_encoding is BodyEncoding.FORM:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        content = urlencode({k: _form_value(v) for k, v in fields.items()}).encode()
    elif dialect.body_encoding is BodyEncoding.JSON:
        headers["Content-Type"] = "application/json"
        content = json.dumps(fields, separators=(",", ":")).encode()
    elif dialect.body_encoding is BodyEncoding.QUERY:
        query.update({k: _form_value(v) for k, v in fields.items()})

    if "Authorization" in headers:
        basic = headers["Authorization"].removeprefix("Basic ")
        carried += [basic, base64.b64decode(basic).decode("utf-8", "replace")]
    password = urlsplit(url).password
    if password:
        carried.append(password)
    return TokenRequest(
        method=dialect.method,
        url=_with_query(url, query),
        headers=headers,
        content=content,
        grant=grant_name,
        secrets=tuple(carried),
    )


def _assertion(dialect: TokenDialect, creds: ClientCredentials, now: int) -> str:
    # Imported here: joserfc brings cryptography, which plain client-secret users need not load.
    from .assertion import SigningKey, client_assertion, load_private_key, secret_key

    vendor = dialect.name
    key: SigningKey
    if dialect.client_auth is ClientAuth.CLIENT_SECRET_JWT:
        key = secret_key(creds.client_secret.get_secret_value(), vendor=vendor)
    else:
        if creds.private_key is None or not creds.private_key.get_secret_value().strip():
            raise DialectError("private_key_jwt needs a private key; none is configured", vendor=vendor)
        key = load_private_key(creds.private_key.get_secret_value(), vendor=vendor)
    return client_assertion(
        key,
        client_id=creds.client_id,
        audience=creds.assertion_audience or creds.token_url.split("?", 1)[0],
        now=now,
        key_id=creds.key_id,
        alg=creds.signing_alg,
        vendor=vendor,
    )


def _grant_assertion(
    dialect: TokenDialect, creds: ClientCredentials, grant: JwtBearerGrant, scopes: tuple[str, ...], now: int
) -> str:
    from .jwt_bearer import grant_assertion

    vendor = dialect.name
    template_values: dict[str, JsonValue] = {"client_id": creds.client_id, **creds.extra}
    claims = {k: _render(v, template_values, vendor) for k, v in dialect.assertion_claims.items()}
    if scopes and dialect.assertion_scope == "claim":
        claims[dialect.assertion_scope_claim] = dialect.scope_separator.join(scopes)
    issuer = grant.issuer or creds.client_id
    if not issuer:
        raise DialectError(
            f"vendor {vendor!r}: the JWT bearer grant needs an issuer (the client id, or a "
            "service account's client_email)",
            vendor=vendor,
        )
    return grant_assertion(
        creds.private_key,
        issuer=issuer,
        audience=grant.audience or dialect.assertion_audience or creds.token_url.split("?", 1)[0],
        subject=grant.subject,
        now=now,
        lifetime=dialect.assertion_lifetime,
        claims=claims,
        key_id=creds.key_id,
        alg=creds.signing_alg,
        vendor=vendor,
    )


def _grant_secrets(grant: Grant) -> tuple[SecretStr, ...]:
    if isinstance(grant, RefreshGrant):
        return (grant.refresh_token,)
    if isinstance(grant, AuthorizationCodeGrant):
        return (grant.code,) + ((grant.code_verifier,) if grant.code_verifier is not None else ())
    if isinstance(grant, DeviceCodeGrant):
        return (grant.device_code,)
    if isinstance(grant, PasswordGrant):
        return (grant.password,)
    return ()


def _client_id_value(dialect: TokenDialect, client_id: str) -> JsonValue:
    if dialect.client_id_type == "integer":
        text = client_id.strip()
        # ASCII digits only ("²".isdigit() is True), and few enough for int() (a 5,000-digit id
        # raises ValueError there).
        if not (text.isascii() and text.isdigit() and len(text) <= 30):
            raise DialectError(
                f"vendor {dialect.name!r} wants a numeric client id; the one given is not a number",
                vendor=dialect.name,
            )
        return int(text)
    return client_id


def _basic(client_id: str, secret: str, urlencode_first: bool) -> str:
    if urlencode_first:  # RFC 6749 section 2.3.1
        client_id, secret = quote(client_id, safe=""), quote(secret, safe="")
    raw = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _form_value(value: JsonValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


def _render(value: JsonValue, values: dict[str, JsonValue], vendor: str) -> JsonValue:
    """Fill ``{name}`` placeholders; an exact ``"{name}"`` keeps the value's JSON type."""
    if isinstance(value, dict):
        return {k: _render(v, values, vendor) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, values, vendor) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(name: str) -> JsonValue:
        if name not in values:
            raise DialectError(
                f"dialect {vendor!r} needs the extra value {name!r}; add it to the credentials' "
                f"extra fields (given: {', '.join(sorted(values)) or 'none'})",
                vendor=vendor,
            )
        return values[name]

    exact = _PLACEHOLDER.fullmatch(value)
    if exact:
        return lookup(exact.group(1))
    return _PLACEHOLDER.sub(lambda m: _form_value(lookup(m.group(1))), value)


def _with_query(url: str, params: dict[str, str]) -> str:
    if not params:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))
