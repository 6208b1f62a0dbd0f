"""The emulated vendors: each one's token endpoint, downstream endpoint and error dialect.

Every rule here follows ``shared/vendors`` (the vendors' documents and README). Handlers are
plain functions ``(sandbox, vendor, request) -> Reply`` so they can be read and tested without a
socket; ``sandbox.py`` owns the HTTP server and the shared state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlencode

from ..core.pkce import s256

JSON = "application/json"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def basic(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(value[6:].strip()).decode().partition(":")
        except ValueError:
            return None
        return user, password

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:].strip() if value.lower().startswith("bearer ") else None


@dataclass
class Reply:
    status: int
    body: Any = None  # dict/list -> JSON, bytes/str -> as is, None -> empty
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, dict | list):
            headers.setdefault("Content-Type", JSON)
            return json.dumps(self.body).encode(), headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/html; charset=utf-8")
            return self.body.encode(), headers
        return (self.body or b""), headers


@dataclass
class VendorState:
    spec: VendorSpec
    client_id: str
    client_secret: str
    lifetime: float
    token_requests: int = 0
    api_requests: int = 0
    faults: list[tuple[int, float | None]] = field(default_factory=list)
    api_faults: list[tuple[int, float | None]] = field(default_factory=list)
    delay: float = 0.0
    generation: int = 0  # bumped by revoke_all
    refresh_reuse: int = 0  # spent refresh tokens presented again outside the grace (grant revoked)
    refresh_reuse_in_grace: int = 0  # spent refresh tokens presented again inside the grace (accepted)
    refresh_reuse_grace: float = 0.0  # seconds a spent refresh token is still accepted (0: never)
    grants_revoked: int = 0  # grants revoked because a spent refresh token came back

    @property
    def name(self) -> str:
        return self.spec.name

    def error(self, status: int, code: str, message: str) -> Reply:
        return self.spec.error(status, code, message)


class Ledger(Protocol):
    """What the vendor rules need of the sandbox: its book of issued tokens, codes and refresh
    tokens (``VendorSandbox`` keeps it)."""

    def issue(
        self,
        v: VendorState,
        scope: str | None,
        id_token: bool = False,
        force_refresh: bool = False,
        grant: str | None = None,
    ) -> dict[str, Any]: ...
    def new_code(
        self, v: VendorState, *, redirect_uri: str, scope: str | None, challenge: str | None
    ) -> str: ...
    def take_code(self, v: VendorState, code: str) -> dict[str, Any] | None: ...
    def spend_refresh(self, v: VendorState, token: str) -> dict[str, Any] | None: ...


def make_jwt(claims: dict[str, Any], key: bytes) -> str:
    """An HS256 JWT, so JWT-issuing vendors hand out real JWTs with real claims."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


# --- vendor error bodies ----------------------------------------------------------------
def _sqod_error(status: int, code: str, message: str) -> Reply:
    return Reply(status)  # SQOD documents a bare 401 with no body


def _cobee_error(status: int, code: str, message: str) -> Reply:
    if status == 429:
        return Reply(
            429,
            {
                "error": "Too Many Requests",
                "error_description": f"Rate limit exceeded, retry in {message} seconds",
            },
        )
    if status == 400:
        return Reply(400, {"code": code, "message": message})
    return Reply(status, {"error": status, "message": message})


def _slashid_error(status: int, code: str, message: str) -> Reply:
    return Reply(
        status,
        {
            "meta": {"pagination": {"limit": 0, "offset": 0, "total_count": 0}},
            "errors": [{"httpcode": status, "message": message}],
        },
    )


def _sqr_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": code, "error_description": message})


def _resales_error(status: int, code: str, message: str) -> Reply:
    body = {"error": code, "message": message}
    if code == "invalid_request":
        body["hint"] = "Check the `client_id` parameter"
    return Reply(status, body)


def _oauth2_error(status: int, code: str, message: str) -> Reply:
    headers = {"WWW-Authenticate": 'Basic realm="token"'} if status == 401 else {}
    return Reply(status, {"error": code, "error_description": message}, headers)


# --- token endpoints --------------------------------------------------------------------
def sqod_token(sb: Ledger, v: VendorState, req: Request) -> Reply:
    # Basic ID:SECRET plus ?clientid=ID; form body grant_type=client_credentials (the OpenAPI page
    # documents no body, so an empty body is accepted too).
    basic = req.basic()
    if basic is None or req.query.get("clientid") != basic[0] or basic != (v.client_id, v.client_secret):
        return v.error(401, "unauthorized", "Unauthorized")
    form_ok = (
        req.content_type == "application/x-www-form-urlencoded"
        and req.form().get("grant_type") == "client_credentials"
    )
    if req.body.strip() and not form_ok:
        return v.error(401, "unauthorized", "Unauthorized")
    return Reply(200, sb.issue(v, scope=None))


def cobee_token(sb: Ledger, v: VendorState, req: Request) -> Reply:
    body = req.json() if req.content_type == JSON else None
    if not isinstance(body, dict):
        return v.error(400, "validation_error", "body: must be object")
    for name in ("clientId", "clientSecret"):
        if name not in body:
            return v.error(400, "validation_error", f"body: must have required property '{name}'")
    if body["clientId"] != v.client_id or body["clientSecret"] != v.client_secret:
        return v.error(401, "unauthorized", "Unauthorized")
    issued = sb.issue(v, scope=None)
    return Reply(
        200, {"accessToken": issued["access_token"], "tokenType": "Bearer", "expiresIn": issued["expires_in"]}
    )


def slashid_token(sb: Ledger, v: VendorState, req: Request) -> Reply:
    if req.content_type != "application/x-www-form-urlencoded":
        return v.error(400, "invalid_request", "request body must be application/x-www-form-urlencoded")
    form = req.form()
    if req.basic() != (v.client_id, v.client_secret):
        return v.error(403, "forbidden", "invalid client credentials")
    grant = form.get("grant_type")
    if grant == "client_credentials":
        return Reply(200, sb.issue(v, scope=form.get("scope") or None))
    if grant == "authorization_code":
        for name in ("code", "redirect_uri", "client_id"):
            if not form.get(name):
                return v.error(400, "invalid_request", f"missing {name}")
        # SlashID's spec carries the PKCE *verifier* in a field named code_challenge.
        return _redeem_code(sb, v, form, verifier=form.get("code_challenge"))
    if grant == "refresh_token":
        return _redeem_refresh(sb, v, form)
    return v.error(400, "unsupported_grant_type", f"unsupported grant_type {grant!r}")


def sqr_token(sb: Ledger, v: VendorState, req: Request) -> Reply:
    body = req.json() if req.content_type == JSON else None
    if not isinstance(body, dict):
        return v.error(400, "invalid_request", "the body must be JSON")
    if body.get("grant_type") != "client_credentials":
        return v.error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    if not body.get("client_id") or not body.get("client_secret"):
        return v.error(400, "invalid_request", "client_id and client_secret are required")
    if body["client_id"] != v.client_id or body["client_secret"] != v.client_secret:
        return v.error(401, "invalid_client", "Client authentication failed")
    return Reply(200, sb.issue(v, scope="read:users write:logs"))


def resales_token(sb: Ledger, v: VendorState, req: Request) -> Reply:
    if req.content_type == JSON:  # the one call of that API that must not be JSON
        return v.error(
            400,
            "invalid_request",
            "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.",
        )
    form = req.form()
    client_id = form.get("client_id", "")
    if (
        form.get("grant_type") != "client_credentials"
        or not client_id.isdigit()
        or not form.get("client_secret")
    ):
        return v.error(
            400,
            "invalid_request",
            "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.",
        )
    if client_id != v.client_id or form["client_secret"] != v.client_secret:
        return v.error(401, "invalid_client", "Client authentication failed")
    issued = sb.issue(v, scope=None)
    return Reply(
        200,
        {"token_type": "Bearer", "expires_in": issued["expires_in"], "access_token": issued["access_token"]},
    )


def oauth2_token(sb: Ledger, v: VendorState, req: Request) -> Reply:
    """RFC 6749: client_secret_basic or client_secret_post; three grants; PKCE."""
    if req.content_type != "application/x-www-form-urlencoded":
        return v.error(400, "invalid_request", "form body required")
    form = req.form()
    basic = req.basic()
    if basic is not None:
        creds = (unquote(basic[0]), unquote(basic[1]))
    else:
        creds = (form.get("client_id", ""), form.get("client_secret", ""))
    if creds != (v.client_id, v.client_secret):
        return v.error(401, "invalid_client", "client authentication failed")
    grant = form.get("grant_type")
    if grant == "client_credentials":
        return Reply(200, sb.issue(v, scope=form.get("scope") or None))
    if grant == "authorization_code":
        return _redeem_code(sb, v, form, verifier=form.get("code_verifier"))
    if grant == "refresh_token":
        return _redeem_refresh(sb, v, form)
    return v.error(400, "unsupported_grant_type", f"unsupported grant_type {grant!r}")


def _redeem_code(sb: Ledger, v: VendorState, form: dict[str, str], verifier: str | None) -> Reply:
    grant = sb.take_code(v, form.get("code", ""))
    if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
        return v.error(400, "invalid_grant", "authorization code is invalid, expired or used")
    if grant["challenge"] is not None and (verifier is None or s256(verifier) != grant["challenge"]):
        return v.error(400, "invalid_grant", "PKCE verification failed")
    return Reply(200, sb.issue(v, scope=grant["scope"], id_token=True))


def _redeem_refresh(sb: Ledger, v: VendorState, form: dict[str, str]) -> Reply:
    old = sb.spend_refresh(v, form.get("refresh_token", ""))
    if old is None:
        return v.error(400, "invalid_grant", "refresh token is invalid, expired or already used")
    scope = form.get("scope") or old["scope"]
    return Reply(200, sb.issue(v, scope=scope, id_token=True, force_refresh=True, grant=old["grant"]))


def authorize(sb: Ledger, v: VendorState, req: Request) -> Reply:
    """Auto-consent authorize endpoint: redirects at once with a code bound to the challenge."""
    q = req.query
    if q.get("response_type") != "code" or q.get("client_id") != v.client_id or not q.get("redirect_uri"):
        return v.error(400, "invalid_request", "bad authorization request")
    if q.get("code_challenge") and q.get("code_challenge_method", "plain") != "S256":
        return v.error(400, "invalid_request", "only S256 PKCE is supported")
    code = sb.new_code(
        v, redirect_uri=q["redirect_uri"], scope=q.get("scope"), challenge=q.get("code_challenge")
    )
    params = {"code": code, **({"state": q["state"]} if "state" in q else {})}
    sep = "&" if "?" in q["redirect_uri"] else "?"
    return Reply(302, b"", {"Location": f"{q['redirect_uri']}{sep}{urlencode(params)}"})


# --- downstream endpoints ---------------------------------------------------------------
def sqod_appointments(sb: Ledger, v: VendorState, req: Request, token: dict[str, Any]) -> Reply:
    if req.method == "POST":
        item = req.json() if isinstance(req.json(), dict) else {}
        return Reply(201, {"data": {"id": secrets.randbelow(10**6), **item}})
    page, per_page = int(req.query.get("page", "1") or 1), int(req.query.get("per_page", "10") or 10)
    rows = [{"id": i, "title": f"Appointment {i}"} for i in range(1, 24)]
    start = (page - 1) * per_page
    return Reply(
        200,
        {
            "data": rows[start : start + per_page],
            "meta": {"page": page, "per_page": per_page, "total": len(rows)},
        },
    )


def cobee_employees(
    sb: Ledger, v: VendorState, req: Request, token: dict[str, Any], company_id: str
) -> Reply:
    if token["claims"].get("https://auth.cobee.io/metadata", {}).get("companyId") != company_id:
        return Reply(403, {"error": 403, "message": "Forbidden"})
    return Reply(200, {"employees": [{"id": f"emp-{i}", "companyId": company_id} for i in range(3)]})


def slashid_userinfo(sb: Ledger, v: VendorState, req: Request, token: dict[str, Any]) -> Reply:
    if "openid" not in (token["scope"] or "").split():
        return _slashid_error(403, "forbidden", "scope openid required")
    return Reply(200, {"sub": f"user-{v.client_id}", "email": "person@example.test"})


def sqr_user_status(sb: Ledger, v: VendorState, req: Request, token: dict[str, Any]) -> Reply:
    body = req.json()
    if req.content_type != JSON or not isinstance(body, dict):
        return Reply(400, {"error": "invalid_request"})
    page = body.get("pagination") or {}
    limit, offset = int(page.get("limit", 10)), int(page.get("offset", 0))
    total = 25
    rows = [{"user_id": f"u{i}", "status": "active"} for i in range(offset, min(offset + limit, total))]
    return Reply(200, {"pagination": {"limit": limit, "offset": offset, "total": total}, "results": rows})


def resales_update_unit(
    sb: Ledger, v: VendorState, req: Request, token: dict[str, Any], development_id: str
) -> Reply:
    if req.content_type != JSON:
        return Reply(422, {"error": "validation_error", "message": "Content-Type must be application/json"})
    body = req.json()
    if not isinstance(body, dict) or "UntName" not in body:
        return Reply(422, {"error": "validation_error", "message": "UntName is required"})
    return Reply(200, {"success": True, "development_id": int(development_id), "unit": body["UntName"]})


def oauth2_resource(sb: Ledger, v: VendorState, req: Request, token: dict[str, Any]) -> Reply:
    return Reply(200, {"ok": True, "scope": token["scope"]})


@dataclass(frozen=True)
class VendorSpec:
    name: str
    prefix: str  # URL prefix of this vendor on the sandbox
    token_paths: tuple[str, ...]  # first is the documented one
    api_base: str  # what api_url() returns, relative to the prefix
    client_id: Callable[[Callable[[int], str]], str]  # from a hex(n) source: random, or seeded
    lifetime: float
    jwt: bool
    error: Callable[[int, str, str], Reply]
    token: Callable[..., Reply]
    api: tuple[tuple[str, str, Callable[..., Reply]], ...]  # (method, path regex, handler)
    authorize_path: str | None = None
    refresh_lifetime: float = 864000.0
    unauthorized: Reply = field(default_factory=lambda: Reply(401, {"error": "unauthorized"}))
    wrong_method: Reply = field(default_factory=lambda: Reply(405, {"error": "method_not_allowed"}))
    token_type: str = "Bearer"  # as the vendor spells it in token answers
    extra_claims: Callable[[str], dict[str, Any]] = lambda client_id: {}
    rate_limit_headers: bool = False  # x-ratelimit-* headers beside Retry-After on a 429


def _uuid_like(hexes: Callable[[int], str]) -> str:
    raw = hexes(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


SPECS: dict[str, VendorSpec] = {
    s.name: s
    for s in (
        VendorSpec(
            "sqod",
            "/sqod",
            ("/oauth2/token",),
            "",
            lambda hexes: "sqod-" + hexes(6),
            3600,
            False,
            _sqod_error,
            sqod_token,
            (
                ("GET", r"/api/v1/appointments", sqod_appointments),
                ("POST", r"/api/v1/appointments", sqod_appointments),
            ),
            unauthorized=Reply(401, {"message": "Unauthenticated."}),
        ),
        VendorSpec(
            "cobee",
            "/cobee",
            ("/api/v3/oauth/token",),
            "/api/v3",
            _uuid_like,
            86400,
            True,
            _cobee_error,
            cobee_token,
            (("GET", r"/api/v3/companies/(?P<company_id>[^/]+)/employees", cobee_employees),),
            unauthorized=Reply(401, {"error": 401, "message": "Unauthorized"}),
            # the access token's claim carries the company id the employees endpoint needs
            extra_claims=lambda client_id: {
                "https://auth.cobee.io/metadata": {"companyId": f"company-{client_id[:8]}"}
            },
            rate_limit_headers=True,
        ),
        VendorSpec(
            "slashid",
            "/slashid",
            ("/oauth2/tokens",),
            "",
            _uuid_like,
            86400,
            False,
            _slashid_error,
            slashid_token,
            (("GET", r"/oauth2/userinfo", slashid_userinfo),),
            authorize_path="/oauth2/authorize",
            unauthorized=_slashid_error(401, "unauthorized", "invalid or expired token"),
            token_type="bearer",  # SlashID's spec: token_type is lower-case "bearer"
        ),
        VendorSpec(
            "sqr",
            "/sqr",
            ("/v1/oauth/token", "/oauth2/token"),
            "",
            _uuid_like,
            3600,
            True,
            _sqr_error,
            sqr_token,
            (("POST", r"/v1/user-status", sqr_user_status),),
        ),
        VendorSpec(
            "resales_online",
            "/resales",
            ("/oauth/token",),
            "",
            lambda hexes: str(10000 + int(hexes(4), 16) % 89999),
            7200,
            True,
            _resales_error,
            resales_token,
            (
                (
                    "POST",
                    r"/v1/developments/(?P<development_id>\d+)/units/update-by-name",
                    resales_update_unit,
                ),
            ),
            unauthorized=Reply(401, {"error": "unauthorized", "message": "Unauthenticated."}),
            wrong_method=Reply(419, {"error": "method_not_allowed", "message": "Wrong HTTP method"}),
        ),
        VendorSpec(
            "oauth2",
            "/oauth2",
            ("/token",),
            "",
            lambda hexes: "oauth2-" + hexes(6),
            3600,
            False,
            _oauth2_error,
            oauth2_token,
            (("GET", r"/resource", oauth2_resource),),
            authorize_path="/authorize",
        ),
    )
}

VENDORS: tuple[str, ...] = tuple(SPECS)


def compile_api(spec: VendorSpec) -> list[tuple[str, re.Pattern[str], Callable[..., Reply]]]:
    return [(m, re.compile(re.escape(spec.prefix) + p + "$"), h) for m, p, h in spec.api]


def now() -> float:
    return time.time()
