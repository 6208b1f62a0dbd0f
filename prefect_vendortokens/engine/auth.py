"""``VendorTokenAuth``: an ``httpx.Auth`` that never lets a stale token through.

It adds the dialect's header from the manager's current token (refreshed before expiry); on a
401 it asks for a new token only if the rejected one is still current (so a burst of 401s costs
one token request) and replays the request once; a second 401 goes back to the caller.

DPoP (RFC 9449): a token that came back bound to a key (``AccessToken.dpop_key``, stored with it)
goes as ``DPoP <token>`` with a fresh proof per request (``htm``, ``htu``, ``iat``, ``jti``,
``ath``, the API's last ``DPoP-Nonce``); a 401 ``use_dpop_nonce`` challenge is answered by one
replay with the nonce, before (and apart from) the renewal above.

Bodies: a request whose body is in memory (bytes, JSON, form, files read by httpx) is replayed.
A streaming body (a generator) cannot be sent twice without buffering it all, so on a 401 it is
not replayed: the token is still renewed and the 401 returned, and the caller's retry succeeds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from typing import cast

import httpx

from ..core.dpop import DPoPKey, dpop_nonce, resource_nonce_challenge
from ..core.token import AccessToken
from .manager import TokenManager


class VendorTokenAuth(httpx.Auth):
    """Bearer (or the dialect's header and scheme) from a ``TokenManager``."""

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self, manager: TokenManager, header: str = "Authorization", scheme: str | None = "Bearer"
    ) -> None:
        self.manager = manager
        self.header = header
        self.scheme = scheme
        self._nonces: dict[tuple[str, str, int | None], str] = {}  # each API origin's DPoP-Nonce
        self._key: tuple[str, DPoPKey] | None = None  # the last bound token's key, loaded once
        self._key_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VendorTokenAuth({self.manager.label!r}, header={self.header!r})"

    def _flow(self, request: httpx.Request) -> Generator[httpx.Request | TokenAsk, object, None]:
        """Yields a ``TokenAsk`` for a token and requests to send; the drivers below answer."""
        token = cast(AccessToken, (yield TokenAsk()))
        self._apply(request, token)
        response = cast(httpx.Response, (yield request))
        if token.dpop_key is not None and self._heard(request, response) and _replayable(request):
            self._apply(request, token)  # the API asked for a nonce: once more with it
            response = cast(httpx.Response, (yield request))
            self._heard(request, response)
        if response.status_code != 401:
            return
        renewed = cast(AccessToken, (yield TokenAsk(rejected=token)))  # renewed only if still current
        if renewed.fingerprint == token.fingerprint or not _replayable(request):
            return
        self._apply(request, renewed)
        yield request

    def _apply(self, request: httpx.Request, token: AccessToken) -> None:
        # The dialect decides the scheme (an empty scheme sends the token alone).
        secret = token.secret()
        if token.dpop_key is not None:  # bound: the DPoP scheme and a proof of its key
            proof = self._dpop_key(token).proof(
                method=request.method,
                url=str(request.url),
                now=int(time.time()),
                access_token=secret,
                nonce=self._nonces.get(_origin(request.url)),
            )
            request.headers[self.header] = f"DPoP {secret}"
            request.headers["DPoP"] = proof
        else:
            request.headers[self.header] = f"{self.scheme} {secret}" if self.scheme else secret
            request.headers.pop("DPoP", None)
        # httpx copies extensions (and headers) to a redirect's request; see ``strip_on_redirect``.
        request.extensions[ORIGIN_KEY] = _origin(request.url)

    def _heard(self, request: httpx.Request, response: httpx.Response) -> bool:
        """Keep the API's ``DPoP-Nonce``; True when it answered a ``use_dpop_nonce`` challenge."""
        challenge = resource_nonce_challenge(response.status_code, response.headers)
        nonce = challenge or dpop_nonce(response.headers)
        if nonce:
            self._nonces[_origin(request.url)] = nonce
        return challenge is not None

    def _dpop_key(self, token: AccessToken) -> DPoPKey:
        assert token.dpop_key is not None  # noqa: S101 - called for bound tokens only
        raw = token.dpop_key.get_secret_value()
        with self._key_lock:
            if self._key is None or self._key[0] != raw:
                self._key = (raw, DPoPKey.from_json(token.dpop_key, vendor=token.vendor or ""))
            return self._key[1]

    def strip_on_redirect(self, request: httpx.Request) -> None:
        """A request event hook: drop the token header from a redirect to another origin. httpx
        strips ``Authorization`` there itself, but no other header (X-Api-Token, ...); the
        clients from ``VendorCredentials.get_client`` install this hook."""
        origin = request.extensions.get(ORIGIN_KEY)
        if origin is not None and origin != _origin(request.url):
            request.headers.pop(self.header, None)
            request.headers.pop("DPoP", None)  # a proof names the first URL: useless elsewhere

    async def astrip_on_redirect(self, request: httpx.Request) -> None:
        self.strip_on_redirect(request)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow, answer = self._flow(request), None
        while (step := _advance(flow, answer)) is not None:
            answer = (
                (yield step)
                if isinstance(step, httpx.Request)
                else self.manager.get_token(rejected=step.rejected)
            )

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow, answer = self._flow(request), None
        while (step := _advance(flow, answer)) is not None:
            answer = (
                (yield step)
                if isinstance(step, httpx.Request)
                else await self.manager.aget_token(rejected=step.rejected)
            )


@dataclass(frozen=True)
class TokenAsk:
    """The flow wants the current token, or one that replaces ``rejected`` (if still current)."""

    rejected: AccessToken | None = None


def _advance(
    flow: Generator[httpx.Request | TokenAsk, object, None], answer: object
) -> httpx.Request | TokenAsk | None:
    try:
        return flow.send(answer)
    except StopIteration:
        return None


ORIGIN_KEY = "prefect_vendortokens.origin"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _replayable(request: httpx.Request) -> bool:
    return isinstance(request.stream, httpx.ByteStream)
