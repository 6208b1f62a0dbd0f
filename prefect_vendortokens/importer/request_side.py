"""The request half of a dialect from one operation: method, body encoding, where the client
credentials go, the grant, scopes, and templates for what only the user can fill (``needs``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import names
from .model import Body, Operation
from .schema import Prop, allowed, example_of, fields, type_of, variants

FORM, JSON = "application/x-www-form-urlencoded", "json"
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
    slots: list[Slot], table: dict[str, int], words: tuple[str, ...], minimum: int, *, secret: bool = False
) -> Slot | None:
    def points(s: Slot) -> int:
        p = names.score(s.name, table)
        if names.mentions(s.description, *words):
            p += 3
        if secret and s.schema.get("format") == "password":
            p += 5
        if p and s.required:
            p += 1
        if s.values:  # a field with fixed values carries no credential
            p -= 8
        return p

    ranked = sorted(((points(s), i, s) for i, s in enumerate(slots)), key=lambda t: (-t[0], t[1]))
    return ranked[0][2] if ranked and ranked[0][0] >= minimum else None


def derive_request(op: Operation) -> RequestSide:
    side = RequestSide()
    d = side.dialect
    if op.method != "POST":
        d["method"] = op.method
    body = _choose_body(op, side)
    chosen, all_variants = _variant(body, side) if body is not None else ([], [])
    slots = [Slot(p.name, "body", p.required, p.schema, p.description) for p in chosen]
    for param in op.params:
        if param.location in ("query", "header", "path"):
            if param.location == "header" and re.sub(r"[^a-z]", "", param.name.lower()) in _HANDLED_HEADERS:
                continue
            slots.append(Slot(param.name, param.location, param.required, param.schema, param.description))
    every = {p.name: p for props in all_variants for p in props}

    # --- the grant -------------------------------------------------------------------------
    grant_slot = next((s for s in slots if _CC in s.values), None) or _best(slots, names.GRANT, ("grant",), 7)
    if (
        grant_slot is not None
        and grant_slot.values
        and _CC not in grant_slot.values
        and names.score(grant_slot.name, names.GRANT) < 7
    ):
        grant_slot = None
    grant_values: list[Any] = []
    if grant_slot is not None:
        for props in all_variants or [[]]:
            for p in props:
                if p.name == grant_slot.name:
                    grant_values += [v for v in allowed(p.schema) if v not in grant_values]
        grant_values = grant_values or list(grant_slot.values)
        if grant_slot.name != "grant_type":
            d["grant_type_field"] = grant_slot.name
        if _CC in grant_values:
            value = _CC
        elif len(grant_values) == 1:
            value = str(grant_values[0])
            side.notes.append(f"the grant field {grant_slot.name!r} allows only {value!r}: sent as the grant")
        elif grant_slot.schema.get("default") is not None or example_of(grant_slot.schema) is not None:
            value = str(grant_slot.schema.get("default") or example_of(grant_slot.schema))
            side.notes.append(f"grant value {value!r} taken from the field's default or example")
        else:
            value = _CC
            side.notes.append(
                f"the grant field {grant_slot.name!r} states no values: RFC 6749's {_CC!r} assumed"
            )
            side.guessed.add("client_credentials_grant")
        if value != _CC:
            d["client_credentials_grant"] = value
        if "refresh_token" in grant_values:
            d["refresh_grant"] = "refresh_token"
        if "authorization_code" in grant_values:
            d["authorization_code_grant"] = "authorization_code"
    else:
        d["grant_type_field"] = ""
        if body is not None or not op.synthesized:
            side.notes.append("no grant type field: none is sent")
    used = {grant_slot.name} if grant_slot is not None else set()

    # --- client credentials ----------------------------------------------------------------
    candidates = [s for s in slots if s.name not in used and s.location != "path"]
    secret = _best(candidates, names.CLIENT_SECRET, ("secret", "password"), 6, secret=True)
    id_slots = [s for s in candidates if s is not secret]
    client = _best(
        id_slots,
        names.CLIENT_ID,
        ("client id", "client identifier", "application id", "api key", "app id"),
        4,
    )
    if secret is not None and client is None:
        side.notes.append(f"{secret.name!r} carries the secret but no field names the client id")
    schemes = [s for alternative in op.security for s in alternative]
    basic = any(s.kind == "basic" for s in schemes)
    oauth_like = bool(op.synthesized) or op.token_url_hint or grant_slot is not None
    in_body = body is not None and secret is not None and secret.location == "body"
    if secret is not None and (secret.required or not basic):
        if secret.location == "query" or (secret.location == "body" and body is None):
            d["client_auth"] = "query"
            if client is not None and client.name != "client_id":
                d["client_id_query_param"] = client.name
        elif secret.location == "header":
            d["client_auth"] = "body"
            side.notes.append(f"the secret travels in the header {secret.name!r}; set extra_headers by hand")
            side.guessed.add("client_auth")
        else:
            d["client_auth"] = "body"
        if secret.name != "client_secret":
            d["client_secret_field"] = secret.name
        if client is not None and client.name != "client_id" and d["client_auth"] == "body":
            d["client_id_field"] = client.name
        where = "query parameters" if d["client_auth"] == "query" else "body fields"
        side.notes.append(
            f"client id and secret sent as {where} {client.name if client else 'client_id'!r} and {secret.name!r}"
            + (
                " (the secret's field is marked format: password)"
                if secret.schema.get("format") == "password"
                else ""
            )
        )
        used |= {secret.name} | ({client.name} if client else set())
    elif basic:
        if client is not None and client.location == "query":
            d["client_auth"] = "basic_and_query"
            if client.name != "client_id":
                d["client_id_query_param"] = client.name
            used.add(client.name)
            side.notes.append(
                f"HTTP Basic with the client id and secret, and the client id again in the query parameter {client.name!r}"
            )
        else:
            d["client_auth"] = "basic"
            side.notes.append("client id and secret sent with HTTP Basic (the operation's security scheme)")
        d["basic_auth_urlencode"] = False
        side.notes.append(
            "Basic credentials are sent as given (RFC 7617); set basic_auth_urlencode=True for a server "
            "that wants them form-encoded first (RFC 6749 2.3.1)"
        )
        if in_body:
            used.add(secret.name)
    elif client is not None:
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

    # --- scope, refresh, code ------------------------------------------------------------------
    scope = _best([s for s in slots if s.name not in used], names.SCOPE, (), 10)
    if scope is not None:
        used.add(scope.name)
        if scope.name != "scope":
            d["scope_field"] = scope.name
        text = scope.description.lower()
        if "comma" in text:
            d["scope_separator"] = ","
        if type_of(scope.schema) == "array":
            side.notes.append(
                f"the scope field {scope.name!r} is a list; scopes are sent as one space-separated text"
            )
    else:
        d["scope_field"] = ""
    for name, prop in every.items():
        key = names.norm(name)
        if names.REFRESH_TOKEN.get(key, 0) >= 10 and name != "refresh_token":
            d["refresh_token_field"] = name
        elif names.CODE.get(key, 0) >= 10 and name != "code":
            d["code_field"] = name
        elif names.REDIRECT_URI.get(key, 0) >= 9 and name != "redirect_uri":
            d["redirect_uri_field"] = name
    if d.get("authorization_code_grant"):
        code_variant = next(
            (props for props in all_variants if any(names.norm(p.name) in names.CODE for p in props)), []
        )
        verifier = next((p for p in code_variant if names.score(p.name, names.VERIFIER) >= 6), None)
        if verifier is None:
            # In a token request a "code_challenge" field can only carry the PKCE verifier.
            verifier = next((p for p in code_variant if names.norm(p.name) == "codechallenge"), None)
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

    # --- everything else the document requires -------------------------------------------------
    extra_fields: dict[str, Any] = {}
    extra_query: dict[str, str] = {}
    extra_headers: dict[str, str] = {}
    for slot in slots:
        if slot.name in used or not slot.required:
            continue
        target = {"body": extra_fields, "query": extra_query, "header": extra_headers}.get(slot.location)
        if target is None:
            side.notes.append(f"the path parameter {slot.name!r} must be filled into the token URL by hand")
            continue
        fixed = slot.values[0] if len(slot.values) == 1 else slot.schema.get("default")
        if fixed is not None:
            target[slot.name] = fixed if slot.location == "body" else str(fixed)
            side.notes.append(f"{slot.location} field {slot.name!r} sent with its fixed value {fixed!r}")
            continue
        if (client is not None and slot is client) or names.score(slot.name, names.CLIENT_ID) >= 10:
            target[slot.name] = "{client_id}"
            side.notes.append(f"{slot.location} field {slot.name!r} repeats the client id")
            continue
        need = Need(
            template_name(slot.name),
            slot.name,
            slot.location,
            type_of(slot.schema) or "string",
            slot.description,
        )
        target[slot.name] = "{" + need.name + "}"
        side.needs.append(need)
        side.notes.append(
            f"the document requires the {slot.location} field {slot.name!r}, which only you can fill: "
            f"the extra value {need.name!r}"
        )
    for scheme in schemes:
        if scheme.kind == "apikey" and scheme.location in ("header", "query") and scheme.param:
            need = Need(
                template_name(scheme.param), scheme.param, scheme.location, "string", scheme.description
            )
            (extra_headers if scheme.location == "header" else extra_query)[scheme.param] = (
                "{" + need.name + "}"
            )
            side.needs.append(need)
            side.notes.append(
                f"the security scheme {scheme.name!r} wants an API key in {scheme.param!r}: the extra value {need.name!r}"
            )
        elif scheme.kind == "bearer":
            side.notes.append(
                f"the security scheme {scheme.name!r} (a bearer token) is ignored: a token request has none yet"
            )
    if extra_fields:
        d["extra_fields"] = extra_fields
    if extra_query:
        d["extra_query"] = extra_query
    if extra_headers:
        d["extra_headers"] = extra_headers

    if body is None:
        in_query = any(s is not None and s.location == "query" for s in (grant_slot, scope)) or (
            d.get("client_auth") == "none" and client is not None and client.location == "query"
        )
        d["body_encoding"] = "query" if in_query else "none"
        if not in_query:
            side.notes.append("the document describes no request body: none is sent")
    elif "json" in body.content_type:
        d["body_encoding"] = "json"
    else:
        d["body_encoding"] = "form"
    return side
