"""``vendor_sandbox()``: a real HTTP server on 127.0.0.1 emulating the five vendors and OAuth2.

Shared state (issued tokens, counters, injected faults) lives on ``VendorSandbox``; the vendor
rules live in ``vendors.py``. A ``ThreadingHTTPServer`` keeps it dependency-free and lets slow
(delayed) answers overlap, as a real vendor's would.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .control import CONTROL_PREFIX, control
from .vendors import SPECS, VENDORS, Reply, Request, VendorState, authorize, compile_api, make_jwt


@dataclass(frozen=True)
class SandboxCredentials:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"SandboxCredentials(client_id={self.client_id!r})"


class VendorSandbox:
    """The running emulation. Thread-safe; every control takes effect on the next request."""

    def __init__(self, seed: str | None = None) -> None:
        """``seed`` makes the credentials (and the signing key) stable across restarts, so blocks
        saved against a sandbox service keep working; without it every start draws new ones."""
        self._lock = threading.Lock()
        self.seed = seed
        self._key = _seeded(seed, "signing-key", 32) if seed else secrets.token_bytes(32)
        self._vendors: dict[str, VendorState] = {}
        for name, spec in SPECS.items():
            hexes = _hex_source(seed, name)
            self._vendors[name] = VendorState(
                spec=spec,
                client_id=spec.client_id(hexes),
                client_secret=f"{name}-secret-{_urlsafe(hexes(24))}",
                lifetime=spec.lifetime,
            )
        self._tokens: dict[str, dict[str, Any]] = {}
        self._refresh: dict[str, dict[str, Any]] = {}
        self._codes: dict[str, dict[str, Any]] = {}
        self._revoked: set[str] = set()  # grants revoked after a refresh token reuse
        self._routes = {name: compile_api(spec) for name, spec in SPECS.items()}
        self._server: ThreadingHTTPServer | None = None
        self.base_url = ""

    # --- addresses and credentials ------------------------------------------------------
    def _state(self, vendor: str) -> VendorState:
        try:
            return self._vendors[vendor]
        except KeyError:
            raise ValueError(f"unknown sandbox vendor {vendor!r}; known: {', '.join(VENDORS)}") from None

    def token_url(self, vendor: str) -> str:
        spec = self._state(vendor).spec
        return self.base_url + spec.prefix + spec.token_paths[0]

    def token_urls(self, vendor: str) -> list[str]:
        """Every path the vendor's token endpoint answers on (SQR documents two)."""
        spec = self._state(vendor).spec
        return [self.base_url + spec.prefix + p for p in spec.token_paths]

    def api_url(self, vendor: str) -> str:
        spec = self._state(vendor).spec
        return self.base_url + spec.prefix + spec.api_base

    def authorize_url(self, vendor: str) -> str:
        spec = self._state(vendor).spec
        if spec.authorize_path is None:
            raise ValueError(f"vendor {vendor!r} has no authorization-code grant")
        return self.base_url + spec.prefix + spec.authorize_path

    def credentials(self, vendor: str) -> SandboxCredentials:
        state = self._state(vendor)
        return SandboxCredentials(state.client_id, state.client_secret)

    # --- counters and controls ----------------------------------------------------------
    def token_requests(self, vendor: str) -> int:
        return self._state(vendor).token_requests

    def api_requests(self, vendor: str) -> int:
        return self._state(vendor).api_requests

    def refresh_reuse(self, vendor: str) -> int:
        """How often a spent (rotated) refresh token was presented again outside the reuse grace
        (each time the whole grant is revoked)."""
        return self._state(vendor).refresh_reuse

    def refresh_reuse_in_grace(self, vendor: str) -> int:
        """How often a spent refresh token was presented again inside the reuse grace (accepted)."""
        return self._state(vendor).refresh_reuse_in_grace

    def set_refresh_reuse_grace(self, seconds: float, vendor: str | None = None) -> None:
        """Accept a spent refresh token again for ``seconds`` after its first use (Okta's, Auth0's
        and WSO2's reuse interval); 0, the default, revokes the whole grant on any reuse, as
        oidc-provider does."""
        for state in self._pick(vendor):
            state.refresh_reuse_grace = seconds

    def refresh_token_spent(self, vendor: str, refresh_token: str) -> bool:
        """True once ``refresh_token`` was used (rotated into a new one)."""
        with self._lock:
            entry = self._refresh.get(refresh_token)
            return entry is not None and entry["vendor"] == vendor and entry["spent"] is not None

    def grant_alive(self, vendor: str, refresh_token: str) -> bool:
        """True while the grant ``refresh_token`` belongs to is not revoked (whether or not that
        refresh token was spent)."""
        with self._lock:
            entry = self._refresh.get(refresh_token)
            return entry is not None and entry["vendor"] == vendor and entry["grant"] not in self._revoked

    def reset_counters(self) -> None:
        with self._lock:
            for state in self._vendors.values():
                state.token_requests = state.api_requests = 0

    def set_token_lifetime(self, seconds: float, vendor: str | None = None) -> None:
        """Lifetime of tokens issued from now on (all vendors when ``vendor`` is None)."""
        for state in self._pick(vendor):
            state.lifetime = seconds

    def revoke_all(self, vendor: str | None = None) -> None:
        """Every token issued so far stops working at the downstream endpoints."""
        with self._lock:
            for state in self._pick(vendor):
                state.generation += 1

    def fail_next(self, vendor: str, n: int = 1, status: int = 503, retry_after: float | None = None) -> None:
        """The next ``n`` token requests of ``vendor`` get ``status`` in the vendor's own error form."""
        with self._lock:
            self._state(vendor).faults.extend([(status, retry_after)] * n)

    def fail_next_api(
        self, vendor: str, n: int = 1, status: int = 503, retry_after: float | None = None
    ) -> None:
        """The next ``n`` downstream API calls of ``vendor`` get ``status`` (429 with Retry-After)."""
        with self._lock:
            self._state(vendor).api_faults.extend([(status, retry_after)] * n)

    def set_delay(self, seconds: float, vendor: str | None = None) -> None:
        """Delay every token response (of one vendor, or all) by ``seconds``."""
        for state in self._pick(vendor):
            state.delay = seconds

    def rotate_secret(self, vendor: str) -> str:
        """Give the vendor account a new client secret (the old one stops working)."""
        state = self._state(vendor)
        state.client_secret = f"{vendor}-secret-{secrets.token_urlsafe(24)}"
        return state.client_secret

    def issued_secrets(self) -> list[str]:
        """Every client secret, access token and refresh token this sandbox ever handed out."""
        with self._lock:
            return [
                *(s.client_secret for s in self._vendors.values()),
                *self._tokens,
                *self._refresh,
            ]

    def counts(self) -> dict[str, dict[str, int]]:
        """Every vendor's counters (what the control endpoint ``GET /_control/counts`` answers)."""
        return {
            name: {
                "token_requests": state.token_requests,
                "api_requests": state.api_requests,
                "refresh_reuse": state.refresh_reuse,
                "refresh_reuse_in_grace": state.refresh_reuse_in_grace,
                "grants_revoked": state.grants_revoked,
            }
            for name, state in self._vendors.items()
        }

    def env(self) -> dict[str, str]:
        """``VENDORTOKENS_<VENDOR>_*`` values for ``prefect-vendortokens save-blocks``: client id,
        secret, token URL and API base URL of every vendor, and the sandbox URL."""
        values = {"VENDORTOKENS_SANDBOX_URL": self.base_url}
        for name, state in self._vendors.items():
            prefix = f"VENDORTOKENS_{name.upper()}"
            values |= {
                f"{prefix}_CLIENT_ID": state.client_id,
                f"{prefix}_CLIENT_SECRET": state.client_secret,
                f"{prefix}_TOKEN_URL": self.token_url(name),
                f"{prefix}_API_URL": self.api_url(name),
            }
        return values

    def _pick(self, vendor: str | None) -> list[VendorState]:
        return list(self._vendors.values()) if vendor is None else [self._state(vendor)]

    # --- token bookkeeping (used by vendors.py) -----------------------------------------
    def issue(
        self,
        v: VendorState,
        scope: str | None,
        id_token: bool = False,
        force_refresh: bool = False,
        grant: str | None = None,
    ) -> dict[str, Any]:
        """A new access token (and refresh token, for offline access or a refresh), part of
        ``grant`` (a new grant when None): a reused refresh token revokes every token of it."""
        now = time.time()
        grant = grant or secrets.token_hex(8)
        lifetime = v.lifetime
        claims: dict[str, Any] = {
            "iss": f"sandbox:{v.name}",
            "sub": v.client_id,
            "iat": int(now),
            "exp": int(now + lifetime),
        }
        claims.update(v.spec.extra_claims(v.client_id))
        claims["jti"] = secrets.token_hex(8)
        value = make_jwt(claims, self._key) if v.spec.jwt else f"{v.name}-at-{secrets.token_urlsafe(32)}"
        answer: dict[str, Any] = {
            "access_token": value,
            "token_type": v.spec.token_type,
            "expires_in": int(lifetime) if float(lifetime).is_integer() else lifetime,
        }
        if scope:
            answer["scope"] = scope
        with self._lock:
            self._tokens[value] = {
                "vendor": v.name,
                "expires": now + lifetime,
                "generation": v.generation,
                "scope": scope,
                "claims": claims,
                "grant": grant,
            }
            if force_refresh or "offline_access" in (scope or "").split():
                refresh = f"{v.name}-rt-{secrets.token_urlsafe(32)}"
                self._refresh[refresh] = {
                    "vendor": v.name,
                    "expires": now + v.spec.refresh_lifetime,
                    "scope": scope,
                    "spent": None,  # time.time() of its first use
                    "grant": grant,
                }
                answer["refresh_token"] = refresh
        if id_token and "openid" in (scope or "").split():
            answer["id_token"] = make_jwt({**claims, "aud": v.client_id}, self._key)
        return answer

    def new_code(self, v: VendorState, *, redirect_uri: str, scope: str | None, challenge: str | None) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "vendor": v.name,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "challenge": challenge,
                "expires": time.time() + 60,
            }
        return code

    def take_code(self, v: VendorState, code: str) -> dict[str, Any] | None:
        with self._lock:
            grant = self._codes.pop(code, None)
        if grant is None or grant["vendor"] != v.name or grant["expires"] < time.time():
            return None
        return grant

    def spend_refresh(self, v: VendorState, token: str) -> dict[str, Any] | None:
        """Rotation: a refresh token works once. Presented again within the vendor's reuse grace
        it works again; after it, the server takes it for a stolen token and revokes the whole
        grant (every refresh and access token issued from it), as oidc-provider does."""
        with self._lock:
            entry = self._refresh.get(token)
            now = time.time()
            if (
                entry is None
                or entry["vendor"] != v.name
                or entry["grant"] in self._revoked
                or entry["expires"] < now
            ):
                return None
            if entry["spent"] is None:
                entry["spent"] = now
                return entry
            if now - entry["spent"] <= v.refresh_reuse_grace:
                v.refresh_reuse_in_grace += 1
                return entry
            v.refresh_reuse += 1
            v.grants_revoked += 1
            self._revoked.add(entry["grant"])
            return None

    def _check_bearer(self, v: VendorState, req: Request) -> dict[str, Any] | None:
        token = req.bearer()
        entry = self._tokens.get(token or "")
        if (
            entry is None
            or entry["vendor"] != v.name
            or entry["generation"] != v.generation
            or entry["grant"] in self._revoked
            or entry["expires"] <= time.time()
        ):
            return None
        return entry

    # --- dispatch -----------------------------------------------------------------------
    def handle(self, req: Request) -> Reply:
        if req.path.startswith(CONTROL_PREFIX):
            return control(self, req)
        for name, state in self._vendors.items():
            spec = state.spec
            if not req.path.startswith(spec.prefix + "/"):
                continue
            local = req.path[len(spec.prefix) :]
            if local in spec.token_paths:
                return self._token(state, req)
            if spec.authorize_path and local == spec.authorize_path and req.method == "GET":
                return authorize(self, state, req)
            for method, pattern, handler in self._routes[name]:
                match = pattern.match(req.path)
                if match and method == req.method:
                    with self._lock:
                        state.api_requests += 1
                        fault = state.api_faults.pop(0) if state.api_faults else None
                    if fault is not None:
                        status, retry_after = fault
                        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
                        return Reply(status, {"error": "temporarily unavailable"}, headers)
                    token = self._check_bearer(state, req)
                    if token is None:
                        return spec.unauthorized
                    return handler(self, state, req, token, **match.groupdict())
        return Reply(404, {"error": "not_found", "path": req.path})

    def _token(self, state: VendorState, req: Request) -> Reply:
        with self._lock:
            state.token_requests += 1
            fault = state.faults.pop(0) if state.faults else None
        if state.delay:
            time.sleep(state.delay)
        if fault is not None:
            status, retry_after = fault
            if status >= 500:
                reply = Reply(status, "<html><body><h1>Service Unavailable</h1></body></html>")
            else:
                message = (
                    str(int(retry_after))
                    if (status == 429 and retry_after is not None)
                    else "Too Many Requests"
                )
                reply = state.error(status, "rate_limited" if status == 429 else "error", message)
            if retry_after is not None:
                reply.headers["Retry-After"] = f"{retry_after:g}"
                if state.spec.rate_limit_headers:
                    reply.headers.update(
                        {
                            "x-ratelimit-limit": "60",
                            "x-ratelimit-remaining": "0",
                            "x-ratelimit-reset": f"{retry_after:g}",
                        }
                    )
            return reply
        if req.method != "POST":
            return state.spec.wrong_method
        return state.spec.token(self, state, req)

    # --- server -------------------------------------------------------------------------
    def start(self, port: int = 0) -> VendorSandbox:
        """Serve on 127.0.0.1 (only: it hands out credentials to whoever asks); port 0 picks one."""
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes; without NODELAY a kept-alive client's
                # delayed ACK stalls every request ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                body = self._body()
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                req = Request(
                    self.command, parts.path, query, {k.lower(): v for k, v in self.headers.items()}, body
                )
                try:
                    reply = sandbox.handle(req)
                except Exception:  # a bug in the emulation must still answer, as a vendor 500 would
                    reply = Reply(500, {"error": "server_error"})
                payload, headers = reply.encode()
                self.send_response(reply.status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():  # streamed uploads
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # hundreds of concurrent callers in the tests

        server = Server(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _seeded(seed: str | None, label: str, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hmac.new(str(seed).encode(), f"{label}:{counter}".encode(), hashlib.sha256).digest()
        counter += 1
    return out[:size]


def _hex_source(seed: str | None, vendor: str) -> Callable[[int], str]:
    """``hexes(n)``: n random bytes as hex, or the next n bytes of the vendor's seeded stream."""
    if not seed:
        return secrets.token_hex
    drawn = [0]

    def hexes(n: int) -> str:
        chunk = _seeded(seed, vendor, drawn[0] + n)[drawn[0] :]
        drawn[0] += n
        return chunk.hex()

    return hexes


def _urlsafe(hex_text: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_text)).rstrip(b"=").decode()


@contextlib.contextmanager
def vendor_sandbox(seed: str | None = None, port: int = 0) -> Iterator[VendorSandbox]:
    """Run the vendor emulation on 127.0.0.1 (random port) for the ``with`` block."""
    sandbox = VendorSandbox(seed).start(port)
    try:
        yield sandbox
    finally:
        sandbox.stop()
