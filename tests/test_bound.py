"""Narrow tests of the bound-token wiring (pure parts and the httpx auth over a mock transport;
the real servers are tests/interop/test_bound_blocks.py): DPoP proofs and nonce retries on the
token endpoint and in ``VendorTokenAuth`` (with the renewal on a real 401 still working), the
key kept in the one stored form and dropped by pickling, discovery's mTLS aliases, and an mTLS
client that refuses to start without its certificate."""

from __future__ import annotations

import base64
import json
import pickle
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey
from pydantic import SecretStr

from prefect_vendortokens import AccessToken, TokenClient, TokenManager, VendorTokenAuth, get_dialect
from prefect_vendortokens.core.dpop import DPoPKey, ath
from prefect_vendortokens.core.errors import DialectError
from prefect_vendortokens.core.token import ExpirySource
from prefect_vendortokens.engine.manager import LazyClientSource
from prefect_vendortokens.engine.ports import StoredRecord
from prefect_vendortokens.stores.codec import dump_record, dump_token, load_record, load_token
from prefect_vendortokens.transport.discovery import _parse

TOKEN_URL = "https://auth.example/token"
API = "https://api.example/v1/things?page=2"


def _claims(proof: str) -> tuple[dict, dict]:
    """The proof's header and claims, its signature checked with the key it carries."""
    head = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    verified = jws.deserialize_compact(proof, ECKey.import_key(head["jwk"]))
    return head, json.loads(verified.payload)


class Server:
    """A token endpoint and an API that both demand DPoP nonces (RFC 9449 8 and 9), and an API
    that rejects the first token once it is "revoked"."""

    def __init__(self) -> None:
        self.issued = 0
        self.revoked: set[str] = set()
        self.log: list[tuple[str, int]] = []
        self.jkt: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self._answer(request)
        self.log.append((request.url.host, response.status_code))
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        proof = request.headers.get("dpop")
        if proof is None:
            return httpx.Response(400, json={"error": "invalid_dpop_proof"})
        head, claims = _claims(proof)
        assert head["typ"] == "dpop+jwt" and head["alg"] == "ES256" and "d" not in head["jwk"]
        assert claims["htm"] == request.method and claims["jti"]
        self.jkt.add(ECKey.import_key(head["jwk"]).thumbprint())
        if request.url.host == "auth.example":
            assert claims["htu"] == TOKEN_URL and "ath" not in claims
            if claims.get("nonce") != "token-nonce":
                return httpx.Response(
                    400, json={"error": "use_dpop_nonce"}, headers={"DPoP-Nonce": "token-nonce"}
                )
            self.issued += 1
            body = {"access_token": f"at-{self.issued}", "token_type": "DPoP", "expires_in": 3600}
            return httpx.Response(200, json=body)
        token = request.headers["authorization"].removeprefix("DPoP ")
        assert request.headers["authorization"].startswith("DPoP ")
        assert claims["htu"] == "https://api.example/v1/things"  # no query
        assert claims["ath"] == ath(token)
        if claims.get("nonce") != "api-nonce":
            challenge = 'DPoP error="use_dpop_nonce", algs="ES256"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge, "DPoP-Nonce": "api-nonce"})
        if token in self.revoked:
            return httpx.Response(401, headers={"WWW-Authenticate": 'DPoP error="invalid_token"'})
        return httpx.Response(200, json={"token": token})


def _client(server: Server, **kwargs) -> TokenClient:
    return TokenClient(
        "oauth2",
        TOKEN_URL,
        "client",
        "secret",
        transport=httpx.MockTransport(server),
        dpop=True,
        **kwargs,
    )


def test_token_request_answers_the_nonce_challenge_once_and_keeps_the_key() -> None:
    server = Server()
    client = _client(server)
    token = client.fetch()
    assert token.token_type == "DPoP" and token.dpop_key is not None
    assert server.log == [("auth.example", 400), ("auth.example", 200)]
    assert token.dpop_key.get_secret_value() not in repr(token) + str(token)
    client.fetch()  # the kept nonce: no second challenge
    assert server.log[2:] == [("auth.example", 200)]
    assert server.jkt == {DPoPKey.from_json(token.dpop_key).thumbprint}


def test_refresh_proves_the_tokens_own_key() -> None:
    server = Server()
    other = DPoPKey.generate()
    now = datetime.now(UTC)
    stored = AccessToken(
        access_token=SecretStr("old"),
        token_type="DPoP",
        issued_at=now,
        expires_at=now + timedelta(minutes=5),
        expiry_source=ExpirySource.EXPIRES_IN,
        refresh_token=SecretStr("rt"),
        dpop_key=other.to_json(),
    )
    renewed = _client(server).refresh(stored)
    assert server.jkt == {other.thumbprint}  # not the client's own key
    assert renewed.dpop_key is not None
    assert renewed.dpop_key.get_secret_value() == other.to_json().get_secret_value()


def test_api_calls_carry_a_proof_answer_the_nonce_challenge_and_still_renew_on_401() -> None:
    server = Server()
    manager = TokenManager("dpop-unit", LazyClientSource(lambda: _client(server)))
    auth = VendorTokenAuth(manager)
    with httpx.Client(auth=auth, transport=httpx.MockTransport(server)) as http:
        first = http.get(API)
        assert first.status_code == 200 and first.json() == {"token": "at-1"}
        assert server.log[-2:] == [("api.example", 401), ("api.example", 200)]
        http.get(API)
        assert server.log[-1] == ("api.example", 200)  # the kept nonce
        server.revoked.add("at-1")
        replaced = http.get(API)  # invalid_token: one new token, one replay
    assert replaced.status_code == 200 and replaced.json() == {"token": "at-2"}
    assert server.issued == 2


def test_a_bearer_token_gets_no_proof() -> None:
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "auth.example":
            return httpx.Response(
                200, json={"access_token": "plain", "token_type": "Bearer", "expires_in": 60}
            )
        return httpx.Response(200)

    client = TokenClient("oauth2", TOKEN_URL, "c", "s", transport=httpx.MockTransport(server))
    manager = TokenManager("bearer-unit", LazyClientSource(lambda: client))
    with httpx.Client(auth=VendorTokenAuth(manager), transport=httpx.MockTransport(server)) as http:
        http.get(API)
    assert "dpop" not in seen[0].headers and "dpop" not in seen[1].headers
    assert seen[1].headers["authorization"] == "Bearer plain"


def test_the_key_is_kept_in_the_stored_form_and_dropped_by_pickle() -> None:
    key = DPoPKey.generate()
    now = datetime.now(UTC)
    token = AccessToken(
        access_token=SecretStr("at"),
        token_type="DPoP",
        issued_at=now,
        expires_at=now + timedelta(minutes=5),
        expiry_source=ExpirySource.EXPIRES_IN,
        dpop_key=key.to_json(),
    )
    private = json.loads(key.to_json().get_secret_value())["d"]
    assert private in dump_record(StoredRecord(token))  # in clear inside the store's secret field
    for loaded in (load_record(dump_record(StoredRecord(token))).token, load_token(dump_token(token))):
        assert loaded is not None and loaded.dpop_key is not None
        assert DPoPKey.from_json(loaded.dpop_key).thumbprint == key.thumbprint
    unpickled = pickle.loads(pickle.dumps(token))
    assert unpickled.redacted and unpickled.dpop_key is None
    assert private.encode() not in pickle.dumps(token)


def test_discovery_reads_the_mtls_aliases_https_only() -> None:
    doc = {
        "issuer": "https://as.example",
        "token_endpoint": "https://as.example/token",
        "mtls_endpoint_aliases": {
            "token_endpoint": "https://mtls.as.example/token",
            "userinfo_endpoint": "http://mtls.as.example/me",
        },
    }
    metadata = _parse("https://as.example", "https://as.example/.well-known/x", json.dumps(doc).encode())
    assert metadata.mtls_endpoint_aliases == {"token_endpoint": "https://mtls.as.example/token"}


def test_an_mtls_client_needs_its_certificate() -> None:
    mtls = get_dialect("oauth2", client_auth="tls_client_auth")
    with pytest.raises(DialectError, match="needs a client certificate and its private key"):
        TokenClient(mtls, TOKEN_URL, "c")


def test_the_client_auth_table_lists_every_method_with_a_test_that_exists() -> None:
    """docs/client-auth.md: one row per method of the block's table, each naming a test that is
    there (file and function)."""
    from pathlib import Path

    from prefect_vendortokens.blocks.settings import CLIENT_AUTH_METHODS

    root = Path(__file__).resolve().parents[1]
    rows = [
        [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        for line in (root / "docs/client-auth.md").read_text().splitlines()
        if line.startswith("| `")
    ]
    table = {row[0]: row for row in rows if row[0] in CLIENT_AUTH_METHODS or row[0] == "client_auth.method"}
    assert set(table) - {"client_auth.method"} == set(CLIENT_AUTH_METHODS)
    for method, row in table.items():
        if method == "client_auth.method":
            continue
        assert row[1] == CLIENT_AUTH_METHODS[method], row
        path, _, function = row[-1].partition("::")
        assert function and f"def {function}(" in (root / path).read_text(), row


def test_pem_pasted_into_a_one_line_field_still_loads() -> None:
    """A browser drops the line breaks of an ``<input>``: the certificate and key still load."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from prefect_vendortokens.core.mtls import check_client_certificate

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "one-line")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    flat_cert, flat_key = cert_pem.replace("\n", ""), key_pem.replace("\n", "")
    check_client_certificate(flat_cert, SecretStr(flat_key))  # cryptography reads one-line PEM
    with pytest.raises(DialectError, match="not a PEM private key"):  # and a broken one is refused
        check_client_certificate(flat_cert, SecretStr(flat_key[:-40]))


def test_the_journal_key_includes_the_tls_client_key_only_with_mutual_tls() -> None:
    """The host journal (which keeps a user grant's token, and its DPoP key) is sealed with key
    material of the client: an mTLS client's is its certificate's key; others' is unchanged."""
    from prefect_vendortokens.engine.manager import _journal_secret

    assert _journal_secret(TokenClient("oauth2", TOKEN_URL, "c", "s")) == b"s\0"
    mtls = get_dialect("oauth2", client_auth="tls_client_auth")
    client = TokenClient(mtls, TOKEN_URL, "c", tls_certificate="PEM", tls_key="tls-key-material")
    assert _journal_secret(client) == b"\0\0tls-key-material"


def test_the_device_grants_token_is_dpop_bound_too() -> None:
    """The device poll goes through the same exchange as every token request: a proof, the
    nonce challenge answered once, and the token bound to the client's key."""
    from prefect_vendortokens.core.device import DeviceAuthorization, DevicePoll

    server = Server()
    client = _client(server)
    authorization = DeviceAuthorization(
        device_code=SecretStr("dc-1"), user_code="ABCD-EFGH", verification_uri="https://auth.example/device"
    )
    answer = client.poll_device(authorization, DevicePoll.start(authorization, now=0.0), clock=lambda: 0.0)
    assert isinstance(answer, AccessToken) and answer.token_type == "DPoP" and answer.dpop_key is not None
    assert server.log == [("auth.example", 400), ("auth.example", 200)]
    assert server.jkt == {DPoPKey.from_json(answer.dpop_key).thumbprint}
