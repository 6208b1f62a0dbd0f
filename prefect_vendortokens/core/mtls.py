"""Mutual TLS for OAuth clients (RFC 8705): the client certificate as an ``ssl.SSLContext``.

With ``tls_client_auth`` or ``self_signed_tls_client_auth`` the certificate authenticates the
client at the token endpoint, and the tokens it gets are bound to it (``cnf.x5t#S256``), so
every API call must present it too: the transport's token requests and ``get_client()`` both
use the context built here. The certificate and key are PEM text (from the block or Vault),
checked to belong together before any connection.

The ``ssl`` module loads a client certificate only from a file. The key never reaches a disk in
the clear: it is re-encrypted with a one-time random passphrase and written, with the
certificate, to an anonymous in-memory file (``memfd``, Linux); where there is none, to a 0600
temporary file that is removed as soon as ``load_cert_chain`` has read it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import ssl
import tempfile
from collections.abc import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from .errors import DialectError


def client_tls_context(
    certificate: str,
    private_key: SecretStr | str,
    *,
    context: ssl.SSLContext | None = None,
    ca_pem: str = "",
    key_password: SecretStr | None = None,
    vendor: str = "",
) -> ssl.SSLContext:
    """An SSL context that presents ``certificate`` (PEM, the leaf first, then any
    intermediates) with ``private_key`` (PEM, ``key_password`` when it is encrypted). Into
    ``context`` when given (the transport's, with its own server verification), else a default
    client context trusting ``ca_pem`` (PEM text) or the system's CAs. A ``DialectError`` names
    what is wrong and never quotes the key."""
    chain = _certificates(certificate, vendor)
    key_text = private_key.get_secret_value() if isinstance(private_key, SecretStr) else private_key
    password = key_password.get_secret_value().encode() if key_password is not None else None
    try:
        key = serialization.load_pem_private_key(key_text.strip().encode(), password=password)
    except (ValueError, TypeError):
        raise DialectError(
            "the client certificate's private key is not a PEM private key (or its password is wrong)",
            vendor=vendor or None,
        ) from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.PEM
    leaf = chain[0].public_key().public_bytes(encoding, public)
    if key.public_key().public_bytes(encoding, public) != leaf:
        raise DialectError(
            "the client certificate and its private key do not belong together", vendor=vendor or None
        )
    if context is None:
        context = ssl.create_default_context(cadata=ca_pem or None)
    once = secrets.token_urlsafe(32).encode()
    pem = key.private_bytes(
        encoding, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(once)
    ) + b"".join(cert.public_bytes(encoding) for cert in chain)
    with _private_file(pem) as path:
        try:
            context.load_cert_chain(path, password=once)
        except ssl.SSLError as exc:
            raise DialectError(
                f"the TLS library refused the client certificate ({exc.reason or type(exc).__name__})",
                vendor=vendor or None,
            ) from None
    return context


def check_client_certificate(
    certificate: str, private_key: SecretStr | str, *, key_password: SecretStr | None = None, vendor: str = ""
) -> None:
    """The checks of ``client_tls_context`` (a PEM certificate, a PEM key, the two belonging
    together), without loading any CA: what a block runs when it is made."""
    client_tls_context(
        certificate,
        private_key,
        context=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
        key_password=key_password,
        vendor=vendor,
    )


def certificate_thumbprint(certificate: str) -> str:
    """RFC 8705 3.1: base64url(SHA-256(DER)) of the leaf certificate, the ``x5t#S256`` a bound
    token's ``cnf`` carries."""
    der = _certificates(certificate, "")[0].public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def _certificates(text: str, vendor: str) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(text.strip().encode())
    except ValueError:
        chain = []
    if not chain:
        raise DialectError("the client certificate is not a PEM certificate", vendor=vendor or None)
    return chain


@contextlib.contextmanager
def _private_file(content: bytes) -> Iterator[str]:
    """A path to ``content`` that only this process can read, gone when the block ends."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("vendortokens-client-certificate", os.MFD_CLOEXEC)
        try:
            os.write(fd, content)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="vendortokens-", suffix=".pem")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        yield path
    finally:
        os.unlink(path)
