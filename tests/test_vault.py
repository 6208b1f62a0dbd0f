"""Vault (OpenBao) credentials against a real OpenBao dev server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr

from prefect_vendortokens import (
    CredentialsRejectedError,
    VaultAuthError,
    VaultCredentials,
    VaultKVVersionError,
    VaultPermissionError,
    VaultSealedError,
    VaultSecretNotFoundError,
    VaultTLSError,
    VaultUnreachableError,
    VendorCredentials,
)
from prefect_vendortokens.testing.openbao import OpenBao
from prefect_vendortokens.vault.session import clear_vault_sessions

POLICY = """
path "secret/data/*" { capabilities = ["read"] }
path "kv1/*" { capabilities = ["read"] }
"""


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Keys:
    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def ca_pem(self) -> str:
        """A self-signed CA certificate (the kubernetes auth config wants one)."""
        import datetime

        from cryptography import x509
        from cryptography.x509.oid import NameOID

        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-k8s-ca")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.private, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def jwt(self, **claims) -> str:
        now = int(time.time())
        body = {"sub": "etl-bot", "aud": "vault", "iat": now, "nbf": now - 5, "exp": now + 300, **claims}
        signing = (
            f"{b64(json.dumps({'alg': 'RS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(body).encode())}"
        )
        sig = self.private.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{b64(sig)}"


@pytest.fixture(scope="session")
def bao() -> Iterator[dict]:
    server = OpenBao().start()
    try:  # stop the server even when the setup below fails
        yield _configure(server)
    finally:
        server.stop()


def _configure(server: OpenBao) -> dict:
    root = server.root()
    root.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    root.sys.create_or_update_policy("vendor-read", POLICY)
    root.sys.enable_auth_method("approle")
    root.sys.enable_auth_method("approle", path="approle-etl")
    for mount in ("approle", "approle-etl"):
        root.auth.approle.create_or_update_approle(
            "vendor", token_policies=["vendor-read"], token_ttl="1h", mount_point=mount
        )
    root.sys.enable_auth_method("userpass")
    root.auth.userpass.create_or_update_user("etl", "etl-password-CANARY", policies=["vendor-read"])
    root.auth.userpass.create_or_update_user(
        "short", "short-password", policies=["vendor-read"], token_ttl="9s", token_max_ttl="60s"
    )
    keys = Keys()
    root.sys.enable_auth_method("jwt")
    root.auth.jwt.configure(jwt_validation_pubkeys=[keys.public_pem])
    root.auth.jwt.create_role(
        "etl",
        role_type="jwt",
        user_claim="sub",
        bound_audiences=["vault"],
        token_policies=["vendor-read"],
        allowed_redirect_uris=[],
    )
    root.sys.enable_auth_method("kubernetes")
    root.write_data(
        "auth/kubernetes/config",
        data={
            "kubernetes_host": "https://127.0.0.1:1",
            "disable_local_ca_jwt": True,
            "kubernetes_ca_cert": keys.ca_pem(),
        },
    )
    root.write_data(
        "auth/kubernetes/role/etl",
        data={
            "bound_service_account_names": ["etl"],
            "bound_service_account_namespaces": ["default"],
            "token_policies": ["vendor-read"],
        },
    )
    root.sys.create_namespace("team-a")
    team = server.root("team-a")
    team.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    team.sys.enable_auth_method("userpass")
    team.sys.create_or_update_policy("vendor-read", POLICY)
    team.auth.userpass.create_or_update_user("etl", "team-password", policies=["vendor-read"])
    return {"server": server, "root": root, "keys": keys, "team": team}


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path) -> Iterator[None]:
    """A developer's VAULT_TOKEN or ~/.vault-token must never be picked up."""
    (tmp_path / ".vault-token").write_text("root")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VAULT_TOKEN", "root")
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    clear_vault_sessions()
    yield
    clear_vault_sessions()


def approle(bao, mount: str = "approle", **kwargs) -> VaultCredentials:
    root = bao["root"]
    role_id = root.auth.approle.read_role_id("vendor", mount_point=mount)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("vendor", mount_point=mount)["data"]["secret_id"]
    return VaultCredentials(
        address=bao["server"].address,
        auth_method="approle",
        role_id=role_id,
        secret_id=secret_id,
        auth_mount=None if mount == "approle" else mount,
        **kwargs,
    )


def token_block(bao, token: str = "root", **kwargs) -> VaultCredentials:
    return VaultCredentials(address=bao["server"].address, auth_method="token", token=token, **kwargs)


def put(bao, path: str, data: dict, mount: str = "secret") -> None:
    if mount == "kv1":
        bao["root"].secrets.kv.v1.create_or_update_secret(path, secret=data, mount_point=mount)
    else:
        bao["root"].secrets.kv.v2.create_or_update_secret(path, secret=data, mount_point=mount)


# --- reading ---------------------------------------------------------------------------------
def test_kv_v2_and_v1_detected(bao) -> None:
    put(bao, "vendors/a", {"client_id": "a", "client_secret": "v2-secret"})
    put(bao, "vendors/a", {"client_id": "a", "client_secret": "v1-secret"}, mount="kv1")
    block = approle(bao)
    assert block.read_secret("vendors/a")["client_secret"] == "v2-secret"
    assert block.read_secret("vendors/a", mount="kv1")["client_secret"] == "v1-secret"


def test_pinned_version(bao) -> None:
    put(bao, "vendors/pinned", {"client_secret": "first"})
    put(bao, "vendors/pinned", {"client_secret": "second"})
    block = approle(bao)
    assert block.read_secret("vendors/pinned", version=1)["client_secret"] == "first"
    assert block.read_secret("vendors/pinned")["client_secret"] == "second"


def test_version_on_kv1_and_configured_version_mismatch(bao) -> None:
    put(bao, "vendors/v1only", {"x": "1"}, mount="kv1")
    with pytest.raises(VaultKVVersionError, match="KV v1"):
        approle(bao).read_secret("vendors/v1only", mount="kv1", version=2)
    with pytest.raises(VaultKVVersionError, match="mount is KV v1 but the block says KV v2") as info:
        approle(bao, kv_version=2).read_secret("vendors/v1only", mount="kv1")
    assert "mount kv1" in str(info.value)


def test_missing_path_names_where(bao) -> None:
    block = approle(bao)
    with pytest.raises(VaultSecretNotFoundError) as info:
        block.read_secret("vendors/nothing-here")
    text = str(info.value)
    assert bao["server"].address in text and "mount secret" in text and "path vendors/nothing-here" in text
    assert block.secret_id.get_secret_value() not in text


def test_reads_are_cached_for_the_ttl(bao) -> None:
    put(bao, "vendors/cached", {"v": "1"})
    block = approle(bao, read_cache_ttl=30)
    session = block.session()
    now = [1000.0]
    session.clock = lambda: now[0]  # time is the subject: a fake clock, no sleeping
    block.read_secret("vendors/cached")
    put(bao, "vendors/cached", {"v": "2"})
    now[0] += 29
    assert block.read_secret("vendors/cached")["v"] == "1" and session.reads == 1
    now[0] += 2
    assert block.read_secret("vendors/cached")["v"] == "2" and session.reads == 2
    assert block.session() is session  # one client per configuration, reused


# --- auth methods ----------------------------------------------------------------------------
def test_token_auth_ignores_environment_token(bao) -> None:
    put(bao, "vendors/t", {"v": "1"})
    assert token_block(bao).read_secret("vendors/t") == {"v": "1"}
    with pytest.raises(VaultPermissionError, match="static Vault token"):
        token_block(bao, token="not-a-real-token").read_secret("vendors/t")


def test_approle_custom_mount_and_bad_secret_id(bao) -> None:
    put(bao, "vendors/r", {"v": "1"})
    block = approle(bao, mount="approle-etl")
    assert block.read_secret("vendors/r") == {"v": "1"} and block.session().logins == 1
    bad = block.model_copy(update={"secret_id": SecretStr("00000000-bad0-0000-0000-000000000000")})
    with pytest.raises(VaultAuthError) as info:
        bad.read_secret("vendors/r")
    assert "approle login refused" in str(info.value) and "auth/approle-etl" in str(info.value)
    assert "00000000-bad0" not in str(info.value)


def test_userpass(bao) -> None:
    put(bao, "vendors/u", {"v": "1"})
    block = VaultCredentials(
        address=bao["server"].address, auth_method="userpass", username="etl", password="etl-password-CANARY"
    )
    assert block.read_secret("vendors/u") == {"v": "1"}
    wrong = block.model_copy(update={"password": SecretStr("wrong-password")})
    with pytest.raises(VaultAuthError) as info:  # and not silently VAULT_TOKEN=root
        wrong.read_secret("vendors/u")
    assert "wrong-password" not in str(info.value)


def test_jwt_given_and_from_file(bao, tmp_path) -> None:
    put(bao, "vendors/j", {"v": "1"})
    jwt = bao["keys"].jwt()
    given = VaultCredentials(address=bao["server"].address, auth_method="jwt", role="etl", jwt=jwt)
    assert given.read_secret("vendors/j") == {"v": "1"}
    path = tmp_path / "token.jwt"
    path.write_text(bao["keys"].jwt() + "\n")
    from_file = VaultCredentials(
        address=bao["server"].address, auth_method="jwt", role="etl", jwt_path=str(path)
    )
    assert from_file.read_secret("vendors/j") == {"v": "1"}
    forged = VaultCredentials(address=bao["server"].address, auth_method="jwt", role="etl", jwt=Keys().jwt())
    with pytest.raises(VaultAuthError):
        forged.read_secret("vendors/j")


def test_kubernetes_login_as_far_as_a_local_server_allows(bao, tmp_path) -> None:
    """No Kubernetes API here: the login reaches Vault's kubernetes mount with the token read
    from the file, and Vault's failure to review it is a typed error naming the mount."""
    sa_token = bao["keys"].jwt(sub="system:serviceaccount:default:etl", aud=["vault"])
    (tmp_path / "sa-token").write_text(sa_token)
    block = VaultCredentials(
        address=bao["server"].address,
        auth_method="kubernetes",
        role="etl",
        jwt_path=str(tmp_path / "sa-token"),
    )
    with pytest.raises(VaultAuthError) as info:
        block.read_secret("vendors/k")
    assert "kubernetes login failed" in str(info.value) and "auth/kubernetes" in str(info.value)
    assert sa_token not in str(info.value)
    missing = block.model_copy(update={"jwt_path": str(tmp_path / "absent")})
    with pytest.raises(VaultAuthError, match="cannot read the kubernetes token file"):
        missing.read_secret("vendors/k")
    default = VaultCredentials(address=bao["server"].address, auth_method="kubernetes", role="etl")
    assert default._login_spec().jwt_path == "/var/run/secrets/kubernetes.io/serviceaccount/token"


def test_namespace(bao) -> None:
    bao["team"].secrets.kv.v2.create_or_update_secret(
        "vendors/ns", secret={"v": "team"}, mount_point="secret"
    )
    by_token = token_block(bao, namespace="team-a")
    assert by_token.read_secret("vendors/ns") == {"v": "team"}
    by_login = VaultCredentials(
        address=bao["server"].address,
        namespace="team-a",
        auth_method="userpass",
        username="etl",
        password="team-password",
    )
    assert by_login.read_secret("vendors/ns") == {"v": "team"}
    with pytest.raises(VaultSecretNotFoundError, match="namespace team-a"):
        by_login.read_secret("vendors/elsewhere")


def test_short_ttl_token_is_renewed(bao) -> None:
    put(bao, "vendors/s", {"v": "1"})
    block = VaultCredentials(
        address=bao["server"].address,
        auth_method="userpass",
        username="short",
        password="short-password",
        read_cache_ttl=0,
    )
    session = block.session()
    block.read_secret("vendors/s")
    # 12.4 s in all, well past the 9 s TTL without renewal. Renewal is due at 6 s, so each read
    # comes 2.8 s before the token would die: room for a slow machine.
    for _ in range(2):
        time.sleep(6.2)
        assert block.read_secret("vendors/s") == {"v": "1"}
    assert session.logins == 1 and session.renewals >= 2


def test_403_logs_in_again_once(bao) -> None:
    put(bao, "vendors/re", {"v": "1"})
    block = approle(bao, read_cache_ttl=0)
    session = block.session()
    block.read_secret("vendors/re")
    bao["root"].auth.token.revoke(session._client.token)
    assert block.read_secret("vendors/re") == {"v": "1"}
    assert session.logins == 2


def test_revoked_static_token_is_a_clear_error(bao) -> None:
    put(bao, "vendors/st", {"v": "1"})
    token = bao["root"].auth.token.create(policies=["vendor-read"], ttl="1h")["auth"]["client_token"]
    block = token_block(bao, token=token, read_cache_ttl=0)
    assert block.read_secret("vendors/st") == {"v": "1"}
    bao["root"].auth.token.revoke(token)
    with pytest.raises(VaultPermissionError, match="expired or been revoked") as info:
        block.read_secret("vendors/st")
    assert token not in str(info.value)


# --- a server that is sealed, stopped, or behind another CA --------------------------------
def test_sealed_server() -> None:
    server = OpenBao().start()
    try:
        block = VaultCredentials(address=server.address, token="root")
        server.root().secrets.kv.v2.create_or_update_secret("x", secret={"v": "1"}, mount_point="secret")
        assert block.read_secret("x") == {"v": "1"}
        server.root().sys.seal()
        with pytest.raises(VaultSealedError) as info:
            block.read_secret("x", fresh=True)
        assert info.value.retryable and server.address in str(info.value)
    finally:
        server.stop()


def test_stopped_server() -> None:
    server = OpenBao().start()
    address = server.address
    server.stop()
    with pytest.raises(VaultUnreachableError) as info:
        VaultCredentials(address=address, token="root", timeout=2).read_secret("x")
    assert info.value.retryable and address in str(info.value)


def test_tls_with_wrong_and_right_ca() -> None:
    server = OpenBao(tls=True).start()
    try:
        server.root().secrets.kv.v2.create_or_update_secret("x", secret={"v": "1"}, mount_point="secret")
        with pytest.raises(VaultTLSError, match="TLS handshake"):
            VaultCredentials(address=server.address, token="root").read_secret("x")
        assert VaultCredentials(address=server.address, token="root", ca_bundle_path=server.ca).read_secret(
            "x"
        ) == {"v": "1"}
    finally:
        server.stop()


# --- vendor credentials from Vault ---------------------------------------------------------
def vendor_from_vault(sandbox, bao, vendor: str, path: str, **vault_kwargs) -> VendorCredentials:
    creds = sandbox.credentials(vendor)
    put(bao, path, {"client_id": creds.client_id, "client_secret": creds.client_secret})
    return VendorCredentials(
        vendor=vendor,
        token_url=sandbox.token_url(vendor),
        vault=approle(bao, **vault_kwargs),
        vault_path=path,
    )


def test_vendor_token_with_secret_only_in_vault(sandbox, bao) -> None:
    block = vendor_from_vault(sandbox, bao, "resales_online", "vendors/resales")
    assert block.client_secret.get_secret_value() == "" and block.client_id == ""
    assert block.get_token().is_valid()
    assert sandbox.token_requests("resales_online") == 1


def test_missing_keys_list_the_keys_not_values(sandbox, bao) -> None:
    put(bao, "vendors/partial", {"id": "x", "secret_value": "s3cret-CANARY-partial"})
    block = VendorCredentials(
        vendor="sqr", token_url=sandbox.token_url("sqr"), vault=approle(bao), vault_path="vendors/partial"
    )
    with pytest.raises(VaultSecretNotFoundError) as info:
        block.get_token()
    assert "'client_id' or 'client_secret'" in str(info.value) and "secret_value" in str(info.value)
    assert "s3cret-CANARY-partial" not in str(info.value)


def test_rotated_secret_is_picked_up_after_the_cache_ttl(sandbox, bao) -> None:
    # A new token is asked for with force_refresh, not by waiting out a 1 s token: on a loaded
    # machine a 1 s token (0.25 s margin) can arrive inside its margin and cost a second request.
    block = vendor_from_vault(sandbox, bao, "sqod", "vendors/sqod-rotating", read_cache_ttl=0.5)
    block.get_token()
    new_secret = sandbox.rotate_secret("sqod")
    put(
        bao,
        "vendors/sqod-rotating",
        {"client_id": sandbox.credentials("sqod").client_id, "client_secret": new_secret},
    )
    time.sleep(0.6)  # the cached read (0.5 s) is stale now, however loaded the machine
    assert block.get_token(force_refresh=True).is_valid()
    assert sandbox.token_requests("sqod") == 2  # the new secret worked at the first try


def test_rejected_credentials_trigger_one_fresh_vault_read(sandbox, bao) -> None:
    block = vendor_from_vault(sandbox, bao, "sqr", "vendors/sqr-rotating", read_cache_ttl=600)
    block.get_token()
    reads = block.vault.session().reads
    new_secret = sandbox.rotate_secret("sqr")
    put(
        bao,
        "vendors/sqr-rotating",
        {"client_id": sandbox.credentials("sqr").client_id, "client_secret": new_secret},
    )
    # cached old secret rejected, re-read once, retried (forced: a 1 s token waited out could
    # arrive inside its margin on a loaded machine and cost a fourth request)
    assert block.get_token(force_refresh=True).is_valid()
    assert sandbox.token_requests("sqr") == 3
    assert block.vault.session().reads == reads + 1


def test_wrong_secret_in_vault_is_reported_after_one_reread(sandbox, bao) -> None:
    creds = sandbox.credentials("cobee")
    put(bao, "vendors/cobee-wrong", {"client_id": creds.client_id, "client_secret": "cobee-wrong-CANARY"})
    block = VendorCredentials(
        vendor="cobee",
        token_url=sandbox.token_url("cobee"),
        vault=approle(bao),
        vault_path="vendors/cobee-wrong",
    )
    with pytest.raises(CredentialsRejectedError) as info:
        block.get_token()
    assert sandbox.token_requests("cobee") == 2 and "cobee-wrong-CANARY" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vault_path": None}, "needs vault_secret.path"),
        ({"vault_path": "  "}, "needs vault_secret.path"),
        ({"client_secret": "inline"}, "either an inline client_secret or a Vault reference"),
    ],
)
def test_vault_reference_validation(bao, kwargs, message) -> None:
    from pydantic import ValidationError

    base = {"vendor": "sqr", "vault": token_block(bao), "vault_path": "vendors/x"}
    with pytest.raises(ValidationError, match=message):
        VendorCredentials(**{**base, **kwargs})


def test_end_to_end_flow_secret_only_in_vault(prefect_server, sandbox, bao) -> None:
    from prefect import flow

    block = vendor_from_vault(sandbox, bao, "slashid", "vendors/slashid-e2e")
    block.scopes = ["openid"]
    block.vault.save("vault-e2e", overwrite=True)
    block.save("slashid-from-vault", overwrite=True)

    @flow
    def userinfo() -> int:
        creds = VendorCredentials.load("slashid-from-vault")
        with creds.get_client() as client:
            return client.get(f"{sandbox.api_url('slashid')}/oauth2/userinfo").status_code

    assert userinfo() == 200
    document = VendorCredentials.load("slashid-from-vault")
    assert document.client_secret.get_secret_value() == ""
    secret = sandbox.credentials("slashid").client_secret
    assert prefect_server.scan([secret, *sandbox.issued_secrets()]) == []
