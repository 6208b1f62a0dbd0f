"""OpenAPI 3.0/3.1 and Swagger 2.0 documents (``$ref``s already resolved) to a ``Document``."""

from __future__ import annotations

from typing import Any

from .errors import SpecUnreadableError
from .model import Answer, Body, Document, Operation, Param, Scheme, Server

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FORM = "application/x-www-form-urlencoded"
_OAUTH2_FLOWS = {  # Swagger 2.0 flow names -> OpenAPI 3's
    "application": "clientCredentials",
    "accessCode": "authorizationCode",
    "password": "password",
    "implicit": "implicit",
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(*parts: Any) -> str:
    return " ".join(str(p) for p in parts if isinstance(p, str | int) and str(p))


def read_openapi(data: dict[str, Any], source: str) -> Document:
    """Every operation of an OpenAPI 3 or Swagger 2.0 document, normalized."""
    swagger = "swagger" in data
    paths = data.get("paths", {})
    if paths is None:
        paths = {}
    if not isinstance(paths, dict):
        raise SpecUnreadableError(f"{source}: 'paths' is a {type(paths).__name__}, not an object")
    info = _dict(data.get("info"))
    title = str(info.get("title") or "")
    if swagger:
        schemes = _swagger_schemes(_dict(data.get("securityDefinitions")))
        servers = _swagger_servers(data)
        kind = "Swagger 2.0"
    else:
        schemes = _openapi_schemes(_dict(_dict(data.get("components")).get("securitySchemes")))
        servers = _servers(data.get("servers"))
        kind = f"OpenAPI {data.get('openapi')}"
    root_security = data.get("security")
    operations: list[Operation] = []
    for path, item in paths.items():
        if not isinstance(item, dict) or not str(path).startswith("/"):
            continue
        shared = _list(item.get("parameters"))
        item_servers = _servers(item.get("servers")) or servers
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = _merge_params(shared, _list(op.get("parameters")))
            security = op.get("security", root_security)
            common: dict[str, Any] = {
                "method": method.upper(),
                "path": str(path),
                "security": _security(security, schemes),
                "deprecated": op.get("deprecated") is True,
                "text": _text(
                    op.get("operationId"), op.get("summary"), op.get("description"), *_list(op.get("tags"))
                ),
            }
            if swagger:
                consumes = _list(op.get("consumes")) or _list(data.get("consumes")) or ["application/json"]
                produces = _list(op.get("produces")) or _list(data.get("produces"))
                bodies, plain = _swagger_bodies(params, consumes)
                operations.append(
                    Operation(
                        servers=servers,
                        params=tuple(_swagger_param(p) for p in plain),
                        bodies=bodies,
                        answers=_swagger_answers(_dict(op.get("responses")), produces),
                        **common,
                    )
                )
            else:
                operations.append(
                    Operation(
                        servers=_servers(op.get("servers")) or item_servers,
                        params=tuple(_param(p) for p in params),
                        bodies=_bodies(_dict(op.get("requestBody"))),
                        answers=_answers(_dict(op.get("responses"))),
                        **common,
                    )
                )
    return Document(kind=kind, title=title, servers=servers, operations=tuple(operations), schemes=schemes)


# --- servers ---------------------------------------------------------------------------
def _servers(value: Any) -> tuple[Server, ...]:
    out = []
    for server in _list(value):
        if isinstance(server, dict) and isinstance(server.get("url"), str):
            variables = {
                str(k): (None if _dict(v).get("default") in (None, "") else str(_dict(v)["default"]))
                for k, v in _dict(server.get("variables")).items()
            }
            out.append(Server(server["url"], variables))
    return tuple(out)


def _swagger_servers(data: dict[str, Any]) -> tuple[Server, ...]:
    base = str(data.get("basePath") or "")
    if base and not base.startswith("/"):
        base = "/" + base
    host = data.get("host")
    if not isinstance(host, str) or not host:
        return (Server(base),) if base else ()
    schemes = [s for s in _list(data.get("schemes")) if s in ("https", "http")] or ["https"]
    ordered = sorted(schemes, key=lambda s: s != "https")
    return tuple(Server(f"{s}://{host}{base.rstrip('/')}") for s in ordered)


# --- security --------------------------------------------------------------------------
def _openapi_schemes(raw: dict[str, Any]) -> dict[str, Scheme]:
    schemes = {}
    for name, s in raw.items():
        s = _dict(s)
        kind = str(s.get("type", "")).lower()
        description = str(s.get("description") or "")
        if kind == "http":
            scheme = str(s.get("scheme", "")).lower()
            schemes[name] = Scheme(
                name, scheme if scheme in ("basic", "bearer") else "other", description=description
            )
        elif kind == "apikey":
            schemes[name] = Scheme(
                name,
                "apikey",
                param=str(s.get("name", "")),
                location=str(s.get("in", "")),
                description=description,
            )
        elif kind == "oauth2":
            urls, scopes = {}, []
            for flow, spec in _dict(s.get("flows")).items():
                spec = _dict(spec)
                if isinstance(spec.get("tokenUrl"), str):
                    urls[flow] = spec["tokenUrl"]
                scopes += [str(k) for k in _dict(spec.get("scopes"))]
            schemes[name] = Scheme(
                name, "oauth2", token_urls=urls, scopes=tuple(dict.fromkeys(scopes)), description=description
            )
        elif kind == "openidconnect":
            schemes[name] = Scheme(name, "openid", description=description)
        else:
            schemes[name] = Scheme(name, "other", description=description)
    return schemes


def _swagger_schemes(raw: dict[str, Any]) -> dict[str, Scheme]:
    schemes = {}
    for name, s in raw.items():
        s = _dict(s)
        kind = str(s.get("type", "")).lower()
        description = str(s.get("description") or "")
        if kind == "basic":
            schemes[name] = Scheme(name, "basic", description=description)
        elif kind == "apikey":
            schemes[name] = Scheme(
                name,
                "apikey",
                param=str(s.get("name", "")),
                location=str(s.get("in", "")),
                description=description,
            )
        elif kind == "oauth2":
            flow = _OAUTH2_FLOWS.get(str(s.get("flow")), str(s.get("flow")))
            urls = {flow: s["tokenUrl"]} if isinstance(s.get("tokenUrl"), str) else {}
            scopes = tuple(str(k) for k in _dict(s.get("scopes")))
            schemes[name] = Scheme(name, "oauth2", token_urls=urls, scopes=scopes, description=description)
        else:
            schemes[name] = Scheme(name, "other", description=description)
    return schemes


def _security(value: Any, schemes: dict[str, Scheme]) -> tuple[tuple[Scheme, ...], ...]:
    out = []
    for requirement in _list(value):
        if isinstance(requirement, dict):
            out.append(tuple(schemes[n] for n in requirement if n in schemes))
    return tuple(out)


# --- parameters and bodies -------------------------------------------------------------
def _merge_params(shared: list[Any], own: list[Any]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for p in [*shared, *own]:
        if isinstance(p, dict) and "name" in p:
            merged[(str(p["name"]), str(p.get("in", "")))] = p
    return list(merged.values())


def _param(p: dict[str, Any]) -> Param:
    return Param(
        name=str(p["name"]),
        location=str(p.get("in", "query")),
        required=bool(p.get("required")) or p.get("in") == "path",
        schema=_dict(p.get("schema")),
        description=str(p.get("description") or ""),
        example=p.get("example"),
    )


def _swagger_param(p: dict[str, Any]) -> Param:
    schema = {k: v for k, v in p.items() if k not in ("name", "in", "required", "description")}
    return Param(
        name=str(p["name"]),
        location=str(p.get("in", "query")),
        required=bool(p.get("required")) or p.get("in") == "path",
        schema=schema,
        description=str(p.get("description") or ""),
        example=p.get("x-example"),
    )


def _bodies(request_body: dict[str, Any]) -> tuple[Body, ...]:
    out = []
    for content_type, media in _dict(request_body.get("content")).items():
        media = _dict(media)
        out.append(Body(str(content_type).lower(), _dict(media.get("schema")), _first_example(media)))
    return tuple(out)


def _swagger_bodies(
    params: list[dict[str, Any]], consumes: list[Any]
) -> tuple[tuple[Body, ...], list[dict[str, Any]]]:
    body = [p for p in params if p.get("in") == "body"]
    form = [p for p in params if p.get("in") == "formData"]
    plain = [p for p in params if p.get("in") not in ("body", "formData")]
    types = [str(c).lower() for c in consumes]
    if body:
        schema = _dict(body[0].get("schema"))
        return tuple(Body(t, schema) for t in types if "form" not in t) or (
            Body("application/json", schema),
        ), plain
    if form:
        schema = {
            "type": "object",
            "properties": {
                str(p["name"]): {
                    **{k: v for k, v in p.items() if k not in ("name", "in", "required")},
                    **({"example": p["x-example"]} if "x-example" in p else {}),
                }
                for p in form
            },
            "required": [str(p["name"]) for p in form if p.get("required")],
        }
        form_types = [t for t in types if "form" in t] or [FORM]
        return tuple(Body(t, schema) for t in form_types), plain
    return (), plain


# --- answers ---------------------------------------------------------------------------
def _json_media(content: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    for content_type, media in content.items():
        ct = str(content_type).lower()
        if "json" in ct or ct in ("*/*", "application/*"):
            return ct, _dict(media)
    return None


def _first_example(media: dict[str, Any]) -> Any:
    if "example" in media:
        return media["example"]
    for example in _dict(media.get("examples")).values():
        if isinstance(example, dict) and "value" in example:
            return example["value"]
    return None


def _examples(media: dict[str, Any]) -> tuple[Any, ...]:
    found = []
    if "example" in media:
        found.append(media["example"])
    for example in _dict(media.get("examples")).values():
        if isinstance(example, dict) and "value" in example:
            found.append(example["value"])
    return tuple(found)


def _answers(responses: dict[str, Any]) -> tuple[Answer, ...]:
    out = []
    for status, response in responses.items():
        response = _dict(response)
        media = _json_media(_dict(response.get("content")))
        description = str(response.get("description") or "")
        if media is None:
            out.append(Answer(str(status).upper(), description))
            continue
        content_type, body = media
        schema = body.get("schema")
        out.append(
            Answer(
                str(status).upper(),
                description,
                content_type,
                schema if isinstance(schema, dict) else None,
                _examples(body),
            )
        )
    return tuple(out)


def _swagger_answers(responses: dict[str, Any], produces: list[Any]) -> tuple[Answer, ...]:
    out = []
    for status, response in responses.items():
        response = _dict(response)
        schema = response.get("schema")
        examples = tuple(v for k, v in _dict(response.get("examples")).items() if "json" in str(k).lower())
        content_type = next((str(p) for p in produces if "json" in str(p).lower()), "application/json")
        out.append(
            Answer(
                str(status).upper(),
                str(response.get("description") or ""),
                content_type if schema or examples else "",
                schema if isinstance(schema, dict) else None,
                examples,
            )
        )
    return tuple(out)
