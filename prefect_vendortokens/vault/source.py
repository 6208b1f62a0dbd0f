"""Client credentials read from Vault when a token is needed (through the session's read
cache); the token client is rebuilt, from the account's ``ClientSpec``, only when they change
(a rotated secret)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pydantic import SecretStr

from ..core.identity import digest
from ..transport.client import TokenClient
from ..transport.spec import ClientSpec
from .errors import VaultSecretNotFoundError
from .session import VaultSession


@dataclass(frozen=True)
class SecretRef:
    """Where the client id and secret sit in Vault."""

    path: str
    mount: str = "secret"
    version: int | None = None
    client_id_key: str = "client_id"
    client_secret_key: str = "client_secret"  # "" when the client authenticates without one
    private_key_key: str = ""  # set for private_key_jwt
    tls_certificate_key: str = ""  # set for mutual TLS (unless the block holds the certificate)
    tls_key_key: str = ""  # set for mutual TLS: the certificate's private key


class VaultClientSource:
    """A manager's ``ClientSource`` backed by a Vault secret."""

    reloadable = True

    def __init__(
        self,
        session: VaultSession,
        ref: SecretRef,
        spec: ClientSpec,
        *,
        client_id: str = "",
        certificate: str = "",
    ) -> None:
        """``certificate``: the mutual-TLS client certificate when the block holds it (public;
        its key still comes from Vault)."""
        self._session, self._ref, self._spec, self._client_id = session, ref, spec, client_id
        self._certificate = certificate
        self._lock = threading.Lock()
        self._client: TokenClient | None = None
        self._fingerprint = ""

    def client(self, fresh: bool = False) -> TokenClient:
        ref = self._ref
        data = self._session.read_secret(ref.path, mount=ref.mount, version=ref.version, fresh=fresh)
        client_id = self._client_id or data.get(ref.client_id_key)
        secret = data.get(ref.client_secret_key) if ref.client_secret_key else ""
        key = data.get(ref.private_key_key) if ref.private_key_key else ""
        stored_certificate = data.get(ref.tls_certificate_key) if ref.tls_certificate_key else ""
        certificate = self._certificate or stored_certificate
        tls_key = data.get(ref.tls_key_key) if ref.tls_key_key else ""
        needed = [(ref.client_id_key, client_id)]
        needed += [
            (k, v)
            for k, v in (
                (ref.client_secret_key, secret),
                (ref.private_key_key, key),
                ("" if self._certificate else ref.tls_certificate_key, certificate),
                (ref.tls_key_key, tls_key),
            )
            if k
        ]
        missing = [k for k, v in needed if not v]
        if missing:
            config = self._session.config
            raise VaultSecretNotFoundError(
                f"{self._spec.label}: the Vault secret has no {' or '.join(repr(k) for k in missing)} "
                f"(keys present: {', '.join(sorted(data)) or 'none'})",
                address=config.address,
                namespace=config.namespace,
                mount=ref.mount,
                path=ref.path,
            )
        fingerprint = digest(f"{client_id}\0{secret}\0{key}\0{certificate}\0{tls_key}")
        with self._lock:
            if fingerprint != self._fingerprint or self._client is None:
                self._client = self._spec.client(
                    str(client_id),
                    SecretStr(str(secret)),
                    SecretStr(str(key)) if key else None,
                    (str(certificate), SecretStr(str(tls_key))) if tls_key else None,
                )
                self._fingerprint = fingerprint
            return self._client
