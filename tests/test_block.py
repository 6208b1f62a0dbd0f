"""The VendorCredentials block: Prefect's conventions, validation, and use in flows."""

from __future__ import annotations

import pytest
from prefect import flow
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import ValidationError

from prefect_vendortokens import TokenDialect, VendorCredentials
from prefect_vendortokens.blocks import account
from prefect_vendortokens.core.errors import BlockNotFoundError, DialectError, InvalidBlockError
from prefect_vendortokens.core.expiry import jwt_claims
from prefect_vendortokens.testing import VENDORS

from .conftest import api_call, block_for


class TestStandardSuite(BlockStandardTestSuite):
    @pytest.fixture
    def block(self):
        return VendorCredentials

    def test_has_a_valid_image(self, block) -> None:
        """The standard check downloads the logo, and this machine reaches no network but package
        registries: check instead that it is Prefect's own key icon, pinned to a commit."""
        url = str(block._logo_url)
        assert url.startswith("https://raw.githubusercontent.com/PrefectHQ/prefect/") and url.endswith(".png")


def test_fields_have_curated_titles_in_form_order() -> None:
    """The form shows the essentials first, every field with a written title (no "Token Url")."""
    schema = VendorCredentials.model_json_schema()
    order = sorted(schema["properties"], key=lambda name: schema["properties"][name]["position"])
    assert order[:5] == ["vendor", "token_url", "client_id", "client_secret", "scopes"]
    assert order[-1] == "dialect"
    titles = {name: prop["title"] for name, prop in schema["properties"].items()}
    assert titles["token_url"] == "Token URL" and titles["client_id"] == "Client ID"
    for name, definition in schema["definitions"].items():
        for field, prop in definition.get("properties", {}).items():
            generated = field.replace("_", " ").title()
            assert prop.get("title") and (prop["title"] != generated or " " not in generated), (name, field)


def test_schema_marks_every_secret_field() -> None:
    schema = VendorCredentials.model_json_schema()
    nested = [
        f"{block}.{field}"
        for block in ("vault", "token_store_vault")
        for field in ("token", "secret_id", "jwt", "password")
    ]
    own = [
        "client_secret",
        "password",
        "service_account_key",
        "client_auth.private_key",
        "client_auth.tls_key",
    ]
    assert sorted(schema["secret_fields"]) == sorted([*own, *nested])
    assert schema["properties"]["password"]["format"] == "password"
    assert schema["properties"]["client_secret"]["format"] == "password"
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
        (
            {"vendor": "nope"},
            "'sqod', 'cobee', 'slashid', 'sqr', 'resales_online', 'oauth2', 'google', "
            "'salesforce' or 'custom'",
        ),
        ({"vendor": "custom"}, "vendor 'custom' needs a Custom dialect"),
        ({"vendor": "oauth2"}, "no Token URL given"),
        ({"vendor": "sqr", "client_secret": None}, "client_id and client_secret are required"),
        ({"vendor": "sqr", "client_secret": ""}, "client_id and client_secret are required"),
        ({"vendor": "sqr", "client_secret": "   "}, "client_id and client_secret are required"),
        ({"vendor": "sqr", "client_id": ""}, "client_id and client_secret are required"),
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
    block = block_for(sandbox, "sqr", ca_bundle_path=str(tmp_path / "missing.pem"))
    with pytest.raises(DialectError, match=r"cannot use the CA bundle .*missing\.pem: No such file"):
        block.get_token()
    with pytest.raises(DialectError, match=r"missing\.pem"):
        block.get_client()


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
    said = result.stdout + result.stderr
    assert "Successfully registered 3 blocks" in said  # walks dir(): the lazy names count
    assert all(n in said for n in ("Vendor Credentials", "Vault Credentials", "Vendor Token (internal)"))


def test_collection_entry_point_is_installed() -> None:
    from importlib.metadata import entry_points

    (point,) = [ep for ep in entry_points(group="prefect.collections") if ep.name == "prefect_vendortokens"]
    module = point.load()  # what a Prefect server imports to learn the block types
    assert {"VendorCredentials", "VaultCredentials", "StoredVendorToken"} <= set(vars(module))


def test_what_the_forms_post_for_untouched_groups_validates(sandbox) -> None:
    """The V1 form posts ``{}`` (or empty values) for an untouched nested Vault block, nulls for
    cleared fields, and whatever the dialect group holds even for a preset vendor."""
    creds = sandbox.credentials("cobee")
    form = {
        "vendor": "cobee",
        "token_url": sandbox.token_url("cobee"),
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "scopes": [],
        "extra": {},
        "vault": {},
        "vault_secret": {"path": "", "mount": "secret", "version": 0},
        "token_store": {"kind": "memory"},
        "token_store_vault": {"address": "", "token": ""},
        "http": {"timeout": 30, "refresh_margin": None, "ca_bundle_path": None},
        "dialect": {"name": "custom", "method": "POST"},
    }
    block = VendorCredentials.model_validate(form)
    assert block.vault is None and block.token_store_vault is None and block.dialect is None
    assert block.get_token().vendor == "cobee"


def test_flat_keywords_and_old_documents_still_load() -> None:
    old = {
        "vendor": "sqr",
        "client_id": "id",
        "client_secret": "s",
        "timeout": 5,
        "verify_tls": False,
        "refresh_margin": None,
        "ca_bundle_path": None,
        "token_url": None,
        "token_store": "memory",
        "token_store_vault": None,
        "vault": None,
        "vault_path": None,
        "vault_mount": "secret",
        "vault_version": None,
        "dialect": None,
    }
    block = VendorCredentials.model_validate(old)
    assert block.http.timeout == 5 and block.http.verify_tls is False
    assert block.token_store.kind == "memory" and block.vault_secret.version == 0


def test_blocks_that_behave_differently_never_share_a_manager(sandbox) -> None:
    base = block_for(sandbox, "sqr")
    variants = [
        block_for(sandbox, "sqr", timeout=5),
        block_for(sandbox, "sqr", refresh_margin=30),
        block_for(sandbox, "sqr", verify_tls=False),
        block_for(sandbox, "sqr", token_store="prefect"),
    ]
    keys = {account.cache_key(base), *(account.cache_key(v) for v in variants)}
    assert len(keys) == 5
    assert {base.account_key(), *(v.account_key() for v in variants)} == {base.account_key()}
    assert variants[1].manager().margin == 30 and base.manager().margin is None
    assert base.manager().store_key == variants[0].manager().store_key  # one stored token


def test_auto_store_is_memory_without_a_prefect_api(sandbox, caplog, monkeypatch) -> None:
    """A plain script with no Prefect API configured never starts a temporary server."""
    import logging

    from prefect.settings import PREFECT_API_URL, temporary_settings

    caplog.set_level(logging.INFO, "prefect_vendortokens")
    with temporary_settings({PREFECT_API_URL: None}):
        block = block_for(sandbox, "sqod", token_store="auto")
        assert block.manager().store is None
        assert block.get_token().is_valid()
    assert "token store 'memory': no Prefect API is configured" in caplog.text


def test_load_errors_name_the_block_field_and_problem(prefect_server, sandbox) -> None:
    """A saved document that no longer validates: the error names the block and each field,
    never Prefect's "try validate=False" and never an input value (here a secret)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import BlockDocumentCreate

    from prefect_vendortokens.blocks.credentials import load_credentials

    block_for(sandbox, "sqr").save("load-err-good", overwrite=True)  # registers the type and schema
    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug("vendor-credentials")
        schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
        client.create_block_document(
            BlockDocumentCreate(
                name="load-err-bad",
                block_type_id=block_type.id,
                block_schema_id=schema.id,
                data={
                    "vendor": "sqr",
                    "client_id": "id",
                    "client_secret": "bad-doc-CANARY-secret",
                    "vault": {"token": "vault-CANARY-token"},
                    "vault_secret": {"path": "vendors/x"},
                },
            )
        )
    for load in (lambda: VendorCredentials.load("load-err-bad"), lambda: load_credentials("load-err-bad")):
        with pytest.raises(InvalidBlockError) as info:
            load()
        text = str(info.value)
        assert "'load-err-bad'" in text and "vault.address: Field required" in text
        assert "validate=False" not in text and "CANARY" not in text
    with pytest.raises(BlockNotFoundError, match="no Vendor Credentials block named 'load-err-none'"):
        load_credentials("load-err-none")


def test_store_documents_say_whose_token_they_hold(prefect_server, sandbox) -> None:
    from prefect_vendortokens.stores.prefect_block import StoredVendorToken

    block_for(sandbox, "resales_online", token_store="prefect").save("whose-token", overwrite=True)
    creds = VendorCredentials.load("whose-token")
    token = creds.get_token()
    name = creds.manager().store.block_name(creds.account_key())
    assert name.startswith("vendortoken-resales-online-")
    stored = StoredVendorToken.load(name)
    assert stored.credentials_block == "whose-token" and stored.vendor == "resales_online"
    assert stored.fingerprint == token.fingerprint and stored.token_url == sandbox.token_url("resales_online")
    assert "internal" in StoredVendorToken.get_description().lower()
