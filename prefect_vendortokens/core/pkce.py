"""PKCE (RFC 7636) verifier and S256 challenge."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from pydantic import SecretStr


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Pkce:
    """A code verifier (secret) and its S256 challenge (public, goes in the authorize URL)."""

    verifier: SecretStr
    challenge: str
    method: str = "S256"

    @classmethod
    def generate(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)[:96]  # 43..128 unreserved characters
        return cls(verifier=SecretStr(verifier), challenge=s256(verifier))
