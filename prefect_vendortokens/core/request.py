"""Building token requests from a dialect (sans-IO: returns bytes and headers, sends nothing)."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from pydantic import JsonValue, SecretStr

from .dialect import ASSERTION_AUTH, BodyEncoding, ClientAuth, TokenDialect
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


Grant = ClientCredentialsGrant | RefreshGrant | AuthorizationCodeGrant


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
    seconds) dates a client assertion; the clock when not given."""
    vendor = dialect.name
    fields: dict[str, JsonValue] = {}
    query: dict[str, str] = {}
    headers: dict[str, str] = {"Accept": "application/json"}

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
    else:  # pragma: no cover - the union above is closed
        raise TypeError(f"unknown grant {grant!r}")

    if dialect.grant_type_field and grant_value:
        fields[dialect.grant_type_field] = grant_value
    if scopes and dialect.scope_field:
        fields[dialect.scope_field] = dialect.scope_separator.join(scopes)

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
    if not creds.client_id:
        raise DialectError(f"vendor {vendor!r}: the client id is empty", vendor=vendor)
    carried = [secret]
    if dialect.client_auth is ClientAuth.NONE:
        fields[dialect.client_id_field] = _client_id_value(dialect, creds.client_id)
    if dialect.client_auth in ASSERTION_AUTH:
        assertion = _assertion(dialect, creds, int(time.time()) if now is None else now)
        fields[dialect.client_id_field] = _client_id_value(dialect, creds.client_id)
        fields["client_assertion_type"] = JWT_BEARER
        fields["client_assertion"] = assertion
        carried.append(assertion)  # replayable until it expires: scrubbed like a secret
    if dialect.client_auth in (ClientAuth.BASIC, ClientAuth.BASIC_AND_QUERY):
        headers["Authorization"] = _basic(creds.client_id, secret, dialect.basic_auth_urlencode)
    if dialect.client_auth in (ClientAuth.QUERY, ClientAuth.BASIC_AND_QUERY):
        query[dialect.client_id_query_param] = creds.client_id
    if dialect.client_auth is ClientAuth.QUERY:
        query[dialect.client_secret_field] = secret
    if dialect.client_auth is ClientAuth.BODY:
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

    carried += [v.get_secret_value() for v in _grant_secrets(grant)]
    if "Authorization" in headers:
        basic = headers["Authorization"].removeprefix("Basic ")
        carried += [basic, base64.b64decode(basic).decode("utf-8", "replace")]
    password = urlsplit(creds.token_url).password
    if password:
        carried.append(password)
    return TokenRequest(
        method=dialect.method,
        url=_with_query(creds.token_url, query),
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


def _grant_secrets(grant: Grant) -> tuple[SecretStr, ...]:
    if isinstance(grant, RefreshGrant):
        return (grant.refresh_token,)
    if isinstance(grant, AuthorizationCodeGrant):
        return (grant.code,) + ((grant.code_verifier,) if grant.code_verifier is not None else ())
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
