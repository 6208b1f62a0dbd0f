"""Blocks made the way a person makes them: in the Prefect UI's forms, in Chromium, in both of
Prefect 3.8's UIs (the default one and "Switch to V1 UI"). Each block is then loaded in another
Python process and gets a real token from the vendor emulation. Screenshots of every form and
saved page land in ``build/ui-screenshots/<test>/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from prefect_vendortokens.testing import OpenBao

from .forms import form_for

UIS = ["v2", "v1"]
# A different preset per UI, so between them the tests cover a Basic-auth JSON vendor (SQR) and
# Cobee's JSON body with camelCase fields.
ESSENTIALS_VENDOR = {"v2": "sqr", "v1": "cobee"}


@pytest.fixture(scope="module")
def bao() -> Iterator[OpenBao]:
    with OpenBao() as server:
        yield server


@pytest.mark.parametrize("ui", UIS)
def test_only_the_essentials_then_an_unchanged_edit(ui_server, page, sandbox, shots, ui: str) -> None:
    """The first thing a person does: vendor, token URL, client ID and secret, Create. The block
    loads and gets a token, and still does after opening Edit and saving without a change."""
    vendor = ESSENTIALS_VENDOR[ui]
    creds = sandbox.credentials(vendor)
    form = form_for(ui, page, ui_server.url)
    form.open_create("vendor-credentials")
    for label in ("Token URL", "Client ID", "Client secret"):  # within the first 1280x800 screen
        assert form.input_top(label) < 800 - 40, label
    form.shot(shots / "1-create-empty.png")

    name = f"{ui}-essentials"
    form.name(name)
    form.choose("Vendor", vendor)
    form.text("Token URL", sandbox.token_url(vendor))
    form.text("Client ID", creds.client_id)
    form.text("Client secret", creds.client_secret)
    block_id = form.create()
    form.shot(shots / "2-saved.png")
    first = ui_server.run("token", name)
    assert first["vendor"] == vendor and first["token_vendor"] == vendor and first["valid"], first
    assert first["requests"] == 1

    form.open_edit(block_id)
    form.shot(shots / "3-edit.png")
    form.save_edit()
    again = ui_server.run("token", name, "--force")  # a new token: the secret survived the edit
    assert again["valid"] and again["fingerprint"] != first["fingerprint"], again
    assert sandbox.token_requests(vendor) == 2


@pytest.mark.parametrize("ui", UIS)
def test_vault_blocks_picked_and_cleared(ui_server, page, sandbox, bao, shots, ui: str) -> None:
    """A Vault Credentials block made in its form; a Vendor Credentials block whose secret is only
    in that Vault (the Vault block picked in the form); then the Vault cleared again and the
    secret typed in instead. Every stage loads and gets a token."""
    vendor = "resales_online"
    creds = sandbox.credentials(vendor)
    path = f"vendors/{ui}-resales"
    bao.root().secrets.kv.v2.create_or_update_secret(
        path, secret={"client_id": creds.client_id, "client_secret": creds.client_secret}
    )
    form = form_for(ui, page, ui_server.url)

    form.open_create("vault-credentials")
    form.name(f"{ui}-vault")
    form.text("Address", bao.address, optional=False)
    form.text("Token", "root")
    form.shot(shots / "1-vault-create.png")
    vault_id = form.create()
    form.open_edit(vault_id)
    form.save_edit()
    assert ui_server.run("vault", f"{ui}-vault", path)["keys"] == ["client_id", "client_secret"]

    form.open_create("vendor-credentials")
    form.name(f"{ui}-from-vault")
    form.choose("Vendor", vendor)
    form.text("Token URL", sandbox.token_url(vendor))
    form.pick_block("Vault for the client secret", f"{ui}-vault", occurrence=0)
    form.text("Secret path", path)
    form.shot(shots / "2-vendor-with-vault.png")
    block_id = form.create()
    form.shot(shots / "3-saved.png")
    got = ui_server.run("token", f"{ui}-from-vault")
    assert got["vault"] and got["valid"] and got["vendor"] == vendor, got

    form.open_edit(block_id)
    form.clear_block("Vault for the client secret", occurrence=0)
    form.text("Client ID", creds.client_id)
    form.text("Client secret", creds.client_secret)
    form.shot(shots / "4-vault-cleared.png")
    form.save_edit()
    got = ui_server.run("token", f"{ui}-from-vault", "--force")
    assert not got["vault"] and got["valid"], got


@pytest.mark.parametrize("ui", UIS)
def test_custom_dialect_filled_in_the_form(ui_server, page, sandbox, shots, ui: str) -> None:
    """Vendor 'custom' and a dialect described in the form (SQR's JSON body, credentials in the
    body): it loads with that dialect and gets a token; again after an unchanged edit."""
    creds = sandbox.credentials("sqr")
    form = form_for(ui, page, ui_server.url)
    form.open_create("vendor-credentials")
    form.name(f"{ui}-custom")
    form.choose("Vendor", "custom")
    form.text("Token URL", sandbox.token_url("sqr"))
    form.text("Client ID", creds.client_id)
    form.text("Client secret", creds.client_secret)
    form.open_dialect()
    form.text("Name", f"acme-{ui}")
    form.choose("Body encoding", "json")
    form.choose("Client auth", "body")
    form.shot(shots / "1-custom-dialect.png")
    block_id = form.create()
    form.shot(shots / "2-saved.png")
    got = ui_server.run("token", f"{ui}-custom")
    assert got["vendor"] == "custom" and got["dialect"] == f"acme-{ui}" and got["valid"], got

    form.open_edit(block_id)
    form.save_edit()
    again = ui_server.run("token", f"{ui}-custom", "--force")
    assert again["dialect"] == f"acme-{ui}" and again["fingerprint"] != got["fingerprint"]


def test_rotation_artifact_page(ui_server, page, sandbox, shots) -> None:
    """The rotation's artifact as a person sees it: every account's row, the failed one with its
    vendor's error and no secret."""
    wrong = "sqod-WRONG-ui-CANARY"
    for name, vendor, secret in (
        ("art-sqr", "sqr", None),
        ("art-slashid", "slashid", None),
        ("art-broken", "sqod", wrong),
    ):
        creds = sandbox.credentials(vendor)
        document = {
            "vendor": vendor,
            "token_url": sandbox.token_url(vendor),
            "client_id": creds.client_id,
            "client_secret": secret or creds.client_secret,
        }
        ui_server.run("save", name, json.dumps(document))
    out = ui_server.run("rotate", "art-sqr", "art-slashid", "art-broken")
    assert out["failed"]  # one account failed, so the run fails (alerts fire)

    page.goto(f"{ui_server.url}/v2/artifacts/artifact/{out['artifact_id']}")
    page.get_by_text("art-broken", exact=True).first.wait_for()
    page.screenshot(path=str(shots / "rotation-artifact.png"), full_page=True)
    text = page.inner_text("body")
    for row in ("art-sqr", "art-slashid"):
        assert row in text
    assert text.count("refreshed") >= 2 and "failed" in text
    assert "Unauthorized" in text or "401" in text  # SQOD's bare 401, named
    assert wrong not in text


@pytest.fixture(scope="module")
def grant_servers() -> Iterator[dict]:
    """authlib's server (password grant) and the Salesforce-like one (JWT bearer), each in its
    own process, for the blocks made in the forms below."""
    from tests.interop.certs import self_signed
    from tests.interop.grant_servers import grant_server

    app = self_signed("ui connected app", kind="rsa")
    users = {"users": {"alice": UI_PASSWORD}}
    client = {
        "client_id": "pw-client",
        "client_secret": "pw-secret",
        "auth_method": "client_secret_basic",
        "grant_types": ["password"],
        "scope": "api:read",
    }
    salesforce = {"apps": {"3MVG9ui.key": app.certificate}, "approved": {"etl@example.com": ["3MVG9ui.key"]}}
    with (
        grant_server("authlib", {**users, "clients": [client]}) as authlib,
        grant_server("salesforce", salesforce) as sf,
    ):
        yield {"authlib": authlib, "salesforce": sf, "key": app.private_key}


UI_PASSWORD = "ui horse CANARY staple"


@pytest.mark.parametrize("ui", UIS)
def test_password_and_jwt_bearer_blocks(ui_server, page, grant_servers, shots, ui: str) -> None:
    """A password-grant block and a JWT bearer (Salesforce) block made in the form; each loads
    in another process and gets a token from its server; the password and key stay secret."""
    form = form_for(ui, page, ui_server.url)
    form.open_create("vendor-credentials")
    form.name(f"{ui}-password")
    form.choose("Vendor", "oauth2")
    form.text("Token URL", grant_servers["authlib"] + "/token")
    form.text("Client ID", "pw-client")
    form.text("Client secret", "pw-secret")
    form.choose("Grant", "password")
    form.text("Username", "alice")
    form.text("Password", UI_PASSWORD)
    form.list_items("Scopes", ["api:read"])
    form.shot(shots / "1-password-create.png")
    form.create()
    form.shot(shots / "2-password-saved.png")
    assert UI_PASSWORD not in page.inner_text("body")
    got = ui_server.run("token", f"{ui}-password")
    assert got["valid"] and got["vendor"] == "oauth2", got

    form.open_create("vendor-credentials")
    form.name(f"{ui}-jwt-bearer")
    form.choose("Vendor", "salesforce")
    form.text("Token URL", grant_servers["salesforce"] + "/services/oauth2/token")
    form.text("Client ID", "3MVG9ui.key")
    form.choose("Grant", "jwt_bearer")
    form.text("Username", "etl@example.com")
    form.text("Private key", grant_servers["key"])
    form.shot(shots / "3-jwt-bearer-create.png")
    form.create()
    form.shot(shots / "4-jwt-bearer-saved.png")
    got = ui_server.run("token", f"{ui}-jwt-bearer")
    assert got["valid"] and got["vendor"] == "salesforce", got
