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
from ..core.service_account import parse_service_account_key
from .client import TokenClient


@dataclass(frozen=True)
class GrantSecrets:
    """The grant's own secrets, read with the client credentials (inline or from Vault): the
    password grant's password, a Google service-account key file (JSON) for the JWT bearer
    grant. ``repr`` shows neither."""

    password: SecretStr | None = None
    service_account_key: SecretStr | None = None
    username: str = ""  # from Vault when the block names none

    def __repr__(self) -> str:
        return f"GrantSecrets(username={self.username!r})"


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
    grant: str = "client_credentials"  # what ``fetch`` asks with: a row of the block's GRANTS
    username: str = ""  # the password grant's user; the JWT bearer assertion's subject
    token_url_given: bool = False  # the block's own token URL beats a key file's token_uri
    device_authorization_url: str = ""

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
        grant_secrets: GrantSecrets | None = None,
        tls: tuple[str, SecretStr] | None = None,
    ) -> TokenClient:
        """The account's client with these credentials (``tls``: the mutual-TLS client
        certificate and its key, PEM); with an issuer, its endpoints come from
        discovery (a blocking read, cached per process: the manager builds clients in a thread).
        A service-account key file fills the client id (its client_email, the assertion's
        issuer), the key, its id and, unless the block names one, the token URL."""
        secrets = grant_secrets or GrantSecrets()
        key_id, token_url = self.key_id, self.token_url
        if secrets.service_account_key is not None:
            key = parse_service_account_key(
                secrets.service_account_key,
                where=f"{self.label} service_account_key",
                vendor=self.dialect.name,
            )
            client_id, private_key, key_id = key.issuer, key.private_key, key_id or key.key_id
            if not self.token_url_given and not self.issuer:
                token_url = key.token_uri
        options: dict[str, Any] = {
            "scopes": self.scopes,
            "extra": self.extra,
            "timeout": self.timeout,
            "verify": self.verify(),
            "authorization_url": self.authorization_url or None,
            "private_key": private_key,
            "key_id": key_id,
            "signing_alg": self.signing_alg,
            "assertion_audience": self.assertion_audience,
            "grant": self.grant,
            "username": self.username or secrets.username,
            "password": secrets.password,
            "device_authorization_url": self.device_authorization_url or None,
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
        return TokenClient(self.dialect, token_url, client_id, client_secret, **options)
