"""Tiny real token servers on 127.0.0.1 for vendors the emulation does not know: what the
documents in ``tests/specs/unseen`` describe (a JSON login that answers errors with HTTP 200,
a form login whose JWT is the only expiry, a GET with the key and secret in the query)."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prefect_vendortokens.testing.vendors import make_jwt


@dataclass
class TokenServers:
    base_url: str = ""
    key: str = field(default_factory=lambda: "key-" + secrets.token_hex(4))
    secret: str = field(default_factory=lambda: "sec-" + secrets.token_urlsafe(18))
    account_id: int = 40417
    tenant: str = "acme"
    issued: list[str] = field(default_factory=list)
    requests: int = 0

    def answer(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        self.requests += 1
        ctype = headers.get("content-type", "").split(";")[0]
        if method == "POST" and path == "/api/v2/auth/login":  # ParcelHub: always HTTP 200
            data = json.loads(body or b"null") if ctype == "application/json" else None
            if not isinstance(data, dict) or not isinstance(data.get("accountId"), int):
                return 200, {
                    "data": None,
                    "errors": [{"code": "VALIDATION", "message": "accountId must be a number"}],
                }
            if (data.get("apiKey"), data.get("apiSecret"), data["accountId"]) != (
                self.key,
                self.secret,
                self.account_id,
            ):
                return 200, {
                    "data": None,
                    "errors": [{"code": "BAD_CREDENTIALS", "message": "API key or secret is wrong"}],
                }
            token = "ph_" + secrets.token_urlsafe(24)
            expires = (datetime.now(UTC) + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
            return 200, {
                "data": {"session": {"token": self._issue(token), "expiresAt": expires, "scopes": ["ship"]}}
            }
        if method == "POST" and path == "/v3/authenticate":  # Metricsio: the JWT's exp is the expiry
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
            if ctype != "application/x-www-form-urlencoded" or (
                form.get("api_key"),
                form.get("api_secret"),
            ) != (self.key, self.secret):
                return 401, {
                    "error": {"code": "invalid_credentials", "message": "Unknown API key or wrong secret"}
                }
            now = int(time.time())
            jwt = make_jwt({"sub": self.key, "iat": now, "exp": now + 900}, b"metricsio-test-key")
            return 200, {"jwt": self._issue(jwt), "user": {"id": "u1", "name": "integration"}}
        if method == "POST" and path == "/v2/auth/token":  # RegistryHub: identifier and secret
            data = json.loads(body or b"null") if ctype == "application/json" else None
            if not isinstance(data, dict) or (data.get("identifier"), data.get("secret")) != (
                self.key,
                self.secret,
            ):
                return 401, {"message": "Incorrect authentication credentials"}
            now = int(time.time())
            jwt = make_jwt({"sub": self.key, "iat": now, "exp": now + 1200}, b"registryhub-test-key")
            return 200, {"access_token": self._issue(jwt)}
        if method == "GET" and path == "/api/session":  # GridStat: query credentials, epoch ms expiry
            if headers.get("x-tenant") != self.tenant:
                return 400, {"status": "error", "reason": "X-Tenant header missing or unknown"}
            if (query.get("key"), query.get("secret")) != (self.key, self.secret):
                return 403, {"status": "error", "reason": "Bad key or secret"}
            expires_ms = int((time.time() + 1200) * 1000)
            return 200, {
                "result": {
                    "accessToken": self._issue("gs." + secrets.token_hex(20)),
                    "expireTime": expires_ms,
                }
            }
        return 404, {"error": "not_found"}

    def _issue(self, token: str) -> str:
        self.issued.append(token)
        return token


@contextlib.contextmanager
def token_servers() -> Iterator[TokenServers]:
    state = TokenServers()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = state.answer(self.command, parts.path, query, headers, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
