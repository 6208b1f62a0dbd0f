"""One oidc-provider for the interop tests, with our clients: the defaults of
``provider/default-clients.json``, the private_key_jwt client's key generated here, and a test CA
(made here) for its mTLS listener: the server's certificate, ``mtls-client``'s CA-issued one and
``self-signed-client``'s self-signed one (registered as its JWKS ``x5c``)."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey, RSAKey

from .certs import Issued, TestCA, self_signed
from .provider_server import PROVIDER, Provider, provider

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class Interop:
    server: Provider
    private_key_pem: str
    key_id: str
    ca: TestCA
    mtls_client: Issued  # CA-issued, CN=mtls-client (tls_client_auth)
    self_signed_client: Issued  # registered with self-signed-client (self_signed_tls_client_auth)

    @property
    def issuer(self) -> str:
        return self.server.issuer


def x5c_jwk(issued: Issued) -> dict:
    """The certificate as a public JWK with ``x5c``, as a client registers it."""
    cert = x509.load_pem_x509_certificate(issued.certificate.encode())
    jwk = ECKey.import_key(issued.private_key).as_dict(private=False)
    return {**jwk, "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]}


# User grants of bound tokens for the blocks' tests (test_bound_blocks.py): a public client
# whose tokens (and, being public, refresh tokens) are DPoP-bound, and an mTLS client with
# mtls-client's certificate (the same subject) that may also ask a user's consent.
_USER_GRANT = {
    "application_type": "native",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "redirect_uris": ["http://127.0.0.1/callback"],
}
BOUND_USER_CLIENTS = [
    {
        "client_id": "dpop-public",
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": True,
        **_USER_GRANT,
    },
    {
        "client_id": "mtls-user",
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": "CN=mtls-client",
        "tls_client_certificate_bound_access_tokens": True,
        **_USER_GRANT,
    },
]


@pytest.fixture(scope="session")
def interop() -> Iterator[Interop]:
    with running_interop() as it:
        yield it


@contextlib.contextmanager
def running_interop() -> Iterator[Interop]:
    """The provider with our clients and the test CA, for as long as the block runs (the
    fixture above; the UI tests start their own)."""
    key = RSAKey.generate_key(2048, parameters={"kid": "interop-key-1", "use": "sig", "alg": "RS256"})
    clients = json.loads((PROVIDER / "default-clients.json").read_text())["clients"]
    for client in clients:
        if client["client_id"] == "jwt-client":
            client["jwks"] = {"keys": [key.as_dict(private=False)]}
    ca = TestCA()
    server_cert, mtls_client, own = ca.server(), ca.client("mtls-client"), self_signed("self-signed-client")
    clients.append(
        {
            "client_id": "self-signed-client",
            "token_endpoint_auth_method": "self_signed_tls_client_auth",
            "tls_client_certificate_bound_access_tokens": True,
            "jwks": {"keys": [x5c_jwk(own)]},
            "grant_types": ["client_credentials", DEVICE_GRANT],
            "redirect_uris": [],
            "response_types": [],
        }
    )
    clients.extend(BOUND_USER_CLIENTS)
    tls = {"cert": server_cert.certificate, "key": server_cert.private_key, "ca": ca.certificate}
    with provider(clients, tls=tls) as server:
        yield Interop(server, key.as_pem(private=True).decode(), "interop-key-1", ca, mtls_client, own)
