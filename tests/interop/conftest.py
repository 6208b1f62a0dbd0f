"""One oidc-provider for the interop tests, with our clients: the defaults of
``provider/default-clients.json``, the private_key_jwt client's key generated here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from joserfc.jwk import RSAKey

from .provider_server import PROVIDER, Provider, provider


@dataclass
class Interop:
    server: Provider
    private_key_pem: str
    key_id: str

    @property
    def issuer(self) -> str:
        return self.server.issuer


@pytest.fixture(scope="session")
def interop() -> Iterator[Interop]:
    key = RSAKey.generate_key(2048, parameters={"kid": "interop-key-1", "use": "sig", "alg": "RS256"})
    clients = json.loads((PROVIDER / "default-clients.json").read_text())["clients"]
    for client in clients:
        if client["client_id"] == "jwt-client":
            client["jwks"] = {"keys": [key.as_dict(private=False)]}
    with provider(clients) as server:
        yield Interop(server, key.as_pem(private=True).decode(), "interop-key-1")
