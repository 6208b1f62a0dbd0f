"""Client assertions (RFC 7523 section 2.2): ``private_key_jwt`` and ``client_secret_jwt``.

A short-lived JWT signed with the client's private key (or, for ``client_secret_jwt``, an HMAC
of its secret) stands in for the secret on the wire. Signing is joserfc's (authlib's JOSE
library); this module only chooses the claims. Pure: the time is a parameter. The key loading
and ``sign`` serve the JWT bearer grant's assertion (``jwt_bearer``) and DPoP proofs too.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey, import_key

from .errors import DialectError

ASSERTION_LIFETIME = 60  # seconds: long enough for clock skew, short enough to be useless stolen
_DEFAULT_ALG = {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA", "oct": "HS256"}
_EC_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}

SigningKey = RSAKey | ECKey | OKPKey | OctKey


def load_private_key(text: str, *, vendor: str, purpose: str = "private_key_jwt") -> SigningKey:
    """A private key from PEM or a JWK (JSON). The error names ``purpose`` and never quotes the
    key."""
    text = text.strip()
    try:
        if text.startswith("{"):
            return import_key(json.loads(text))
        for kind in ("RSA", "EC", "OKP"):
            try:
                return import_key(text, kind)
            except (JoseError, ValueError, TypeError):
                continue
    except (JoseError, ValueError, TypeError):
        pass
    raise DialectError(f"the private key for {purpose} is neither a PEM private key nor a JWK", vendor=vendor)


def secret_key(secret: str, *, vendor: str) -> OctKey:
    """The HMAC key of ``client_secret_jwt``: the client secret's bytes."""
    if not secret:
        raise DialectError("client_secret_jwt needs a client secret", vendor=vendor)
    return OctKey.import_key(secret.encode())


def client_assertion(
    key: SigningKey,
    *,
    client_id: str,
    audience: str,
    now: int,
    key_id: str = "",
    alg: str = "",
    jti: str | None = None,
    vendor: str = "",
) -> str:
    """The signed assertion: ``iss`` = ``sub`` = client id, ``aud``, ``iat``, a short ``exp``,
    a unique ``jti`` (servers refuse a replayed one)."""
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
        "jti": jti or secrets.token_urlsafe(24),
    }
    return sign(key, claims, key_id=key_id, alg=alg, vendor=vendor, what="the client assertion")


def sign(
    key: SigningKey,
    claims: dict[str, Any],
    *,
    key_id: str = "",
    alg: str = "",
    typ: str = "JWT",
    header: dict[str, Any] | None = None,
    vendor: str = "",
    what: str = "the assertion",
) -> str:
    """``claims`` as a compact JWS signed with ``key``: ``alg`` (else the key's usual one), the
    ``kid`` (``key_id``, else the key's own), ``typ`` and any ``header`` fields. A failure names
    ``what`` and the algorithm, never the key."""
    chosen = alg or _default_alg(key)
    protected: dict[str, Any] = {"alg": chosen, "typ": typ}
    kid = key_id or (key.kid if not isinstance(key, OctKey) else None)
    if kid:
        protected["kid"] = kid
    protected.update(header or {})
    try:
        return jwt.encode(protected, claims, key, algorithms=[chosen])
    except (JoseError, ValueError, TypeError) as exc:
        reason = type(exc).__name__
        raise DialectError(f"cannot sign {what} with {chosen} ({reason})", vendor=vendor) from None


def _default_alg(key: SigningKey) -> str:
    if isinstance(key, ECKey):
        return _EC_ALG.get(str(key.curve_name), "ES256")
    return _DEFAULT_ALG[key.key_type]
