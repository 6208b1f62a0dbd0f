"""The VendorCredentials block: Prefect's conventions, validation, and use in flows."""

from __future__ import annotations

import pytest
from prefect import flow
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import ValidationError

from prefect_vendortokens import TokenDialect, VendorCredentials, get_dialect
from prefect_vendortokens.expiry import jwt_claims
from prefect_vendortokens.testing import VENDORS

from .conftest import api_call, block_for


class TestStandardSuite(BlockStandardTestSuite):
    @pytest.fixture
    def block(self):
        return VendorCredentials

    def test_has_a_valid_image(self, block) -> None:
        pytest.skip(
            "the standard check downloads the logo; this machine reaches no network but package registries"
        )


def test_schema_marks_every_secret_field() -> None:
    schema = VendorCredentials.model_json_schema()
    nested = [
        f"{block}.{field}"
        for block in ("vault", "token_store_vault")
        for field in ("token", "secret_id", "jwt", "password")
    ]
    assert sorted(schema["secret_fields"]) == sorted(["client_secret", *nested])
    assert schema["properties"]["client_secret"]["anyOf"][0]["format"] == "password"
    assert schema["block_type_slug"] == "vendor-credentials"


def test_custom_dialect_is_editable_as_plain_json(sandbox) -> None:
    """What the UI form submits for a custom dialect: plain JSON, no code."""
    creds = sandbox.credentials("sqr")
    form = {
        "vendor": "custom",
        "dialect": {"name": "my-sqr", "body_encoding": "json", "client_auth": "body", "scope_field": None},
        "token_url": sandbox.token_url("sqr"),
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    block = VendorCredentials.model_validate(form)
    assert block.get_token().vendor == "my-sqr"
    # Every dialect field is in the schema the UI renders, with a description.
    dialect_schema = VendorCredentials.model_json_schema()["definitions"]["TokenDialect"]["properties"]
    assert set(dialect_schema) == set(TokenDialect.model_fields)
    assert all(p.get("description") for p in dialect_schema.values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vendor": "sqr", "token_url": "http://api.sqr-group.com/v1/oauth/token"}, "plain http"),
        ({"vendor": "nope"}, "'sqod', 'cobee', 'slashid', 'sqr', 'resales_online', 'oauth2' or 'custom'"),
        ({"vendor": "custom"}, "vendor 'custom' needs a dialect"),
        ({"vendor": "sqr", "dialect": get_dialect("sqr")}, "only used with vendor 'custom'"),
        ({"vendor": "oauth2"}, "no token_url given"),
        ({"vendor": "sqr", "client_secret": None}, "client_id and client_secret are required"),
        ({"vendor": "sqr", "token_url": "ftp://x/y"}, "http(s) URL"),
    ],
)
def test_validation_errors_are_clear(kwargs, message) -> None:
    base = {"client_id": "id", "client_secret": "s3cret-CANARY"}
    with pytest.raises(ValidationError) as info:
        VendorCredentials(**{**base, **kwargs})
    assert message in str(info.value)
    assert "s3cret-CANARY" not in str(info.value)


def test_http_allowed_on_loopback_or_when_asked() -> None:
    common = {"vendor": "sqr", "client_id": "id", "client_secret": "s"}
    VendorCredentials(token_url="http://127.0.0.1:9/t", **common)
    VendorCredentials(token_url="http://[::1]:9/t", **common)
    VendorCredentials(token_url="http://localhost:9/t", **common)
    VendorCredentials(token_url="http://10.0.0.8/t", allow_insecure_http=True, **common)


def test_repr_hides_secret() -> None:
    block = VendorCredentials(vendor="sqr", client_id="id", client_secret="s3cret-CANARY")
    assert "s3cret-CANARY" not in repr(block) and "s3cret-CANARY" not in str(block)


def test_unreadable_ca_bundle_is_a_clear_error(sandbox, tmp_path) -> None:
    from prefect_vendortokens import DialectError

    block = block_for(sandbox, "sqr", ca_bundle_path=str(tmp_path / "missing.pem"))
    with pytest.raises(DialectError, match="FileNotFoundError"):
        block.get_token()


@pytest.mark.parametrize("vendor", VENDORS)
def test_saved_block_loaded_and_used_in_a_flow(prefect_server, sandbox, vendor: str) -> None:
    block_for(sandbox, vendor).save(f"acct-{vendor.replace('_', '-')}", overwrite=True)

    @flow
    def use_vendor(block_name: str) -> int:
        creds = VendorCredentials.load(block_name)
        token = creds.get_token()
        method, path, body = api_call(vendor)
        if "{company}" in path:
            path = path.format(
                company=jwt_claims(token.secret())["https://auth.cobee.io/metadata"]["companyId"]
            )
        with creds.get_client() as client:
            return client.request(method, sandbox.api_url(vendor) + path, json=body).status_code

    assert use_vendor(f"acct-{vendor.replace('_', '-')}") == 200
    assert sandbox.token_requests(vendor) == 1


async def test_async_flow_uses_aget_token(prefect_server, sandbox) -> None:
    await block_for(sandbox, "cobee").save("acct-cobee-async", overwrite=True)

    @flow
    async def use_cobee() -> str:
        creds = await VendorCredentials.aload("acct-cobee-async")
        token = await creds.aget_token()
        again = await creds.get_token()  # async_dispatch: the sync name works in async code
        assert again.fingerprint == token.fingerprint
        return token.fingerprint

    assert (await use_cobee()).startswith("sha256:")
    assert sandbox.token_requests("cobee") == 1


def test_saved_block_secret_is_encrypted_in_the_database(prefect_server, sandbox) -> None:
    block_for(sandbox, "sqod").save("acct-sqod-encrypted", overwrite=True)
    loaded = VendorCredentials.load("acct-sqod-encrypted")
    assert loaded.client_secret.get_secret_value() == sandbox.credentials("sqod").client_secret
    assert prefect_server.scan([sandbox.credentials("sqod").client_secret]) == []


def test_block_types_register_from_the_module(prefect_server) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    prefect_cli = str(Path(sys.executable).parent / "prefect")
    result = subprocess.run(  # noqa: S603 - our own venv's prefect CLI
        [prefect_cli, "block", "register", "-m", "prefect_vendortokens"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Vendor Credentials" in result.stdout + result.stderr


def test_collection_entry_point_is_installed() -> None:
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="prefect.collections")}
    assert "prefect_vendortokens" in names
