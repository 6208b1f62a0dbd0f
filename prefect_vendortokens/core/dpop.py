"""DPoP (RFC 9449), sans-IO: tokens bound to a key pair, proven on every request.

A DPoP-bound token is useless without the private key: each token request and each API call
carries a fresh proof (a JWT signed with that key, naming the method and URL, for API calls also
a hash of the token). One key per account, kept in the shared store beside the token (its JSON
from ``DPoPKey.to_json()``), so every process proves the same key. Key loading and signing are
``assertion``'s. The engine's order:

    key = DPoPKey.from_json(stored) or DPoPKey.generate()        # once per account
    token request: request = with_dpop(build_token_request(...), key.proof(method=request.method,
                   url=request.url, now=now, nonce=nonce))
                   a 400 answer: nonce = token_nonce_challenge(status, headers, body) -> send once
                   more with a new proof carrying it; keep dpop_nonce(headers) of every answer
    API call:      headers["Authorization"] = f"DPoP {token}"; headers["DPoP"] = key.proof(method,
                   url, now=now, access_token=token, nonce=api_nonce)
                   a 401 answer: api_nonce = resource_nonce_challenge(status, headers) -> replay once

Nonces are per server (the token endpoint's and each API's), remembered from ``DPoP-Nonce``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from joserfc.jwk import ECKey
from pydantic import SecretStr

from .assertion import sign
from .errors import DialectError
from .request import TokenRequest

ALG = "ES256"
CURVE = "P-256"
PROOF_TYPE = "dpop+jwt"
_NONCE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,1024}")  # RFC 9449 8.1: NQCHAR
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*\s*(?:,|$)")
_AUTH_PARAM = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*,?')


@dataclass(frozen=True)
class DPoPKey:
    """An EC P-256 key pair as a private JWK (JSON, a secret). ``repr`` shows its thumbprint."""

    private_jwk: SecretStr = field(repr=False)

    @classmethod
    def generate(cls) -> DPoPKey:
        key = ECKey.generate_key(CURVE, private=True)
        return cls(SecretStr(json.dumps(key.as_dict(private=True), sort_keys=True)))

    @classmethod
    def from_json(cls, text: str | SecretStr | Mapping[str, Any], *, vendor: str = "") -> DPoPKey:
        """A key kept with ``to_json``; a ``DialectError`` (never quoting it) when it is not a
        private EC P-256 JWK."""
        raw = text.get_secret_value() if isinstance(text, SecretStr) else text
        try:
            data = json.loads(raw) if isinstance(raw, str) else dict(raw)
            valid = data.get("kty") == "EC" and data.get("crv") == CURVE and bool(data.get("d"))
            loaded = cls(SecretStr(json.dumps(data, sort_keys=True))) if valid else None
            if loaded is not None:
                loaded._key  # noqa: B018 - loads it: a broken key fails here, not at the first proof
        except (ValueError, TypeError, AttributeError, RecursionError):
            loaded = None
        if loaded is None:
            raise DialectError("the stored DPoP key is not a private EC P-256 JWK", vendor=vendor or None)
        return loaded

    def to_json(self) -> SecretStr:
        """The private JWK, for the shared store (encrypted there, like the token)."""
        return self.private_jwk

    @cached_property
    def _key(self) -> ECKey:
        return ECKey.import_key(json.loads(self.private_jwk.get_secret_value()))

    @property
    def public_jwk(self) -> dict[str, str]:
        return {k: str(v) for k, v in self._key.as_dict(private=False).items()}

    @property
    def thumbprint(self) -> str:
        """RFC 7638 SHA-256 thumbprint: the token's ``cnf.jkt``, the ``dpop_jkt`` parameter."""
        return self._key.thumbprint()

    def __repr__(self) -> str:
        return f"DPoPKey(thumbprint={self.thumbprint!r})"

    def proof(
        self,
        *,
        method: str,
        url: str,
        now: int,
        access_token: str | SecretStr | None = None,
        nonce: str | None = None,
        jti: str | None = None,
    ) -> str:
        """A proof for one request (RFC 9449 4.2): ``htm``, ``htu`` (the URL without query and
        fragment), ``iat``, a fresh ``jti``; ``ath`` for an API call with ``access_token``;
        ``nonce`` when the server gave one."""
        claims: dict[str, Any] = {
            "jti": jti or secrets.token_urlsafe(24),
            "htm": method.upper(),
            "htu": htu(url),
            "iat": now,
        }
        if access_token is not None:
            value = access_token.get_secret_value() if isinstance(access_token, SecretStr) else access_token
            claims["ath"] = ath(value)
        if nonce:
            claims["nonce"] = nonce
        return sign(
            self._key,
            claims,
            alg=ALG,
            typ=PROOF_TYPE,
            header={"jwk": self.public_jwk},
            what="the DPoP proof",
        )


def htu(url: str) -> str:
    """The proof's ``htu``: the request URL without its query and fragment (RFC 9449 4.2)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


def ath(access_token: str) -> str:
    """base64url(SHA-256(access token)), unpadded: binds an API call's proof to the token."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def with_dpop(request: TokenRequest, proof: str) -> TokenRequest:
    """The token request with its ``DPoP`` header (a proof made for its method and URL)."""
    return replace(request, headers={**request.headers, "DPoP": proof})


def dpop_nonce(headers: Mapping[str, str]) -> str | None:
    """The ``DPoP-Nonce`` a server sent (on any answer, to be used from the next proof on);
    None when absent or not a valid nonce."""
    value = _header(headers, "dpop-nonce")
    return value if value is not None and _NONCE.fullmatch(value) else None


def token_nonce_challenge(status: int, headers: Mapping[str, str], body: bytes) -> str | None:
    """The nonce to retry a token request with, when the token endpoint answered 400
    ``use_dpop_nonce`` with a ``DPoP-Nonce`` (RFC 9449 8); else None."""
    if status != 400:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("error") != "use_dpop_nonce":
        return None
    return dpop_nonce(headers)


def resource_nonce_challenge(status: int, headers: Mapping[str, str]) -> str | None:
    """The nonce to replay an API call with, when the API answered 401 with
    ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` and a ``DPoP-Nonce`` (RFC 9449 9); else
    None."""
    if status != 401:
        return None
    challenge = www_authenticate(_header(headers, "www-authenticate") or "").get("dpop", {})
    if challenge.get("error") != "use_dpop_nonce":
        return None
    return dpop_nonce(headers)


def www_authenticate(value: str) -> dict[str, dict[str, str]]:
    """The challenges of a ``WWW-Authenticate`` value (RFC 9110 11.6.1) by lower-case scheme,
    each with its auth-params (quoted strings unquoted). Token68 values are skipped."""
    challenges: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    rest = value.strip()
    while rest:
        param = _AUTH_PARAM.match(rest) if current is not None else None
        if param and current is not None:
            name, raw = param.group(1).lower(), param.group(2)
            quoted = len(raw) >= 2 and raw[0] == raw[-1] == '"'
            current[name] = re.sub(r"\\(.)", r"\1", raw[1:-1]) if quoted else raw
            rest = rest[param.end() :].lstrip(", ")
            continue
        scheme, _, rest = rest.partition(" ")
        scheme, rest = scheme.strip(", "), rest.strip()
        if scheme:
            current = challenges.setdefault(scheme.lower(), {})
            token68 = _TOKEN68.match(rest)
            if token68:
                rest = rest[token68.end() :].strip()
    return challenges


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
