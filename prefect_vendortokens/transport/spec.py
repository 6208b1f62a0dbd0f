"""``ClientSpec``: everything that builds an account's ``TokenClient`` except its secrets, frozen.
A credentials source (inline, or a Vault secret) completes it with the client id and secret it
read, and so builds the client itself: nothing below the block calls back into the block."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from pydantic import JsonValue, SecretStr

from ..core.dialect import TokenDialect
from ..core.errors import DialectError
from .client import TokenClient


@dataclass(frozen=True)
class ClientSpec:
    """How one account asks for tokens: the dialect, where (a token URL, or an issuer whose
    metadata names it), what for, and how the connection is made."""

    dialect: TokenDialect
    token_url: str = ""  # empty with an issuer: discovery finds it at use time
    issuer: str = ""
    scopes: tuple[str, ...] = ()
    extra: dict[str, JsonValue] = field(default_factory=dict)
    timeout: float = 30.0
    verify_tls: bool = True
    ca_bundle_path: str = ""
    authorization_url: str = ""
    key_id: str = ""
    signing_alg: str = ""
    assertion_audience: str = ""
    dpop: bool = False  # ask for DPoP-bound tokens (RFC 9449)
    label: str = ""  # names the account in errors

    def verify(self) -> bool | ssl.SSLContext:
        """The TLS verification of the token endpoint: a CA bundle's context, or on/off."""
        path = self.ca_bundle_path.strip()
        if not path:
            return self.verify_tls
        try:
            return ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:  # missing or not a PEM file
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise DialectError(
                f"{self.label}: cannot use the CA bundle {path}: {reason}", vendor=self.dialect.name
            ) from None

    def client(
        self,
        client_id: str,
        client_secret: SecretStr,
        private_key: SecretStr | None = None,
        tls: tuple[str, SecretStr] | None = None,
    ) -> TokenClient:
        """The account's client with these credentials (``tls``: the mutual-TLS client
        certificate and its key, PEM); with an issuer, its endpoints come from discovery (a
        blocking read, cached per process: the manager builds clients in a thread)."""
        options: dict[str, Any] = {
            "scopes": self.scopes,
            "extra": self.extra,
            "timeout": self.timeout,
            "verify": self.verify(),
            "authorization_url": self.authorization_url or None,
            "private_key": private_key,
            "key_id": self.key_id,
            "signing_alg": self.signing_alg,
            "assertion_audience": self.assertion_audience,
            "dpop": self.dpop,
            **({"tls_certificate": tls[0], "tls_key": tls[1]} if tls is not None else {}),
        }
        if self.issuer:
            return TokenClient.from_issuer(
                self.dialect,
                self.issuer,
                client_id,
                client_secret,
                token_url=self.token_url or None,
                **options,
            )
        return TokenClient(self.dialect, self.token_url, client_id, client_secret, **options)
