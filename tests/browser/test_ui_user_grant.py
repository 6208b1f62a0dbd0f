"""A user-authorized account as a person sets it up: the block made in the Prefect UI's form
(issuer, grant authorization_code, a public client, scopes, prompt=consent), in both UIs, then
`prefect-vendortokens authorize --no-browser`, whose URL the person opens in their browser
(Chromium here), signs in and consents at a real third-party server (panva/oidc-provider); the
redirect reaches the command's loopback listener. Another process then refreshes from the
stored grant."""

from __future__ import annotations

import pytest

from ..interop.conftest import interop  # noqa: F401 - the provider fixture
from ..interop.provider_server import authorize_command
from .forms import form_for


@pytest.mark.parametrize("ui", ["v2", "v1"])
def test_user_authorized_block_from_the_form_then_consent_in_the_browser(
    ui_server,
    page,
    shots,
    interop,  # noqa: F811
    ui: str,
) -> None:
    name = f"{ui}-user-grant"
    form = form_for(ui, page, ui_server.url)
    form.open_create("vendor-credentials")
    form.name(name)
    form.choose("Vendor", "oauth2")
    form.text("Client ID", "public-client")
    form.list_items("Scopes", ["openid", "offline_access", "api:read"])
    form.choose("Grant", "authorization_code")
    form.text("Issuer (discovery)", interop.issuer)
    form.choose("Method", "none")
    form.json("Extra authorization parameters", '{"prompt": "consent"}')
    form.shot(shots / "1-user-grant-form.png")
    form.create()
    form.shot(shots / "2-saved.png")

    with authorize_command(name, interop.issuer, ui_server.env) as run:
        page.goto(run.url)  # the person opens the printed URL
        page.locator("input[name=login]").fill("alice")
        page.locator("input[name=password]").fill("any")
        page.screenshot(path=str(shots / "3-sign-in.png"), full_page=True)
        page.locator("button[type=submit]").click()
        page.locator("button[type=submit]").wait_for()
        page.screenshot(path=str(shots / "4-consent.png"), full_page=True)
        page.locator("button[type=submit]").click()
        page.wait_for_url(run.redirect_uri + "?**")
        page.get_by_text("Authorized. You can close this tab").wait_for()
        page.screenshot(path=str(shots / "5-authorized.png"), full_page=True)
        assert run.result()["refresh_token"] == "kept in the token store"

    first = ui_server.run("token", name)  # another process: the stored token
    assert first["valid"] and first["requests"] == 0, first
    renewed = ui_server.run("token", name, "--force")  # a refresh from the stored grant
    assert renewed["valid"] and renewed["requests"] == 1 and renewed["fingerprint"] != first["fingerprint"]
    assert interop.server.reuse_revocations() == []
