"""The JWT bearer grant's assertion (RFC 7523 section 2.1): service accounts.

Unlike a client assertion (``assertion``, RFC 7523 2.2), this JWT *is* the grant: the issuer
(a service account, a connected app's consumer key) asserts a subject and asks for a token, and
the server checks the signature with the public key registered for the issuer. Key loading and
signing are ``assertion``'s; this module only chooses the claims. Pure: the time is a parameter.

The engine never calls this directly: ``build_token_request(dialect, creds, JwtBearerGrant(...))``
builds the whole request (claims from the dialect, key from ``creds.private_key``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from pydantic import JsonValue, SecretStr

from .assertion import load_private_key, sign
from .errors import DialectError

MAX_LIFETIME = 3600  # Google refuses more than an hour; RFC 7523 leaves it to the server
RESERVED = frozenset({"iss", "sub", "aud", "iat", "exp", "jti"})


def grant_assertion(
    private_key: SecretStr | None,
    *,
    issuer: str,
    audience: str,
    now: int,
    lifetime: int = 300,
    subject: str = "",
    claims: Mapping[str, JsonValue] | None = None,
    key_id: str = "",
    alg: str = "",
    jti: str | None = None,
    vendor: str = "",
) -> str:
    """The signed grant assertion: ``iss``, ``sub`` (when given), ``aud``, ``iat``, ``exp`` =
    ``iat`` + ``lifetime`` and a fresh ``jti``, plus ``claims`` (the scope claim, a vendor's own
    ones); those may not replace the registered six. The key is PEM or a JWK; errors never quote
    it."""
    if private_key is None or not private_key.get_secret_value().strip():
        raise DialectError("the JWT bearer grant needs a private key; none is configured", vendor=vendor)
    if not 0 < lifetime <= MAX_LIFETIME:
        raise DialectError(f"the assertion lifetime must be 1..{MAX_LIFETIME} s", vendor=vendor)
    extra = dict(claims or {})
    clash = sorted(RESERVED & set(extra))
    if clash:
        raise DialectError(f"assertion claims may not set {', '.join(clash)}", vendor=vendor)
    key = load_private_key(private_key.get_secret_value(), vendor=vendor, purpose="the JWT bearer grant")
    payload: dict[str, JsonValue] = {"iss": issuer}
    if subject:
        payload["sub"] = subject
    payload |= {
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti or secrets.token_urlsafe(24),
        **extra,
    }
    return sign(key, payload, key_id=key_id, alg=alg, vendor=vendor, what="the JWT bearer assertion")
