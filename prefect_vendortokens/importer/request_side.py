"""The request half of a dialect from one operation: method, body encoding, where the client
credentials go, the grant, scopes, and templates for what only the user can fill (``needs``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import names, schema
from .model import Body, Operation, Scheme
from .schema import Prop, allowed, example_of, fields, type_of, variants

FORM = "application/x-www-form-urlencoded"
_HANDLED_HEADERS = {"contenttype", "accept", "authorization", "useragent", "contentlength", "host"}
_CC = "client_credentials"


@dataclass(frozen=True)
class Need:
    """A value the document requires and cannot give: an extra value of the credentials."""

    name: str
    field: str
    location: str  # body, query, header
    type: str = "string"
    description: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "field": self.field,
            "in": self.location,
            "type": self.type,
            "description": self.description,
        }


@dataclass(frozen=True)
class Slot:
    """A request field or parameter, wherever it travels."""

    name: str
    location: str  # body, query, header, path
    required: bool
    schema: dict[str, Any]
    description: str = ""

    @property
    def values(self) -> tuple[Any, ...]:
        return allowed(self.schema)


@dataclass
class RequestSide:
    dialect: dict[str, Any] = field(default_factory=dict)
    needs: list[Need] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    guessed: set[str] = field(default_factory=set)  # dialect fields the document left open


def template_name(name: str) -> str:
    """``accountId`` / ``X-Tenant-Id`` -> ``account_id`` / ``x_tenant_id``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    snake = re.sub(r"[^A-Za-z0-9]+", "_", snake).strip("_").lower()
    return snake if snake and not snake[0].isdigit() else f"value_{snake}"


def _choose_body(op: Operation, side: RequestSide) -> Body | None:
    usable = [
        b for b in op.bodies if b.content_type in (FORM, "multipart/form-data") or "json" in b.content_type
    ]
    if not op.bodies:
        return None
    if not usable:
        side.notes.append(
            f"the request body is {op.bodies[0].content_type}, which a dialect cannot send; no body is sent"
        )
        side.guessed.add("body_encoding")
        return None

    def oauth_like(body: Body) -> bool:
        return any(
            names.score(p.name, names.GRANT) >= 7 or _CC in allowed(p.schema)
            for v in variants(body.schema)
            for p in fields(v)
        )

    form = [b for b in usable if "form" in b.content_type]
    json_bodies = [b for b in usable if "json" in b.content_type]
    if form and json_bodies:
        chosen = form[0] if oauth_like(form[0]) else json_bodies[0]
        other = json_bodies[0] if chosen is form[0] else form[0]
        side.notes.append(
            f"the body may be {chosen.content_type} or {other.content_type}: {chosen.content_type} chosen"
        )
    else:
        chosen = usable[0]
    if chosen.content_type == "multipart/form-data":
        side.notes.append("the document asks for multipart/form-data; a form-urlencoded body is sent instead")
        side.guessed.add("body_encoding")
    return chosen


def _variant(body: Body, side: RequestSide) -> tuple[list[Prop], list[list[Prop]]]:
    """The client-credentials variant's fields, and every variant's (for the other grants)."""
    options = [fields(v) for v in variants(body.schema)]
    if len(options) == 1:
        return options[0], options

    def fit(props: list[Prop]) -> int:
        points = 0
        for p in props:
            values = allowed(p.schema)
            if _CC in values:
                points += 5 if len(values) == 1 else 1
            if names.score(p.name, names.REFRESH_TOKEN) >= 10 or names.score(p.name, names.CODE) >= 10:
                points -= 10 if p.required else 2
            if names.score(p.name, names.REDIRECT_URI) >= 9:
                points -= 3
        return points

    best = max(range(len(options)), key=lambda i: (fit(options[i]), -i))
    side.notes.append(
        f"the request body has {len(options)} variants (oneOf/anyOf); variant {best + 1} is the "
        "client-credentials one, the others give the refresh and code grants' fields"
    )
    return options[best], options


def _best(
    slots: list[Slot],
    table: dict[str, int],
    words: tuple[str, ...],
    minimum: int,
    *,
    secret: bool = False,
    fixed_ok: bool = False,
) -> Slot | None:
    """The slot whose name (and description) fits ``table`` best, if it fits well enough."""

    def points(s: Slot) -> int:
        p = names.score(s.name, table)
        if names.mentions(s.description, *words):
            p += 3
        if secret and s.schema.get("format") == "password":
            p += 5
        if p and s.required:
            p += 1
        if s.values and not fixed_ok:  # a field with fixed values carries no credential
            p -= 8
        return p

    ranked = sorted(((points(s), i, s) for i, s in enumerate(slots)), key=lambda t: (-t[0], t[1]))
    return ranked[0][2] if ranked and ranked[0][0] >= minimum else None


def derive_request(op: Operation) -> RequestSide:
    side = RequestSide()
    if op.method != "POST":
        side.dialect["method"] = op.method
    body = _choose_body(op, side)
    chosen, all_variants = _variant(body, side) if body is not None else ([], [])
    slots = [Slot(p.name, "body", p.required, p.schema, p.description) for p in chosen]
    for param in op.params:
        handled = param.location == "header" and schema.norm(param.name) in _HANDLED_HEADERS
        if param.location in ("query", "header", "path") and not handled:
            slots.append(Slot(param.name, param.location, param.required, param.schema, param.description))
    schemes = _security(op)
    grant = _grant(slots, all_variants, side, explain=body is not None or not op.synthesized)
    used = {grant.name} if grant is not None else set()
    oauth_like = bool(op.synthesized) or op.token_url_hint or grant is not None
    client = _credentials(slots, used, schemes, oauth_like, side, rfc6749=op.token_url_hint)
    scope = _scope(slots, used, side)
    _other_grants(all_variants, side)
    _extras(slots, used, client, schemes, side)
    if body is None:
        in_query = any(s is not None and s.location == "query" for s in (grant, scope)) or (
            side.dialect.get("client_auth") == "none" and client is not None and client.location == "query"
        )
        side.dialect["body_encoding"] = "query" if in_query else "none"
        if not in_query:
            side.notes.append("the document describes no request body: none is sent")
    else:
        side.dialect["body_encoding"] = "json" if "json" in body.content_type else "form"
    return side


def _security(op: Operation) -> list[Scheme]:
    """The security alternative a token request fits: one with HTTP Basic, else the first; none
    when the operation may also be called without (an empty alternative)."""
    alternatives = list(op.security)
    if not alternatives or any(not alt for alt in alternatives):
        return []
    with_basic = [alt for alt in alternatives if any(s.kind == "basic" for s in alt)]
    return list((with_basic or alternatives)[0])


def _grant(
    slots: list[Slot], all_variants: list[list[Prop]], side: RequestSide, *, explain: bool
) -> Slot | None:
    """The grant type field and the values it allows across the body's variants."""
    d = side.dialect
    slot = next((s for s in slots if _CC in s.values), None) or _best(
        slots, names.GRANT, ("grant",), 7, fixed_ok=True
    )
    if slot is None:
        d["grant_type_field"] = ""
        if explain:
            side.notes.append("no grant type field: none is sent")
        return None
    values: list[Any] = []
    for props in all_variants:
        for p in props:
            if p.name == slot.name:
                values += [v for v in allowed(p.schema) if v not in values]
    values = values or list(slot.values)
    stated = bool(values)
    if not stated:  # no enum: the grants the other fields serve (RFC 6749 names)
        present = {schema.norm(p.name) for props in all_variants for p in props}
        if "refreshtoken" in present:
            values.append("refresh_token")
        if "code" in present and present & {"redirecturi", "codeverifier"}:
            values.append("authorization_code")
        if values:
            side.notes.append(
                f"the grant field {slot.name!r} states no values; its other fields serve "
                + " and ".join(repr(v) for v in values)
            )
    if slot.name != "grant_type":
        d["grant_type_field"] = slot.name
    default = slot.schema.get("default")
    if default is None:
        default = example_of(slot.schema)
    if _CC in values:
        value = _CC
    elif stated and len(values) == 1:
        value = str(values[0])
        side.notes.append(f"the grant field {slot.name!r} allows only {value!r}: sent as the grant")
    elif stated and "authorization_code" in values:
        value = ""
        side.notes.append(
            f"the grant field {slot.name!r} offers no client-credentials grant: use grant "
            "authorization_code in the block (a person consents once with prefect-vendortokens authorize)"
        )
    elif default is not None:
        value = str(default)
        side.notes.append(f"grant value {value!r} taken from the field's default or example")
    else:
        value = _CC
        side.notes.append(
            f"the grant field {slot.name!r} names no client-credentials value: RFC 6749's {_CC!r} assumed"
        )
        side.guessed.add("client_credentials_grant")
    if value != _CC:
        d["client_credentials_grant"] = value
    if "refresh_token" in values:
        d["refresh_grant"] = "refresh_token"
    if "authorization_code" in values:
        d["authorization_code_grant"] = "authorization_code"
    return slot


_ID_WORDS = (
    "client id",
    "client identifier",
    "application id",
    "api key",
    "app id",
    "access key",
    "username",
)


def _credentials(
    slots: list[Slot],
    used: set[str],
    schemes: list[Scheme],
    oauth_like: bool,
    side: RequestSide,
    *,
    rfc6749: bool = False,
) -> Slot | None:
    """Where the client id and secret go: fields named and described so (``format: password``),
    the operation's HTTP Basic, or RFC 6749's default when the document says nothing."""
    d = side.dialect
    candidates = [s for s in slots if s.name not in used and s.location != "path"]
    secret = _best(candidates, names.CLIENT_SECRET, ("secret", "password"), 6, secret=True)
    client = _best([s for s in candidates if s is not secret], names.CLIENT_ID, _ID_WORDS, 4)
    basic = any(s.kind == "basic" for s in schemes)
    if secret is not None and client is None:
        side.notes.append(f"{secret.name!r} carries the secret but no field names the client id")
    if secret is not None and secret.location in ("body", "query") and (secret.required or not basic):
        d["client_auth"] = "body" if secret.location == "body" else "query"
        if secret.name != "client_secret":
            d["client_secret_field"] = secret.name
        if client is not None and client.name != "client_id":
            d["client_id_field" if secret.location == "body" else "client_id_query_param"] = client.name
        where = "body fields" if secret.location == "body" else "query parameters"
        password = (
            " (the secret's field is marked format: password)"
            if secret.schema.get("format") == "password"
            else ""
        )
        side.notes.append(
            f"client id and secret sent as {where} {client.name if client else 'client_id'!r} and "
            f"{secret.name!r}{password}"
        )
        used |= {secret.name, *([client.name] if client else [])}
    elif basic:
        if client is not None and client.location == "query":
            d["client_auth"] = "basic_and_query"
            if client.name != "client_id":
                d["client_id_query_param"] = client.name
            used.add(client.name)
            side.notes.append(
                "client id and secret sent with HTTP Basic, and the client id again in the query "
                f"parameter {client.name!r}"
            )
        else:
            d["client_auth"] = "basic"
            side.notes.append("client id and secret sent with HTTP Basic (the operation's security scheme)")
        if rfc6749:
            side.notes.append(
                "an oauth2 scheme names this endpoint: Basic credentials are form-encoded first "
                "(RFC 6749 2.3.1); set basic_auth_urlencode=False if the server wants them as given"
            )
        else:
            d["basic_auth_urlencode"] = False
            side.notes.append(
                "Basic credentials are sent as given (RFC 7617); set basic_auth_urlencode=True for a "
                "server that wants them form-encoded first (RFC 6749 2.3.1)"
            )
        if secret is not None:
            used.add(secret.name)  # an optional body secret: Basic carries it
    elif client is not None and secret is None:
        d["client_auth"] = "none"
        if client.name != "client_id":
            d["client_id_field"] = client.name
        used.add(client.name)
        side.notes.append(f"only a client id ({client.name!r}) and no secret is asked for: a public client")
    else:
        d["client_auth"] = "basic"
        side.guessed.add("client_auth")
        if oauth_like:
            side.notes.append(
                "the document does not say how the client authenticates: RFC 6749's client_secret_basic "
                "assumed (every OAuth2 server must accept it); client_auth 'body' is the other usual way"
            )
        else:
            d["basic_auth_urlencode"] = False
            side.notes.append(
                "the document does not say how the client authenticates (no secret field, no security "
                "scheme): HTTP Basic assumed"
            )
    if client is not None and type_of(client.schema) in ("integer", "number"):
        d["client_id_type"] = "integer"
        side.notes.append(f"the client id field {client.name!r} is a number: sent as one")
    return client


def _scope(slots: list[Slot], used: set[str], side: RequestSide) -> Slot | None:
    scope = _best([s for s in slots if s.name not in used], names.SCOPE, (), 10)
    if scope is None:
        side.dialect["scope_field"] = ""  # the block's scopes are not sent where nothing takes them
        return None
    used.add(scope.name)
    if scope.name != "scope":
        side.dialect["scope_field"] = scope.name
    if "comma" in scope.description.lower():
        side.dialect["scope_separator"] = ","
    if type_of(scope.schema) == "array":
        side.notes.append(
            f"the scope field {scope.name!r} is a list; scopes are sent as one space-separated text"
        )
    return scope


def _other_grants(all_variants: list[list[Prop]], side: RequestSide) -> None:
    """The refresh and code grants' field names, from whichever variant carries them."""
    d = side.dialect
    for props in all_variants:
        for p in props:
            key = schema.norm(p.name)
            if names.REFRESH_TOKEN.get(key, 0) >= 10 and p.name != "refresh_token":
                d["refresh_token_field"] = p.name
            elif names.CODE.get(key, 0) >= 10 and p.name != "code":
                d["code_field"] = p.name
            elif names.REDIRECT_URI.get(key, 0) >= 9 and p.name != "redirect_uri":
                d["redirect_uri_field"] = p.name
    if not d.get("authorization_code_grant"):
        return
    code_variant = next(
        (props for props in all_variants if any(schema.norm(p.name) in names.CODE for p in props)), []
    )
    verifier = next((p for p in code_variant if names.score(p.name, names.VERIFIER) >= 6), None)
    if verifier is None:
        # In a token request a "code_challenge" field can only carry the PKCE verifier.
        verifier = next((p for p in code_variant if schema.norm(p.name) == "codechallenge"), None)
        if verifier is not None:
            side.notes.append(
                f"the code grant's PKCE field is named {verifier.name!r}: the verifier is sent in it"
            )
    if verifier is not None and verifier.name != "code_verifier":
        d["code_verifier_field"] = verifier.name
    if d.get("client_auth") in ("basic", "basic_and_query") and any(
        names.score(p.name, names.CLIENT_ID) >= 10 for p in code_variant
    ):
        d["client_id_in_code_grant"] = True


def _extras(
    slots: list[Slot], used: set[str], client: Slot | None, schemes: list[Scheme], side: RequestSide
) -> None:
    """Everything else the document requires: fixed values as they are, the client id as
    ``{client_id}``, the rest as templates of extra values the user gives (``needs``)."""
    extra: dict[str, dict[str, Any]] = {"body": {}, "query": {}, "header": {}}

    def need(name: str, location: str, kind: str, description: str, why: str) -> None:
        wanted = Need(template_name(name), name, location, kind or "string", description)
        extra[location][name] = "{" + wanted.name + "}"
        side.needs.append(wanted)
        side.notes.append(f"{why}, which only you can fill: the extra value {wanted.name!r}")

    other_grants = (names.REFRESH_TOKEN, names.CODE, names.REDIRECT_URI, names.VERIFIER)
    for slot in slots:
        if slot.name in used or not slot.required:
            continue
        if any(names.score(slot.name, table) >= 9 for table in other_grants):
            continue  # the code or refresh grant's own field, however the document marks it
        if slot.location == "path":
            side.notes.append(f"the path parameter {slot.name!r} must be filled into the token URL by hand")
            continue
        fixed = slot.values[0] if len(slot.values) == 1 else slot.schema.get("default")
        if fixed is not None:
            extra[slot.location][slot.name] = fixed if slot.location == "body" else str(fixed)
            side.notes.append(f"{slot.location} field {slot.name!r} sent with its fixed value {fixed!r}")
        elif slot is client or names.score(slot.name, names.CLIENT_ID) >= 10:
            extra[slot.location][slot.name] = "{client_id}"
            side.notes.append(f"{slot.location} field {slot.name!r} repeats the client id")
        else:
            why = f"the document requires the {slot.location} field {slot.name!r}"
            need(slot.name, slot.location, type_of(slot.schema), slot.description, why)
    for scheme in schemes:
        if scheme.kind == "apikey" and scheme.location in ("header", "query") and scheme.param:
            if schema.norm(scheme.param) in _HANDLED_HEADERS:
                continue
            why = f"the security scheme {scheme.name!r} wants an API key in {scheme.param!r}"
            need(scheme.param, scheme.location, "string", scheme.description, why)
        elif scheme.kind == "bearer":
            side.notes.append(
                f"the security scheme {scheme.name!r} (a bearer token) is ignored: none exists yet"
            )
    for location, key in (("body", "extra_fields"), ("query", "extra_query"), ("header", "extra_headers")):
        if extra[location]:
            side.dialect[key] = extra[location]
