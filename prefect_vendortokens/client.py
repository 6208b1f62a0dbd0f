"""``TokenClient``: the sync and async drivers around the sans-IO request/response core.

Each public method builds a ``TokenRequest`` (``request.py``), sends it with one of two tiny
send functions, and hands the answer to ``parse_token_response`` (``response.py``). The only
code that differs between sync and async is the ``_send``/``_asend`` pair.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
from pydantic import JsonValue, SecretStr

from .dialect import TokenDialect
from .errors import DialectError, TokenTransportError
from .pkce import Pkce
from .presets import get_dialect
from .request import (
    AuthorizationCodeGrant,
    ClientCredentials,
    ClientCredentialsGrant,
    Grant,
    RefreshGrant,
    TokenRequest,
    build_token_request,
)
from .response import parse_token_response
from .token import AccessToken

VerifyTypes = bool | str | ssl.SSLContext


class TokenClient:
    """Fetches tokens for one vendor account. Thread-safe; reuse one per account."""

    def __init__(
        self,
        dialect: TokenDialect | str,
        token_url: str | None = None,
        client_id: str | int = "",
        client_secret: SecretStr | str = "",
        *,
        scopes: Iterable[str] = (),
        extra: Mapping[str, JsonValue] | None = None,
        timeout: float = 30.0,
        verify: VerifyTypes = True,
        authorization_url: str | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.dialect = get_dialect(dialect) if isinstance(dialect, str) else dialect
        url = token_url or self.dialect.default_token_url
        if not url:
            raise DialectError(
                f"dialect {self.dialect.name!r} has no default token URL; pass token_url",
                vendor=self.dialect.name,
            )
        self.credentials = ClientCredentials(
            token_url=url,
            client_id=str(client_id),
            client_secret=client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret),
            scopes=tuple(scopes),
            extra=dict(extra or {}),
        )
        self.authorization_url_base = authorization_url
        self.timeout = timeout
        self.verify = verify
        self._http = http_client
        self._ahttp = async_http_client
        self._owns_http = http_client is None
        self._http_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"TokenClient(vendor={self.dialect.name!r}, token_url={self.credentials.token_url!r}, "
            f"client_id={self.credentials.client_id!r})"
        )

    # --- grants ------------------------------------------------------------------------
    def fetch(self, scopes: Iterable[str] | None = None) -> AccessToken:
        """A new token with the client-credentials grant."""
        return self._send(self._build(ClientCredentialsGrant(_scopes(scopes))))

    async def afetch(self, scopes: Iterable[str] | None = None) -> AccessToken:
        return await self._asend(self._build(ClientCredentialsGrant(_scopes(scopes))))

    def refresh(self, token: AccessToken, scopes: Iterable[str] | None = None) -> AccessToken:
        """A new token with the refresh grant; keeps the old refresh token if none is returned."""
        return _carry_refresh(token, self._send(self._build(self._refresh_grant(token, scopes))))

    async def arefresh(self, token: AccessToken, scopes: Iterable[str] | None = None) -> AccessToken:
        return _carry_refresh(token, await self._asend(self._build(self._refresh_grant(token, scopes))))

    def authorization_url(
        self, redirect_uri: str, *, state: str, pkce: Pkce | None = None, scopes: Iterable[str] | None = None
    ) -> str:
        """The URL to send a user to for the authorization-code grant."""
        if not self.authorization_url_base:
            raise DialectError("no authorization_url configured", vendor=self.dialect.name)
        params = {
            "response_type": "code",
            "client_id": self.credentials.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
        }
        chosen = self.credentials.scopes if scopes is None else tuple(scopes)
        if chosen:
            params["scope"] = self.dialect.scope_separator.join(chosen)
        if pkce is not None:
            params["code_challenge"] = pkce.challenge
            params["code_challenge_method"] = pkce.method
        sep = "&" if "?" in self.authorization_url_base else "?"
        return f"{self.authorization_url_base}{sep}{urlencode(params)}"

    def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: SecretStr | str | None = None
    ) -> AccessToken:
        """Exchange an authorization code (with its PKCE verifier) for a token."""
        return self._send(self._build(_code_grant(code, redirect_uri, code_verifier)))

    async def aexchange_code(
        self, code: str, redirect_uri: str, code_verifier: SecretStr | str | None = None
    ) -> AccessToken:
        return await self._asend(self._build(_code_grant(code, redirect_uri, code_verifier)))

    # --- plumbing ----------------------------------------------------------------------
    def _refresh_grant(self, token: AccessToken, scopes: Iterable[str] | None) -> RefreshGrant:
        if token.refresh_token is None:
            raise DialectError(
                f"token {token.fingerprint} has no refresh token; fetch a new one instead",
                vendor=self.dialect.name,
            )
        return RefreshGrant(token.refresh_token, _scopes(scopes))

    def _build(self, grant: Grant) -> TokenRequest:
        return build_token_request(self.dialect, self.credentials, grant)

    def _secrets(self, request: TokenRequest) -> tuple[str, ...]:
        # Everything that must never appear in an error message.
        body = request.content.decode("utf-8", "replace") if request.content else ""
        return (
            self.credentials.client_secret.get_secret_value(),
            request.headers.get("Authorization", ""),
            body,
        )

    def _parse(self, request: TokenRequest, response: httpx.Response, sent_at: datetime) -> AccessToken:
        return parse_token_response(
            self.dialect,
            status=response.status_code,
            headers=response.headers,
            body=response.content,
            sent_at=sent_at,
            token_url=self.credentials.token_url,
            secrets=self._secrets(request),
        )

    def _transport_error(self, request: TokenRequest, exc: Exception) -> TokenTransportError:
        return TokenTransportError(
            f"token request failed before an answer: {type(exc).__name__}",
            vendor=self.dialect.name,
            token_url=self.credentials.token_url.split("?", 1)[0],
            vendor_message=str(exc) or None,
            secrets=self._secrets(request),
        )

    def _send(self, request: TokenRequest) -> AccessToken:
        with self._http_lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self.timeout, verify=self.verify)
        sent_at = datetime.now(UTC)
        try:
            response = self._http.request(
                request.method, request.url, headers=request.headers, content=request.content
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(request, exc) from None
        return self._parse(request, response, sent_at)

    async def _asend(self, request: TokenRequest) -> AccessToken:
        # An AsyncClient belongs to one event loop, and Prefect runs coroutines on several; token
        # requests are rare (once per lifetime), so an own client per request is the safe choice.
        async with contextlib.AsyncExitStack() as stack:
            http = self._ahttp or await stack.enter_async_context(
                httpx.AsyncClient(timeout=self.timeout, verify=self.verify)
            )
            sent_at = datetime.now(UTC)
            try:
                response = await http.request(
                    request.method, request.url, headers=request.headers, content=request.content
                )
            except httpx.HTTPError as exc:
                raise self._transport_error(request, exc) from None
        return self._parse(request, response, sent_at)

    def close(self) -> None:
        if self._http is not None and self._owns_http:
            self._http.close()
            self._http = None

    async def aclose(self) -> None:
        self.close()

    def __enter__(self) -> TokenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> TokenClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _scopes(scopes: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if scopes is None else tuple(scopes)


def _code_grant(code: str, redirect_uri: str, verifier: SecretStr | str | None) -> AuthorizationCodeGrant:
    if isinstance(verifier, str):
        verifier = SecretStr(verifier)
    return AuthorizationCodeGrant(SecretStr(code), redirect_uri, verifier)


def _carry_refresh(old: AccessToken, new: AccessToken) -> AccessToken:
    # RFC 6749 6: the server MAY issue a new refresh token; if it does not, the old one stays.
    if new.refresh_token is None and old.refresh_token is not None:
        return new.model_copy(update={"refresh_token": old.refresh_token})
    return new
