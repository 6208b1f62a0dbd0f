"""``TokenClient``: the sync and async drivers around the sans-IO request/response core.

Each public method builds a ``TokenRequest`` (``core/request.py``), sends it, and hands the answer to
``parse_token_response`` (``core/response.py``). Sending is one coroutine, ``exchange``: the whole
exchange (connect, request, headers, body) runs under one deadline, the block's ``timeout``,
whatever a server trickles (httpx's timeouts are per read), and the body stops at
``MAX_RESPONSE_BYTES`` (``io/http.py``), its failures typed. The sync driver runs that
coroutine on a private event loop in a helper thread, so there is one copy of the logic and the
sync path is bounded the same way.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import JsonValue, SecretStr

from ..core.caches import ProcessCache
from ..core.device import DeviceAuthorization, DevicePoll, parse_device_authorization
from ..core.dialect import MTLS_AUTH, TokenDialect
from ..core.dpop import DPoPKey, dpop_nonce, token_nonce_challenge, with_dpop
from ..core.errors import AuthorizationRequiredError, DialectError, TokenResponseError, TokenTransportError
from ..core.mtls import client_tls_context
from ..core.pkce import Pkce
from ..core.presets import get_dialect
from ..core.request import (
    AuthorizationCodeGrant,
    ClientCredentials,
    ClientCredentialsGrant,
    DeviceCodeGrant,
    Grant,
    JwtBearerGrant,
    PasswordGrant,
    RefreshGrant,
    TokenRequest,
    build_device_authorization_request,
    build_token_request,
)
from ..core.response import parse_token_response, safe_url
from ..core.token import AccessToken
from ..core.url import refuse_user_info
from ..io.deadline import run_bounded
from ..io.http import MAX_RESPONSE_BYTES, Progress, ResponseTooLarge, bounded_exchange

VerifyTypes = bool | str | ssl.SSLContext
# One context per verification setting for the clients without a client certificate: each holds
# the CA bundle (~0.8 MB), which a rotation of 10,000 accounts would otherwise hold 10,000 times.
_TLS_CONTEXTS: ProcessCache[bool | str, ssl.SSLContext] = ProcessCache("TLS contexts")


def shared_tls_context(verify: VerifyTypes) -> ssl.SSLContext:
    """The process's context for ``verify`` (a context given is used as is)."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    return _TLS_CONTEXTS.get_or_make(verify, lambda: httpx.create_ssl_context(verify=verify))


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
        private_key: SecretStr | str | None = None,
        key_id: str = "",
        signing_alg: str = "",
        assertion_audience: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
        grant: str = "client_credentials",
        username: str = "",
        password: SecretStr | str | None = None,
        device_authorization_url: str | None = None,
        tls_certificate: str = "",
        tls_key: SecretStr | str | None = None,
        dpop: bool = False,
    ) -> None:
        """``private_key`` (PEM or JWK), ``key_id``, ``signing_alg`` and ``assertion_audience``
        are for the dialect's ``private_key_jwt`` client authentication and the ``jwt_bearer``
        grant's assertion. ``grant`` is what ``fetch`` asks with: ``client_credentials``,
        ``password`` (``username``, ``password``) or ``jwt_bearer`` (issuer the client id,
        subject ``username`` if any); the user grants (``authorization_code``, ``device_code``)
        have no fetch. ``tls_certificate`` and ``tls_key`` (PEM) are the client certificate of
        mutual TLS (RFC 8705), presented on every token request and, through ``tls_context()``,
        on the API calls of ``get_client()``. ``dpop`` asks for DPoP-bound tokens (RFC 9449): a
        proof on every token request. ``transport`` replaces the network (httpx's
        ``MockTransport``, for unit tests)."""
        self.dialect = get_dialect(dialect) if isinstance(dialect, str) else dialect
        url = token_url or self.dialect.default_token_url
        if not url:
            raise DialectError(
                f"dialect {self.dialect.name!r} has no default token URL; pass token_url",
                vendor=self.dialect.name,
            )
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:  # e.g. a port that is not a number
            raise DialectError(
                f"the token URL is not a valid URL ({exc})", vendor=self.dialect.name
            ) from None
        if parsed.scheme not in ("http", "https"):
            raise DialectError("the token URL must be http(s)", vendor=self.dialect.name)
        refuse_user_info(url, "token URL", vendor=self.dialect.name)
        if authorization_url:
            refuse_user_info(authorization_url, "authorization URL", vendor=self.dialect.name)
        self.credentials = ClientCredentials(
            token_url=url,
            client_id=str(client_id),
            client_secret=client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret),
            scopes=tuple(scopes),
            extra=dict(extra or {}),
            private_key=SecretStr(private_key) if isinstance(private_key, str) else private_key,
            key_id=key_id,
            signing_alg=signing_alg,
            assertion_audience=assertion_audience,
        )
        self.authorization_url_base = authorization_url
        if grant not in FETCH_GRANTS and grant not in USER_GRANTS:
            raise DialectError(f"unknown grant {grant!r}", vendor=self.dialect.name)
        self.grant: str = grant
        self.username: str = username
        self.password: SecretStr | None = SecretStr(password) if isinstance(password, str) else password
        if device_authorization_url:
            refuse_user_info(device_authorization_url, "device authorization URL", vendor=self.dialect.name)
        self.device_authorization_url = (
            device_authorization_url or self.dialect.default_device_authorization_url
        )
        self.timeout = timeout
        self.verify = verify
        self._transport = transport
        self._ssl: ssl.SSLContext | None = None  # built once: loading the CA bundle costs ~15 ms
        self._ssl_lock = threading.Lock()
        self.tls_certificate = tls_certificate
        self._tls_key = SecretStr(tls_key) if isinstance(tls_key, str) else tls_key
        if self.dialect.client_auth in MTLS_AUTH and not (tls_certificate.strip() and self._tls_key):
            raise DialectError(
                f"client authentication {self.dialect.client_auth.value} needs a client certificate "
                "and its private key",
                vendor=self.dialect.name,
            )
        self.dpop = dpop
        self._dpop_key: DPoPKey | None = None  # this client's key for new grants (made on first use)
        self._dpop_nonce: str | None = None  # the token endpoint's last DPoP-Nonce

    @classmethod
    def from_issuer(
        cls,
        dialect: TokenDialect | str,
        issuer: str,
        client_id: str | int = "",
        client_secret: SecretStr | str = "",
        token_url: str | None = None,
        **options: Any,
    ) -> TokenClient:
        """A client whose token and authorization endpoints come from ``issuer``'s metadata
        (discovery, cached per process); an explicit ``token_url`` or ``authorization_url`` wins."""
        from .discovery import discover

        name = dialect if isinstance(dialect, str) else dialect.name
        refuse_user_info(issuer, "issuer URL", vendor=name)
        metadata = discover(
            issuer,
            timeout=options.get("timeout", 30.0),
            verify=options.get("verify", True),
            transport=options.get("transport"),
        )
        options["authorization_url"] = (
            options.get("authorization_url") or metadata.authorization_endpoint or None
        )
        chosen = get_dialect(dialect) if isinstance(dialect, str) else dialect
        # RFC 8705 5: with mutual TLS, the endpoints that ask for the certificate.
        aliases = metadata.mtls_endpoint_aliases if chosen.client_auth in MTLS_AUTH else {}
        options["device_authorization_url"] = (
            options.get("device_authorization_url")
            or aliases.get("device_authorization_endpoint")
            or metadata.device_authorization_endpoint
            or None
        )
        discovered = aliases.get("token_endpoint", metadata.token_endpoint)
        return cls(dialect, token_url or discovered, client_id, client_secret, **options)

    def __repr__(self) -> str:
        return (
            f"TokenClient(vendor={self.dialect.name!r}, token_url={self.credentials.token_url!r}, "
            f"client_id={self.credentials.client_id!r})"
        )

    # --- grants ------------------------------------------------------------------------
    def fetch(self, scopes: Iterable[str] | None = None) -> AccessToken:
        """A new token with the client's own grant (client credentials, password, JWT bearer)."""
        return self._send(self._fetch_grant(scopes))

    async def afetch(self, scopes: Iterable[str] | None = None) -> AccessToken:
        return await self._asend(self._fetch_grant(scopes))

    def _fetch_grant(self, scopes: Iterable[str] | None) -> Grant:
        """The grant ``fetch`` sends: a row of ``FETCH_GRANTS``. A user grant has none: only
        the consent (``authorize``) and its refresh token give tokens."""
        make = FETCH_GRANTS.get(self.grant)
        if make is None:
            raise AuthorizationRequiredError(
                f"grant {self.grant} needs a person's consent first: run `prefect-vendortokens authorize`",
                vendor=self.dialect.name,
            )
        return make(self, _scopes(scopes))

    # --- the device authorization grant (RFC 8628) --------------------------------------
    def device_authorization(self, scopes: Iterable[str] | None = None) -> DeviceAuthorization:
        """Start a device authorization: the user code and verification URI to show."""
        return run_bounded(self.adevice_authorization(scopes), self.timeout)

    async def adevice_authorization(self, scopes: Iterable[str] | None = None) -> DeviceAuthorization:
        url = self.device_authorization_url or ""
        if url:
            refuse_user_info(url, "device authorization URL", vendor=self.dialect.name)
        request = build_device_authorization_request(
            self.dialect, self.credentials, url=url, scopes=_scopes(scopes)
        )
        status, headers, body, _ = await exchange(
            request,
            vendor=self.dialect.name,
            token_url=request.url,
            timeout=self.timeout,
            verify=self.tls_context(),
            transport=self._transport,
        )
        return parse_device_authorization(
            self.dialect,
            status=status,
            headers=headers,
            body=body,
            url=request.url,
            secrets=request.scrubbed(),
        )

    def poll_device(
        self,
        authorization: DeviceAuthorization,
        poll: DevicePoll,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> AccessToken | DevicePoll:
        """One poll of the token endpoint (``core.device``'s state machine decides, on
        ``clock``, the one ``poll`` started on): the token, the state to poll on from, or a
        typed error (denied, expired, refused)."""
        return run_bounded(self.apoll_device(authorization, poll, clock=clock), self.timeout)

    async def apoll_device(
        self,
        authorization: DeviceAuthorization,
        poll: DevicePoll,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> AccessToken | DevicePoll:
        key = self._dpop_for(None)  # the device grant's token is bound like any other
        try:
            status, headers, body, sent_at, sent = await self._aexchange(
                DeviceCodeGrant(authorization.device_code), key
            )
        except TokenTransportError:  # a lost answer: the device code is still good, wait longer
            return poll.failed(now=clock())
        answer = poll.answer(
            self.dialect,
            status=status,
            headers=headers,
            body=body,
            sent_at=sent_at,
            now=clock(),
            token_url=self.credentials.token_url,
            secrets=sent.scrubbed(),
        )
        return bind_dpop(answer, key) if isinstance(answer, AccessToken) else answer

    def refresh(self, token: AccessToken, scopes: Iterable[str] | None = None) -> AccessToken:
        """A new token with the refresh grant; keeps the old refresh token if none is returned.
        A DPoP-bound token is refreshed with a proof of its own key."""
        return _carry_refresh(token, self._send(self._refresh_grant(token, scopes), token))

    async def arefresh(self, token: AccessToken, scopes: Iterable[str] | None = None) -> AccessToken:
        return _carry_refresh(token, await self._asend(self._refresh_grant(token, scopes), token))

    def authorization_url(
        self,
        redirect_uri: str,
        *,
        state: str,
        pkce: Pkce | None = None,
        scopes: Iterable[str] | None = None,
        extra_params: Mapping[str, str] | None = None,
    ) -> str:
        """The URL to send a user to for the authorization-code grant. ``extra_params`` adds
        what a server wants beyond RFC 6749 (``prompt``, ``nonce``, ``audience``, ``resource``);
        they cannot replace the parameters this method sets."""
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
        clashes = sorted(set(extra_params or {}) & {*params, "code_challenge", "code_challenge_method"})
        if clashes:
            raise DialectError(
                f"extra authorization parameters may not set {', '.join(clashes)}", vendor=self.dialect.name
            )
        params.update(extra_params or {})
        sep = "&" if "?" in self.authorization_url_base else "?"
        return f"{self.authorization_url_base}{sep}{urlencode(params)}"

    def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: SecretStr | str | None = None
    ) -> AccessToken:
        """Exchange an authorization code (with its PKCE verifier) for a token."""
        return self._send(_code_grant(code, redirect_uri, code_verifier))

    async def aexchange_code(
        self, code: str, redirect_uri: str, code_verifier: SecretStr | str | None = None
    ) -> AccessToken:
        return await self._asend(_code_grant(code, redirect_uri, code_verifier))

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

    def _parse(
        self, request: TokenRequest, status: int, headers: httpx.Headers, body: bytes, sent_at: datetime
    ) -> AccessToken:
        return parse_token_response(
            self.dialect,
            status=status,
            headers=headers,
            body=body,
            sent_at=sent_at,
            token_url=self.credentials.token_url,
            secrets=request.scrubbed(),
        )

    def tls_context(self) -> ssl.SSLContext:
        """The TLS settings of the token requests: the server verification and, with mutual
        TLS, the client certificate. ``get_client()`` uses the same context for API calls,
        since a certificate-bound token is only accepted with its certificate."""
        with self._ssl_lock:
            if self._ssl is None:
                if self._tls_key is not None and self.tls_certificate.strip():  # its own: it holds the key
                    self._ssl = client_tls_context(
                        self.tls_certificate,
                        self._tls_key,
                        context=httpx.create_ssl_context(verify=self.verify),
                        vendor=self.dialect.name,
                    )
                else:
                    self._ssl = shared_tls_context(self.verify)
            return self._ssl

    _ssl_context = tls_context

    @property
    def tls_key(self) -> SecretStr | None:
        """The mutual-TLS client certificate's private key (None without mutual TLS)."""
        return self._tls_key

    def _dpop_for(self, previous: AccessToken | None) -> DPoPKey | None:
        """The key to prove: a bound token's own (its refresh must show the same key), else
        this client's when it asks for DPoP; None for bearer tokens."""
        if previous is not None and previous.dpop_key is not None:
            return DPoPKey.from_json(previous.dpop_key, vendor=self.dialect.name)
        if not self.dpop:
            return None
        with self._ssl_lock:
            if self._dpop_key is None:
                self._dpop_key = DPoPKey.generate()
            return self._dpop_key

    def _send(self, grant: Grant, previous: AccessToken | None = None) -> AccessToken:
        return run_bounded(self._asend(grant, previous), self.timeout)

    async def _asend(self, grant: Grant, previous: AccessToken | None = None) -> AccessToken:
        """Send, parse; a DPoP token keeps the key it is bound to (``previous``'s, when a bound
        token is refreshed)."""
        key = self._dpop_for(previous)
        status, headers, body, sent_at, sent = await self._aexchange(grant, key)
        return bind_dpop(self._parse(sent, status, headers, body, sent_at), key)

    async def _aexchange(
        self, grant: Grant, key: DPoPKey | None
    ) -> tuple[int, httpx.Headers, bytes, datetime, TokenRequest]:
        """One token request to this client's endpoint (its TLS context: with mutual TLS, the
        client certificate). With a DPoP ``key``: a fresh proof per attempt, and a
        ``use_dpop_nonce`` answer retried once with the server's nonce (RFC 9449 8), the request
        built again (a client or grant assertion's ``jti`` is single-use) within the same
        deadline. Returns the answer and the request as sent (for the parser's secrets). Every
        token request (the device poll too) goes through here, so each grant gets the binding."""
        deadline = time.monotonic() + self.timeout
        for attempt in range(2):
            request = self._build(grant)
            sending = request
            if key is not None:
                proof = key.proof(
                    method=request.method, url=request.url, now=int(time.time()), nonce=self._dpop_nonce
                )
                sending = with_dpop(request, proof)
            status, headers, body, sent_at = await exchange(
                sending,
                vendor=self.dialect.name,
                token_url=self.credentials.token_url,
                timeout=max(deadline - time.monotonic(), 0.001),
                verify=self.tls_context(),
                transport=self._transport,
            )
            if key is not None:
                challenge = token_nonce_challenge(status, headers, body)
                self._dpop_nonce = challenge or dpop_nonce(headers) or self._dpop_nonce
                if challenge and attempt == 0:
                    continue
            return status, headers, body, sent_at, sending
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def bind_dpop(token: AccessToken, key: DPoPKey | None) -> AccessToken:
    """The token with the key it is bound to, when the server bound it (``token_type`` DPoP);
    a server that ignored the proof answers Bearer, and the token stays a bearer token."""
    if key is not None and token.token_type.lower() == "dpop":
        return token.model_copy(update={"dpop_key": key.to_json()})
    return token


async def exchange(
    request: TokenRequest,
    *,
    vendor: str,
    token_url: str,
    timeout: float,  # noqa: ASYNC109 - the one deadline of the whole exchange
    verify: ssl.SSLContext | bool,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[int, httpx.Headers, bytes, datetime]:
    """Send one token request under one deadline: (status, headers, body, when it was sent),
    or a typed error that never quotes its secrets. TokenClient and the importer's probe both
    send through here."""
    sent_at = datetime.now(UTC)
    progress = Progress()
    shown = safe_url(token_url)
    try:
        status, headers, body = await bounded_exchange(
            request.method,
            request.url,
            headers=request.headers,
            content=request.content,
            timeout=timeout,
            verify=verify,
            transport=transport,
            progress=progress,
        )
    except ResponseTooLarge:
        raise TokenResponseError(
            f"token endpoint answered more than {MAX_RESPONSE_BYTES} bytes; stopped reading",
            vendor=vendor,
            token_url=shown,
        ) from None
    except TimeoutError:
        raise TokenTransportError(
            f"token request took longer than its {timeout:g} s deadline",
            sent=progress.may_have_arrived(),
            vendor=vendor,
            token_url=shown,
        ) from None
    except httpx.HTTPError as exc:
        raise TokenTransportError(
            f"token request failed before an answer: {type(exc).__name__}",
            sent=progress.may_have_arrived(exc),
            vendor=vendor,
            token_url=shown,
            vendor_message=str(exc) or None,
            secrets=request.scrubbed(),
        ) from None
    return status, headers, body, sent_at


# The grants ``fetch`` can send without a person, by the block's grant name (a row each).
FETCH_GRANTS: dict[str, Callable[[TokenClient, tuple[str, ...] | None], Grant]] = {
    "client_credentials": lambda client, scopes: ClientCredentialsGrant(scopes),
    "password": lambda client, scopes: PasswordGrant(
        client.username, client.password or SecretStr(""), scopes
    ),
    "jwt_bearer": lambda client, scopes: JwtBearerGrant(subject=client.username, scopes=scopes),
}
USER_GRANTS = ("authorization_code", "device_code")  # a person's consent, then refresh only


def _scopes(scopes: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if scopes is None else tuple(scopes)


def _code_grant(code: str, redirect_uri: str, verifier: SecretStr | str | None) -> AuthorizationCodeGrant:
    if isinstance(verifier, str):
        verifier = SecretStr(verifier)
    return AuthorizationCodeGrant(SecretStr(code), redirect_uri, verifier)


def _carry_refresh(old: AccessToken, new: AccessToken) -> AccessToken:
    # RFC 6749 6: the server MAY issue a new refresh token; if it does not, the old one stays.
    if new.refresh_token is None and old.refresh_token is not None:
        return new.model_copy(
            update={"refresh_token": old.refresh_token, "refresh_expires_at": old.refresh_expires_at}
        )
    return new
