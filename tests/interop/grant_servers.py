"""Token servers for the grants oidc-provider does not offer, each run in its own process:

- ``authlib``: authlib's ``AuthorizationServer`` (a third-party implementation) with its password
  grant (RFC 6749 4.3) and JWT bearer grant (RFC 7523 2.1);
- ``google``: verifies a JWT bearer assertion as oauth2.googleapis.com/token does and answers as it
  does (service accounts);
- ``salesforce``: the same for login.salesforce.com/services/oauth2/token (connected apps).

The Google- and Salesforce-like servers check the RS256 signature with ``cryptography`` against
the public key registered for the issuer (not with joserfc, which signs), then the claims as the
vendors document them. Each server also has ``GET /me``: the owner of a bearer token, as an API
checks it.

    python -m tests.interop.grant_servers KIND CONFIG_JSON

prints one JSON line ``{"url": "http://127.0.0.1:PORT"}`` once listening. TEST ONLY.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Tokens:
    """Issued bearer tokens and whom they belong to."""

    def __init__(self) -> None:
        self._owners: dict[str, tuple[dict[str, Any], float]] = {}
        self._lock = threading.Lock()

    def issue(self, prefix: str, owner: dict[str, Any], lifetime: float) -> str:
        value = prefix + secrets.token_urlsafe(32)
        self.adopt(value, owner, lifetime)
        return value

    def adopt(self, value: str, owner: dict[str, Any], lifetime: float) -> None:
        with self._lock:
            self._owners[value] = (owner, time.time() + lifetime)

    def me(self, authorization: str) -> Answer:
        scheme, _, value = authorization.partition(" ")
        with self._lock:
            found = self._owners.get(value) if scheme.lower() == "bearer" else None
        if found is None or found[1] < time.time():
            return Answer(
                401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return Answer(200, found[0])


# --- RS256 checked with cryptography, as the vendors' servers would ------------------------


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def split_rs256(assertion: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, claims, signed bytes and signature of a compact JWS; ValueError when malformed."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    header, claims = json.loads(_b64(parts[0])), json.loads(_b64(parts[1]))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("not JSON objects")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), _b64(parts[2])


def rs256_valid(public_pem: str, signed: bytes, signature: bytes) -> bool:
    text = public_pem.encode()
    if b"CERTIFICATE" in text:
        from cryptography import x509

        key: Any = x509.load_pem_x509_certificate(text).public_key()
    else:
        key = serialization.load_pem_public_key(text)
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


class GoogleToken:
    """oauth2.googleapis.com/token for service accounts (developers.google.com/identity/protocols/
    oauth2/service-account): RS256 with the key ``kid`` names among the account's keys, iss the
    account's email, aud the token URI, a scope claim, exp at most an hour after iat."""

    def __init__(self, config: dict[str, Any], url: str, tokens: Tokens) -> None:
        self.accounts: dict[str, dict[str, str]] = config["accounts"]  # email -> {kid: public PEM}
        self.audience = config.get("audience") or url + "/token"
        self.tokens = tokens

    def token(self, form: dict[str, str]) -> Answer:
        if form.get("grant_type") != JWT_BEARER:
            return Answer(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "Invalid grant_type: " + form.get("grant_type", ""),
                },
            )
        try:
            header, claims, signed, signature = split_rs256(form.get("assertion", ""))
        except ValueError:
            return Answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT."})
        keys = self.accounts.get(str(claims.get("iss")))
        if keys is None:
            return Answer(
                400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"}
            )
        public = keys.get(str(header.get("kid")))
        if header.get("alg") != "RS256" or public is None or not rs256_valid(public, signed, signature):
            return Answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if (
            not isinstance(iat, int)
            or not isinstance(exp, int)
            or exp - iat > 3600
            or exp < now
            or iat > now + 60
        ):
            return Answer(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": (
                        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                        "timeframe. Check your iat and exp values in the JWT claim."
                    ),
                },
            )
        if claims.get("aud") != self.audience:
            return Answer(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT: Failed audience check."}
            )
        if not isinstance(claims.get("scope"), str) or not claims["scope"]:
            return Answer(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": "Invalid OAuth scope or ID token audience provided.",
                },
            )
        if any(k in form for k in ("client_id", "client_secret", "scope")):
            return Answer(400, {"error": "invalid_request", "error_description": "Unexpected parameter."})
        owner = {"email": claims["iss"], "scope": claims["scope"], "sub": claims.get("sub")}
        value = self.tokens.issue("ya29.", owner, 3599)
        return Answer(200, {"access_token": value, "expires_in": 3599, "token_type": "Bearer"})


class SalesforceToken:
    """login.salesforce.com/services/oauth2/token, JWT bearer flow (help.salesforce.com "OAuth 2.0
    JWT Bearer Flow for Server-to-Server Integration"): RS256 with the certificate uploaded to the
    connected app whose consumer key is iss, sub a user who approved the app, aud the login host,
    exp within 3 minutes; no scope in the request. The answer has no expires_in."""

    AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")

    def __init__(self, config: dict[str, Any], url: str, tokens: Tokens) -> None:
        self.apps: dict[str, str] = config["apps"]  # consumer key -> certificate PEM
        self.approved: dict[str, list[str]] = config["approved"]  # user name -> consumer keys
        self.url = url
        self.tokens = tokens

    def token(self, form: dict[str, str]) -> Answer:
        if form.get("grant_type") != JWT_BEARER:
            return Answer(
                400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
            )
        try:
            header, claims, signed, signature = split_rs256(form.get("assertion", ""))
        except ValueError:
            return Answer(400, {"error": "invalid_grant", "error_description": "invalid assertion"})
        certificate = self.apps.get(str(claims.get("iss")))
        if certificate is None:
            return Answer(
                400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
            )
        if header.get("alg") != "RS256" or not rs256_valid(certificate, signed, signature):
            return Answer(400, {"error": "invalid_grant", "error_description": "invalid assertion"})
        if claims.get("aud") not in self.AUDIENCES:
            return Answer(400, {"error": "invalid_grant", "error_description": "audience is invalid"})
        exp, now = claims.get("exp"), time.time()
        if not isinstance(exp, int) or exp < now or exp > now + 180:
            return Answer(400, {"error": "invalid_grant", "error_description": "expired assertion"})
        user = str(claims.get("sub"))
        if claims["iss"] not in self.approved.get(user, []):
            return Answer(
                400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
            )
        owner = {"username": user, "organization_id": "00D000000000001"}
        value = self.tokens.issue("00D000000000001!AQ", owner, 7200)
        return Answer(
            200,
            {
                "access_token": value,
                "scope": "api",
                "instance_url": self.url,
                "id": f"{self.url}/id/00D000000000001/005000000000001",
                "token_type": "Bearer",
            },
        )


class AuthlibToken:
    """authlib's AuthorizationServer, framework-agnostic: its password and JWT bearer grants."""

    def __init__(self, config: dict[str, Any], url: str, tokens: Tokens) -> None:
        from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request, grants
        from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
        from authlib.oauth2.rfc6750 import BearerTokenGenerator
        from authlib.oauth2.rfc7523 import JWTBearerGrant

        users: dict[str, str] = config["users"]
        audience = url + "/token"
        refreshes: dict[str, Credential] = {}
        self.grants: list[str] = []  # the grant_type of every token request, for GET /grants

        class Credential:
            """A refresh token (RFC 6749 6): rotated on use, a used one refused."""

            def __init__(self, client_id: str, scope: str, sub: str) -> None:
                self.client_id, self.scope, self.sub, self.revoked = client_id, scope, sub, False

            def check_client(self, client: Client) -> bool:
                return client.get_client_id() == self.client_id

            def get_scope(self) -> str:
                return self.scope

            def is_expired(self) -> bool:
                return False

            def is_revoked(self) -> bool:
                return self.revoked

        class Client(ClientMixin):
            def __init__(self, data: dict[str, Any]) -> None:
                self.data = data

            def get_client_id(self) -> str:
                return self.data["client_id"]

            def get_default_redirect_uri(self) -> str:
                return ""

            def get_allowed_scope(self, scope: str) -> str:
                allowed = set(self.data.get("scope", "").split())
                return " ".join(s for s in (scope or "").split() if s in allowed)

            def check_redirect_uri(self, redirect_uri: str) -> bool:
                return False

            def check_client_secret(self, client_secret: str) -> bool:
                expected = self.data.get("client_secret", "")
                return bool(expected) and secrets.compare_digest(expected, client_secret)

            def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
                return method == self.data["auth_method"]

            def check_response_type(self, response_type: str) -> bool:
                return False

            def check_grant_type(self, grant_type: str) -> bool:
                return grant_type in self.data["grant_types"]

        clients = {c["client_id"]: Client(c) for c in config["clients"]}

        class User:
            def __init__(self, name: str) -> None:
                self.name = name

            def get_user_id(self) -> str:
                return self.name

        class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")

            def authenticate_user(self, username: str, password: str) -> User | None:
                known = users.get(username)
                return User(username) if known and secrets.compare_digest(known, password) else None

        class BearerGrant(JWTBearerGrant):
            def resolve_issuer_client(self, issuer: str) -> Client | None:
                return clients.get(issuer)

            def resolve_client_public_key(self, client: Client) -> str:
                return client.data["public_key"]

            def authenticate_user(self, subject: str) -> User | None:
                return User(subject) if subject in users else None

            def has_granted_permission(self, client: Client, user: User) -> bool:
                return True

            def get_audiences(self) -> list[str]:
                return [audience]

        class RefreshGrant(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> Credential | None:
                return refreshes.get(refresh_token)

            def authenticate_user(self, credential: Credential) -> User:
                return User(credential.sub)

            def revoke_old_credential(self, credential: Credential) -> None:
                credential.revoked = True

        class Request(OAuth2Request):
            def __init__(self, method: str, uri: str, headers: dict[str, str], form: dict[str, str]) -> None:
                super().__init__(method, uri, headers=headers)
                self._form = form
                self.payload = BasicOAuth2Payload(form)

            @property
            def args(self) -> dict[str, str]:
                return {}

            @property
            def form(self) -> dict[str, str]:
                return self._form

        class Server(AuthorizationServer):
            def query_client(self, client_id: str) -> Client | None:
                return clients.get(client_id)

            def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
                owner = {"client_id": request.client.get_client_id(), "scope": token.get("scope", "")}
                if request.user is not None:
                    owner["sub"] = request.user.get_user_id()
                tokens.adopt(token["access_token"], owner, token["expires_in"])
                if token.get("refresh_token"):
                    refreshes[token["refresh_token"]] = Credential(
                        owner["client_id"], owner["scope"], owner.get("sub", "")
                    )

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                return None

            def create_oauth2_request(self, request: Any) -> OAuth2Request:
                return request

            def handle_response(self, status: int, body: Any, headers: Any) -> Answer:
                return Answer(status, body, dict(headers))

        self.server = Server(scopes_supported=["api:read", "api:write"])
        self.server.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda *a, **k: secrets.token_urlsafe(32),
                refresh_token_generator=lambda *a, **k: "rt-" + secrets.token_urlsafe(32),
                expires_generator=lambda *a: 300,
            ),
        )
        self.server.register_grant(PasswordGrant)
        self.server.register_grant(RefreshGrant)
        self.server.register_grant(BearerGrant)
        self.request = Request

    def token(self, form: dict[str, str], headers: dict[str, str], url: str) -> Answer:
        self.grants.append(form.get("grant_type", ""))
        return self.server.create_token_response(self.request("POST", url, headers, form))


def serve(kind: str, config: dict[str, Any]) -> None:
    tokens = Tokens()
    holder: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{kind} {format % args}\n")

        def _send(self, answer: Answer) -> None:
            body = json.dumps(answer.body).encode()
            head = [
                f"HTTP/1.1 {answer.status} X",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
                "Cache-Control: no-store",
            ]
            head += [
                f"{k}: {v}"
                for k, v in answer.headers.items()
                if k.lower() not in ("content-type", "content-length", "cache-control")
            ]
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)  # one write

        def do_GET(self) -> None:
            if self.path == "/me":
                self._send(tokens.me(self.headers.get("Authorization", "")))
            elif self.path == "/grants" and kind == "authlib":
                self._send(Answer(200, {"grants": holder["endpoint"].grants}))
            else:
                self._send(Answer(404, {"error": "not_found"}))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            if not self.path.endswith("/token"):
                self._send(Answer(404, {"error": "not_found"}))
                return
            if (self.headers.get("Content-Type") or "").split(";")[0] != "application/x-www-form-urlencoded":
                self._send(
                    Answer(400, {"error": "invalid_request", "error_description": "form body expected"})
                )
                return
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            endpoint = holder["endpoint"]
            if kind == "authlib":
                answer = endpoint.token(form, dict(self.headers.items()), holder["url"] + self.path)
            else:
                answer = endpoint.token(form)
            self._send(answer)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    holder["url"] = url
    holder["endpoint"] = {"authlib": AuthlibToken, "google": GoogleToken, "salesforce": SalesforceToken}[
        kind
    ](config, url, tokens)
    sys.stdout.write(json.dumps({"url": url}) + "\n")
    sys.stdout.flush()
    httpd.serve_forever()


@contextlib.contextmanager
def grant_server(kind: str, config: dict[str, Any]) -> Iterator[str]:
    """``kind``'s server in its own process; yields its base URL, stopped at the end."""
    import subprocess
    import tempfile
    from pathlib import Path

    from prefect_vendortokens.testing.prefect_server import stop_group

    root = Path(__file__).resolve().parents[2]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(config, out)
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
        [sys.executable, "-m", "tests.interop.grant_servers", kind, out.name],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        ready: dict[str, str] = {}
        got = threading.Event()

        def read() -> None:
            with contextlib.suppress(ValueError):
                ready.update(json.loads(process.stdout.readline()))  # type: ignore[union-attr]
            got.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 60
        while not got.wait(0.1):
            assert process.poll() is None, f"{kind} server exited: {process.stderr.read()[-2000:]}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, f"{kind} server did not start"
        if "url" not in ready:
            process.wait(10)
            raise AssertionError(f"{kind} server said no URL: {process.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        threading.Thread(target=lambda: process.stderr.read(), daemon=True).start()  # type: ignore[union-attr]
        yield ready["url"]
    finally:
        stop_group(process)
        os.unlink(out.name)


if __name__ == "__main__":
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain HTTP on 127.0.0.1
    with open(sys.argv[2]) as config_file:
        serve(sys.argv[1], json.load(config_file))
