"""Postman collections (v2.0/v2.1) to a ``Document``: each request an operation; an ``oauth2``
auth (collection, folder or request) an RFC 6749 token operation; a login request's test script
(``pm.environment.set("token", pm.response.json().data.token)``) says where the token is."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from .model import Answer, Body, Document, Operation, Param, Scheme, Server
from .oauth2 import rfc6749_operation
from .schema import norm

_VAR = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_SET = re.compile(
    r"(?:pm\.(?:environment|collectionVariables|globals|variables)\.set|postman\.set(?:Environment|Global)Variable)"
    r"\(\s*['\"]([^'\"]+)['\"]\s*,\s*([^;\n]+?)\)\s*;?\s*$"
)
_PARSED = re.compile(
    r"(?:var|let|const)\s+(\w+)\s*=\s*(?:pm\.response\.json\(\)|JSON\.parse\(\s*responseBody\s*\))"
)
_ACCESS = re.compile(r"\.(\w+)|\[\s*['\"]([^'\"]+)['\"]\s*\]|\[\s*(\d+)\s*\]")
_FLOWS = {"client_credentials": "clientCredentials", "authorization_code": "authorizationCode"}


def _pairs(value: Any) -> dict[str, Any]:
    """Postman's ``[{"key": k, "value": v}]`` lists (v2.1) and plain objects (v2.0) alike."""
    if isinstance(value, dict):
        return value
    out = {}
    for entry in value if isinstance(value, list) else []:
        if isinstance(entry, dict) and "key" in entry and not entry.get("disabled"):
            out[str(entry["key"])] = entry.get("value")
    return out


def read_postman(data: dict[str, Any], source: str) -> Document:
    info: dict[str, Any] = data["info"] if isinstance(data.get("info"), dict) else {}
    variables = {k: v for k, v in _pairs(data.get("variable")).items() if isinstance(v, str | int | float)}
    operations: list[Operation] = []
    notes: list[str] = []
    for item, auth in _requests(data.get("item"), data.get("auth")):
        op = _operation(item, auth, variables)
        if op is not None:
            operations.append(op)
        token_op = _oauth2_auth(auth, variables)
        if token_op is not None and all(o.path != token_op.path for o in operations):
            operations.append(token_op)
    top = _oauth2_auth(data.get("auth"), variables)
    if top is not None and all(o.path != top.path for o in operations):
        operations.append(top)
    schema = str(info.get("schema", ""))
    version = "v2.1" if "v2.1" in schema else "v2.0" if "v2.0" in schema else "v2"
    if any(v for v in variables.values()):
        notes.append("collection variables filled in: " + ", ".join(sorted(variables)))
    return Document(
        kind=f"Postman collection {version}",
        title=str(info.get("name") or ""),
        servers=(),
        operations=tuple(operations),
        notes=tuple(notes),
    )


def _requests(items: Any, auth: Any) -> list[tuple[dict[str, Any], Any]]:
    out: list[tuple[dict[str, Any], Any]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        inherited = item.get("auth") or auth
        if isinstance(item.get("item"), list):
            out += _requests(item["item"], inherited)
        elif isinstance(item.get("request"), dict | str):
            out.append(
                (item, (item["request"].get("auth") if isinstance(item["request"], dict) else None) or auth)
            )
    return out


def _fill(text: str, variables: dict[str, Any]) -> str:
    return _VAR.sub(
        lambda m: (
            str(variables[m.group(1)])
            if m.group(1) in variables and variables[m.group(1)] != ""
            else m.group(0)
        ),
        text,
    )


def _split_url(raw: str, variables: dict[str, Any]) -> tuple[tuple[Server, ...], str]:
    """(servers, path): ``{{baseUrl}}/auth/login`` with baseUrl unknown is a server variable
    without a default, so --server fills it."""
    url = _fill(raw.strip(), variables).split("?", 1)[0]
    if url.startswith(("http://", "https://")):
        parts = urlsplit(url)
        return (Server(f"{parts.scheme}://{parts.netloc}"),), parts.path or "/"
    match = re.match(r"^\{\{\s*([^{}]+?)\s*\}\}", url)
    if match:
        return (Server("{" + match.group(1) + "}", {match.group(1): None}),), url[match.end() :] or "/"
    return (), "/" + url.split("/", 1)[1] if "/" in url else "/"


def _field_schema(value: Any) -> dict[str, Any]:
    """A literal value is fixed; a ``{{variable}}`` is for the user (its name helps tell which)."""
    if isinstance(value, str) and _VAR.search(value):
        return {"type": "string", "description": " ".join(_VAR.findall(value))}
    if isinstance(value, bool | int | float | str) and value != "":
        return {"type": "string" if isinstance(value, str) else "number", "enum": [value]}
    return {}


def _body(body: Any) -> tuple[Body, ...]:
    if not isinstance(body, dict):
        return ()
    mode = body.get("mode")
    if mode in ("urlencoded", "formdata"):
        entries = [
            e for e in body.get(mode) or [] if isinstance(e, dict) and not e.get("disabled") and "key" in e
        ]
        schema = {
            "type": "object",
            "properties": {
                str(e["key"]): {
                    **_field_schema(e.get("value")),
                    "description": " ".join(_VAR.findall(str(e.get("value") or "")))
                    + " "
                    + str(e.get("description") or ""),
                }
                for e in entries
            },
            "required": [str(e["key"]) for e in entries],
        }
        return (Body("application/x-www-form-urlencoded", schema),)
    if mode == "raw":
        raw = str(body.get("raw") or "")
        bare = set(re.findall(r'(?<!")\{\{\s*([^{}]+?)\s*\}\}(?!")', raw))  # a number or true/false
        quoted = re.sub(r'(?<!")(\{\{\s*[^{}]+?\s*\}\})(?!")', r'"\1"', raw)
        try:
            parsed = json.loads(quoted)
        except ValueError:
            return ()
        if not isinstance(parsed, dict):
            return ()
        schema = {
            "type": "object",
            "properties": {
                str(k): {
                    **_field_schema(v),
                    **(
                        {"type": "number"}
                        if _VAR.findall(str(v)) and set(_VAR.findall(str(v))) & bare
                        else {}
                    ),
                }
                for k, v in parsed.items()
            },
            "required": list(map(str, parsed)),
        }
        return (Body("application/json", schema),)
    return ()


def _script_paths(item: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Where the test script takes the token (and its expiry, refresh token) from."""
    lines: list[str] = []
    for event in item.get("event") or []:
        if isinstance(event, dict) and event.get("listen") == "test":
            exec_ = (event.get("script") or {}).get("exec")
            lines += exec_ if isinstance(exec_, list) else str(exec_ or "").splitlines()
    parsed_names = {m.group(1) for line in lines for m in [_PARSED.search(line)] if m}
    hints: dict[str, list[str]] = {}
    for line in lines:
        match = _SET.search(line.strip())
        if not match:
            continue
        variable, expr = match.group(1), match.group(2).strip()
        expr = re.sub(r"^pm\.response\.json\(\)", "$", expr)
        expr = re.sub(r"^JSON\.parse\(\s*responseBody\s*\)", "$", expr)
        root = re.match(r"^(\$|\w+)", expr)
        if not root or (root.group(1) != "$" and root.group(1) not in parsed_names):
            continue
        path = ".".join(a or b or c for a, b, c in _ACCESS.findall(expr[root.end() :]))
        if not path:
            continue
        key = norm(variable)
        if "refresh" in key:
            kind = "refresh_token"
        elif any(w in key for w in ("expir", "ttl", "lifetime", "validuntil")):
            kind = (
                "expires_in"
                if any(w in key for w in ("in", "ttl", "lifetime")) and "at" not in key[-2:]
                else "expires_at"
            )
        elif "token" in key or "jwt" in key:
            kind = "access_token"
        else:
            continue
        hints.setdefault(kind, []).append(path)
    return {k: tuple(v) for k, v in hints.items()}


def _operation(item: dict[str, Any], auth: Any, variables: dict[str, Any]) -> Operation | None:
    request = item["request"]
    if isinstance(request, str):
        request = {"url": request, "method": "GET"}
    url = request.get("url")
    raw = url.get("raw") if isinstance(url, dict) else url
    if not isinstance(raw, str) or not raw:
        return None
    servers, path = _split_url(raw, variables)
    params = []
    query = _pairs(url.get("query")) if isinstance(url, dict) else {}
    for key, value in query.items():
        params.append(
            Param(key, "query", True, _field_schema(value), " ".join(_VAR.findall(str(value or ""))))
        )
    for key, value in _pairs(request.get("header")).items():
        params.append(
            Param(key, "header", True, _field_schema(value), " ".join(_VAR.findall(str(value or ""))))
        )
    security: tuple[tuple[Scheme, ...], ...] = ()
    if isinstance(auth, dict):
        kind = str(auth.get("type", "")).lower()
        if kind == "basic":
            security = ((Scheme("basic", "basic"),),)
        elif kind == "apikey":
            spec = _pairs(auth.get("apikey"))
            where = "query" if spec.get("in") == "query" else "header"
            security = ((Scheme("apikey", "apikey", param=str(spec.get("key") or ""), location=where),),)
    answers = []
    for saved in item.get("response") or []:
        if not isinstance(saved, dict):
            continue
        try:
            example = json.loads(saved.get("body") or "")
        except ValueError:
            continue
        answers.append(
            Answer(
                str(saved.get("code") or 200),
                str(saved.get("name") or ""),
                "application/json",
                None,
                (example,),
            )
        )
    return Operation(
        method=str(request.get("method") or "GET").upper(),
        path=path,
        servers=servers,
        params=tuple(params),
        bodies=_body(request.get("body")),
        security=security,
        answers=tuple(answers),
        text=" ".join(str(x) for x in (item.get("name"), request.get("description")) if isinstance(x, str)),
        response_hints=_script_paths(item),
    )


def _oauth2_auth(auth: Any, variables: dict[str, Any]) -> Operation | None:
    if not isinstance(auth, dict) or str(auth.get("type", "")).lower() != "oauth2":
        return None
    spec = _pairs(auth.get("oauth2"))
    raw = spec.get("accessTokenUrl")
    if not isinstance(raw, str) or not raw:
        return None
    grant = str(spec.get("grant_type") or "client_credentials")
    flow = _FLOWS.get(grant, "clientCredentials")
    servers, path = _split_url(raw, variables)
    url = _fill(raw, variables)
    absolute = url.startswith(("http://", "https://"))
    op = rfc6749_operation(
        url if absolute else path, [Scheme("postman oauth2", "oauth2", token_urls={flow: url})]
    )
    if spec.get("client_authentication") == "body":
        body = op.bodies[0]
        props = {
            **body.schema["properties"],
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
        }
        schema = {
            **body.schema,
            "properties": props,
            "required": ["grant_type", "client_id", "client_secret"],
        }
        op = replace(op, bodies=(replace(body, schema=schema),))
    return replace(
        op,
        path=url if absolute else path,
        servers=() if absolute else servers,
        synthesized="the collection's oauth2 auth",
        text=f"oauth2 token {spec.get('tokenName') or ''}".strip(),
    )
