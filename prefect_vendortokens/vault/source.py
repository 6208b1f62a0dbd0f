"""Client credentials read from Vault when a token is needed (through the session's read
cache); the token client is rebuilt, from the account's ``ClientSpec``, only when they change
(a rotated secret)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from pydantic import SecretStr

from ..core.identity import digest
from ..transport.client import TokenClient
from ..transport.spec import ClientSpec, GrantSecrets
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
    # Grant jwt_bearer: the secret holds a private key or a Google key file (either will do).
    signing_key_key: str = ""
    service_account_key_key: str = ""
    # Grant password: the user's name (unless the block names one) and password.
    username_key: str = ""
    password_key: str = ""
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
        key_file = data.get(ref.service_account_key_key) if ref.service_account_key_key else None
        client_id = self._client_id or data.get(ref.client_id_key)
        secret = data.get(ref.client_secret_key) if ref.client_secret_key else ""
        key = data.get(ref.private_key_key) if ref.private_key_key else ""
        if ref.signing_key_key and not key_file:
            key = key or data.get(ref.signing_key_key) or ""
        username = data.get(ref.username_key) if ref.username_key else ""
        password = data.get(ref.password_key) if ref.password_key else ""
        stored_certificate = data.get(ref.tls_certificate_key) if ref.tls_certificate_key else ""
        certificate = self._certificate or stored_certificate
        tls_key = data.get(ref.tls_key_key) if ref.tls_key_key else ""
        # A key file names its issuer: no client id needed beside it.
        needed = [] if key_file else [(ref.client_id_key, client_id)]
        needed += [
            (k, v)
            for k, v in (
                (ref.client_secret_key, secret),
                (ref.private_key_key, key),
                (ref.username_key, username),
                (ref.password_key, password),
                ("" if self._certificate else ref.tls_certificate_key, certificate),
                (ref.tls_key_key, tls_key),
            )
            if k
        ]
        if ref.signing_key_key and not key_file:
            needed.append((f"{ref.signing_key_key} (or {ref.service_account_key_key})", key))
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
        # Vault's KV may hold the key file as its JSON text or as the object itself.
        key_text = json.dumps(key_file) if isinstance(key_file, dict) else str(key_file or "")
        fingerprint = digest(
            f"{client_id}\0{secret}\0{key}\0{username}\0{password}\0{key_text}\0{certificate}\0{tls_key}"
        )
        with self._lock:
            if fingerprint != self._fingerprint or self._client is None:
                grant_secrets = GrantSecrets(
                    password=SecretStr(str(password)) if password else None,
                    service_account_key=SecretStr(key_text) if key_text else None,
                    username=str(username or ""),
                )
                self._client = self._spec.client(
                    str(client_id or ""),
                    SecretStr(str(secret)),
                    SecretStr(str(key)) if key else None,
                    grant_secrets,
                    (str(certificate), SecretStr(str(tls_key))) if tls_key else None,
                )
                self._fingerprint = fingerprint
            return self._client
