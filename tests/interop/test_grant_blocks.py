"""The new grants as blocks, against real servers in other processes: the password and JWT
bearer grants at authlib's authorization server, Google's key file and Salesforce's JWT flow
at the servers that verify like those vendors, each inline (saved in Prefect) and from Vault;
the device flow through `prefect-vendortokens authorize BLOCK --device` (the test plays the
person on oidc-provider's pages with httpx) and from Python; and nothing secret anywhere after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from prefect_vendortokens import VaultCredentials, VendorCredentials
from prefect_vendortokens.core.device import DeviceAuthorization
from prefect_vendortokens.core.errors import DeviceAuthorizationDeniedError, DeviceCodeExpiredError
from prefect_vendortokens.testing.openbao import OpenBao

from .certs import self_signed
from .conftest import Interop
from .grant_servers import grant_server
from .test_assertion_grants import ISSUER_KEY, PASSWORD, me, rsa_pair

ROOT = Path(__file__).resolve().parents[2]
GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _pem_line(pem: str) -> str:
    return pem.strip().splitlines()[5]  # a line of the key's base64, not its header


@pytest.fixture(scope="module")
def authlib_url() -> Iterator[str]:
    from .test_assertion_grants import ISSUER_PUBLIC, JWT_BEARER

    config = {
        "users": {"alice": PASSWORD},
        "clients": [
            {
                "client_id": "pw-client",
                "client_secret": "pw-secret",
                "auth_method": "client_secret_basic",
                "grant_types": ["password"],
                "scope": "api:read api:write",
            },
            {
                "client_id": "pw-rotating",
                "client_secret": "pw-rotating-secret",
                "auth_method": "client_secret_basic",
                "grant_types": ["password", "refresh_token"],
                "scope": "api:read",
            },
            {
                "client_id": "jwt-issuer",
                "auth_method": "none",
                "grant_types": [JWT_BEARER],
                "scope": "api:read",
                "public_key": ISSUER_PUBLIC,
            },
        ],
    }
    with grant_server("authlib", config) as url:
        yield url


@pytest.fixture(scope="module")
def google_url() -> Iterator[tuple[str, dict, str]]:
    private, public = rsa_pair()
    email = "etl@vendortokens-test.iam.gserviceaccount.com"
    with grant_server("google", {"accounts": {email: {"8f1a2b3c4d": public}}}) as url:
        key_file = {
            "type": "service_account",
            "project_id": "vendortokens-test",
            "private_key_id": "8f1a2b3c4d",
            "private_key": private,
            "client_email": email,
            "client_id": "103456789012345678901",
            "token_uri": url + "/token",
        }
        yield url, key_file, private


@pytest.fixture(scope="module")
def salesforce_url() -> Iterator[tuple[str, str]]:
    app = self_signed("vendortokens connected app", kind="rsa")
    config = {
        "apps": {"3MVG9consumer.key": app.certificate},
        "approved": {"etl@example.com": ["3MVG9consumer.key"]},
    }
    with grant_server("salesforce", config) as url:
        yield url, app.private_key


def test_password_grant_block_saved_in_prefect(prefect_server, authlib_url: str, caplog, capfd) -> None:
    VendorCredentials(
        vendor="oauth2",
        token_url=authlib_url + "/token",
        client_id="pw-client",
        client_secret="pw-secret",
        grant="password",
        username="alice",
        password=PASSWORD,
        scopes=["api:read"],
    ).save("grant-password", overwrite=True)
    block = VendorCredentials.load("grant-password", _sync=True)  # type: ignore[call-arg]
    assert PASSWORD not in repr(block) and PASSWORD not in str(block.model_dump())
    token = block.get_token()
    assert me(authlib_url, token) == {"client_id": "pw-client", "scope": "api:read", "sub": "alice"}
    with block.get_client() as http:
        assert http.get(authlib_url + "/me").json()["sub"] == "alice"
    VendorCredentials(
        vendor="oauth2",
        token_url=authlib_url + "/token",
        client_id="pw-client",
        client_secret="pw-secret",
        grant="password",
        username="mallory",  # another account (the same user's is the stored token's, shared)
        password="correct horse CANARY wrong",
        scopes=["api:read"],
    ).save("grant-password-wrong", overwrite=True)
    refused = VendorCredentials.load("grant-password-wrong", _sync=True)  # type: ignore[call-arg]
    with pytest.raises(Exception, match="username' or 'password'") as error:
        refused.get_token()
    assert "CANARY" not in str(error.value)
    output = caplog.text + "".join(capfd.readouterr())
    assert "CANARY" not in output and "correct horse" not in output
    assert prefect_server.scan([PASSWORD, "correct horse CANARY wrong", token.secret()]) == []


def test_password_grant_renews_with_its_rotating_refresh_token(authlib_url: str) -> None:
    """A password grant whose server also issues refresh tokens (rotated on use, a used one
    refused): renewals send the newest refresh token, not the password again."""
    import httpx

    block = VendorCredentials(
        vendor="oauth2",
        token_url=authlib_url + "/token",
        client_id="pw-rotating",
        client_secret="pw-rotating-secret",
        grant="password",
        username="alice",
        password=PASSWORD,
        scopes=["api:read"],
        token_store="memory",
    )
    first = block.get_token()
    assert first.refresh_token is not None
    second = block.get_token(force_refresh=True)
    third = block.get_token(force_refresh=True)
    assert len({first.secret(), second.secret(), third.secret()}) == 3
    assert me(authlib_url, third)["sub"] == "alice"
    grants = httpx.get(authlib_url + "/grants", timeout=10).json()["grants"]
    assert grants[-3:] == ["password", "refresh_token", "refresh_token"], grants


def test_password_grant_block_from_vault(authlib_url: str) -> None:
    with OpenBao() as bao:
        bao.root().secrets.kv.v2.create_or_update_secret(
            "vendors/pw",
            secret={"client_id": "pw-client", "client_secret": "pw-secret", "login": "alice", "pw": PASSWORD},
        )
        block = VendorCredentials(
            vendor="oauth2",
            token_url=authlib_url + "/token",
            grant="password",
            vault=VaultCredentials(address=bao.address, auth_method="token", token="root"),
            vault_secret={"path": "vendors/pw", "username_key": "login", "password_key": "pw"},
            scopes=["api:read"],
            token_store="memory",
        )
        assert me(authlib_url, block.get_token())["sub"] == "alice"


def test_jwt_bearer_block_rfc_7523(authlib_url: str) -> None:
    block = VendorCredentials(
        vendor="oauth2",
        token_url=authlib_url + "/token",
        client_id="jwt-issuer",
        grant="jwt_bearer",
        username="alice",  # the assertion's subject
        client_auth={"method": "none", "private_key": ISSUER_KEY},
        scopes=["api:read"],
        token_store="memory",
    )
    assert me(authlib_url, block.get_token()) == {
        "client_id": "jwt-issuer",
        "scope": "api:read",
        "sub": "alice",
    }


def test_google_key_file_block_saved_in_prefect(prefect_server, google_url) -> None:
    url, key_file, private = google_url
    VendorCredentials(
        vendor="google",
        grant="jwt_bearer",
        service_account_key=json.dumps(key_file),
        scopes=[GOOGLE_SCOPE],
    ).save("grant-google", overwrite=True)
    block = VendorCredentials.load("grant-google", _sync=True)  # type: ignore[call-arg]
    token = block.get_token()  # the key file's token_uri: the local server
    assert token.secret().startswith("ya29.") and round(token.lifetime) == 3599
    assert me(url, token)["email"] == key_file["client_email"]
    assert prefect_server.scan([_pem_line(private), token.secret()]) == []


def test_google_key_file_block_from_vault(google_url) -> None:
    url, key_file, _ = google_url
    with OpenBao() as bao:  # the key file kept as is: the JSON object in the KV secret
        bao.root().secrets.kv.v2.create_or_update_secret("gcp/etl", secret={"service_account_key": key_file})
        block = VendorCredentials(
            vendor="google",
            grant="jwt_bearer",
            username="alice@example.com",  # domain-wide delegation
            vault=VaultCredentials(address=bao.address, auth_method="token", token="root"),
            vault_secret={"path": "gcp/etl"},
            scopes=[GOOGLE_SCOPE],
            token_store="memory",
        )
        assert me(url, block.get_token())["sub"] == "alice@example.com"


def test_salesforce_jwt_flow_block(salesforce_url) -> None:
    url, private = salesforce_url
    block = VendorCredentials(
        vendor="salesforce",
        token_url=url + "/services/oauth2/token",
        client_id="3MVG9consumer.key",
        grant="jwt_bearer",
        username="etl@example.com",
        client_auth={"private_key": private},
        token_store="memory",
    )
    token = block.get_token()
    assert round(token.lifetime) == 7200 and me(url, token)["username"] == "etl@example.com"


def _run_snippet(name: str, env: dict[str, str], monkeypatch, capsys) -> str:
    """A docs/user-grants.md block run as written (``__main__``), with ``env``; its output."""
    from tests.snippets import named

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    exec(compile(named(name).code, f"<{name}>", "exec"), {"__name__": "__main__"})  # noqa: S102
    return capsys.readouterr().out


def test_docs_password_snippet(authlib_url: str, monkeypatch, capsys) -> None:
    env = {
        "IDP_TOKEN_URL": authlib_url + "/token",
        "IDP_CLIENT_SECRET": "pw-secret",
        "IDP_PASSWORD": PASSWORD,
    }
    monkeypatch.setenv("PREFECT_API_URL", "")  # no Prefect API: the token store is this process's
    printed = _run_snippet("password-grant", env, monkeypatch, capsys)
    assert "token sha256:" in printed and PASSWORD not in printed


def test_docs_google_snippet(google_url, tmp_path: Path, monkeypatch, capsys) -> None:
    _, key_file, private = google_url
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key_file))
    path.chmod(0o600)
    printed = _run_snippet("google-key-file", {"GOOGLE_KEY_FILE": str(path)}, monkeypatch, capsys)
    assert "token sha256:" in printed and _pem_line(private) not in printed


def test_new_grants_check_what_they_need() -> None:
    base = {
        "vendor": "oauth2",
        "token_url": "https://idp.example/token",
        "client_id": "a",
        "client_secret": "s",
    }
    with pytest.raises(ValidationError, match=r"grant password needs username .* and password"):
        VendorCredentials(**base, grant="password")
    with pytest.raises(
        ValidationError, match=r"grant jwt_bearer needs client_auth\.private_key or service_account_key"
    ):
        VendorCredentials(**base, grant="jwt_bearer")
    with pytest.raises(
        ValidationError, match=r"grant device_code needs authorization\.device_authorization_url"
    ):
        VendorCredentials(**base, grant="device_code")
    with pytest.raises(
        ValidationError, match="service_account_key: the service-account key file has no private_key"
    ):
        VendorCredentials(
            vendor="google",
            grant="jwt_bearer",
            service_account_key='{"type": "service_account", "client_email": "x", "private_key_id": "k", '
            '"token_uri": "https://oauth2.googleapis.com/token"}',
        )


# --- the device flow -----------------------------------------------------------------------


def _env() -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY", None)
    env["BROWSER"] = "false"  # the worker has no browser: any attempt to open one fails
    return env


def test_device_flow_through_the_cli(prefect_server, interop: Interop) -> None:
    """`authorize BLOCK --device` as a person runs it on a machine with no browser: it prints
    the URI, the user code and a QR code; the person approves on another device (httpx on
    oidc-provider's pages here); the token and its refresh token land in the block's store."""
    VendorCredentials(
        vendor="oauth2",
        issuer=interop.issuer,
        grant="device_code",
        client_id="device-client",
        client_secret="device-secret",
        scopes=["openid", "offline_access"],
    ).save("grant-device", overwrite=True)
    command = subprocess.Popen(
        [sys.executable, "-m", "prefect_vendortokens", "authorize", "grant-device", "--device", "--json"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    printed: list[str] = []
    link = threading.Event()

    def read() -> None:
        for line in command.stderr:  # type: ignore[union-attr]
            printed.append(line)
            if line.startswith("or open "):
                link.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert link.wait(120), "".join(printed)[-2000:]
        complete = next(line for line in printed if line.startswith("or open ")).split()[-1]
        user_code = next(line for line in printed if "enter the code" in line).split()[-1]
        assert user_code in complete and any("▀" in line or "█" in line for line in printed)  # the QR code
        page = interop.server.play_device(complete)
        assert "Sign-in Success" in page
        out, _ = command.communicate(timeout=120)
    finally:
        if command.poll() is None:
            command.kill()
    assert command.returncode == 0, "".join(printed)[-2000:]
    row = json.loads(out)
    assert row["refresh_token"] == "kept in the token store" and row["store"] == "prefect"
    block = VendorCredentials.load("grant-device", _sync=True)  # type: ignore[call-arg]
    renewed = block.get_token(force_refresh=True)  # a refresh from the stored grant, under the lock
    assert interop.server.introspect(renewed.secret())["active"] is True
    assert prefect_server.scan(["device-secret"]) == []


def test_device_flow_from_python_denied_and_expired(prefect_server, interop: Interop) -> None:
    def block(client_id: str) -> VendorCredentials:
        return VendorCredentials(
            vendor="oauth2",
            issuer=interop.issuer,
            grant="device_code",
            client_id=client_id,
            client_auth={"method": "none"},
            scopes=["openid"],
        )

    seen: list[DeviceAuthorization] = []

    def deny(authorization: DeviceAuthorization) -> None:
        seen.append(authorization)
        threading.Thread(
            target=interop.server.play_device, args=(authorization.link,), kwargs={"deny": True}, daemon=True
        ).start()

    with pytest.raises(DeviceAuthorizationDeniedError) as denied:
        block("device-public").authorize(device=True, show=deny, timeout=60)
    assert seen[0].device_code.get_secret_value() not in str(denied.value)
    with pytest.raises(DeviceCodeExpiredError):  # nobody approves; grant device_code: device by default
        block("device-short").authorize(show=lambda authorization: None, timeout=60)


def test_authorization_code_account_consents_with_the_device_flow(prefect_server, interop: Interop) -> None:
    """An authorization_code account whose server offers device authorization (the issuer's
    metadata names the endpoint) may consent with the device flow instead of a browser."""
    block = VendorCredentials(
        vendor="oauth2",
        issuer=interop.issuer,
        grant="authorization_code",
        client_id="device-public",
        client_auth={"method": "none"},
        scopes=["openid", "offline_access"],
    )
    shown: list[DeviceAuthorization] = []

    def phone(authorization: DeviceAuthorization) -> None:
        shown.append(authorization)
        threading.Thread(target=interop.server.play_device, args=(authorization.link,), daemon=True).start()

    token = block.authorize(device=True, show=phone, timeout=60)
    assert token.refresh_token is not None and shown[0].verification_uri == interop.issuer + "/device"
    renewed = block.get_token(force_refresh=True)  # from the stored grant, under the lock
    assert interop.server.introspect(renewed.secret())["active"] is True


def test_a_password_is_not_in_the_account_key() -> None:
    """The account key names the stored token's document (readable by anyone who can list
    blocks): a hash of a guessable password must not be in it. A changed password is the same
    account, and still a new client in this process."""
    from prefect_vendortokens.blocks.account import cache_key

    base = {
        "vendor": "oauth2",
        "token_url": "https://idp.example/token",
        "client_id": "a",
        "client_secret": "s",
        "grant": "password",
        "username": "alice",
    }
    one, two = VendorCredentials(**base, password="hunter2"), VendorCredentials(**base, password="hunter3")
    assert one.account_key() == two.account_key()
    assert cache_key(one) != cache_key(two)
    other_user = VendorCredentials(**{**base, "username": "bob"}, password="hunter2")
    assert other_user.account_key() != one.account_key()
