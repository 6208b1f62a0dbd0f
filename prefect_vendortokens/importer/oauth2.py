"""An RFC 6749 token endpoint that a document names only in an ``oauth2`` security scheme's
``tokenUrl``: the operation it implies, so it is read like any documented one."""

from __future__ import annotations

from .model import Answer, Body, Document, Operation, Scheme

_SUCCESS = {
    "type": "object",
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string"},
        "expires_in": {"type": "integer", "description": "lifetime in seconds"},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
    },
}
_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
_GRANTS = {"clientCredentials": "client_credentials", "authorizationCode": "authorization_code"}


def rfc6749_operation(url: str, schemes: list[Scheme]) -> Operation:
    flows = [flow for s in schemes for flow, u in s.token_urls.items() if u == url]
    grants = [_GRANTS[f] for f in flows if f in _GRANTS]
    if "authorization_code" in grants:
        grants.append("refresh_token")
    body = {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": list(dict.fromkeys(grants)) or ["client_credentials"]},
            "scope": {"type": "string", "description": "space-delimited scopes"},
            **({"refresh_token": {"type": "string"}} if "refresh_token" in grants else {}),
            **(
                {"code": {}, "redirect_uri": {}, "code_verifier": {}}
                if "authorization_code" in grants
                else {}
            ),
        },
    }
    names = ", ".join(repr(s.name) for s in schemes)
    return Operation(
        method="POST",
        path=url,
        bodies=(Body("application/x-www-form-urlencoded", body),),
        answers=(
            Answer("200", "", "application/json", _SUCCESS),
            Answer("400", "", "application/json", _ERROR),
        ),
        text="oauth2 token",
        synthesized=f"the oauth2 security scheme {names}",
        token_url_hint=True,
    )


def oauth2_token_urls(doc: Document) -> dict[str, list[Scheme]]:
    """Every token URL an oauth2 scheme names (client credentials first), with its schemes."""
    urls: dict[str, list[Scheme]] = {}
    order = ("clientCredentials", "authorizationCode", "password")
    for scheme in doc.schemes.values():
        if scheme.kind != "oauth2":
            continue
        for flow in sorted(scheme.token_urls, key=lambda f: order.index(f) if f in order else 9):
            urls.setdefault(scheme.token_urls[flow], []).append(scheme)
    return urls
