"""Bound-token blocks made the way a person makes them, in both Prefect UIs. A mutual-TLS
block: the issuer, the method ``self_signed_tls_client_auth``, the client certificate and its
key pasted into the form (the V2 form's inputs drop the line breaks), the test CA's path; it is
then loaded in another process and gets a certificate-bound token from oidc-provider's mTLS
listener (the server authenticates the client by that certificate alone). A DPoP block: the
switch turned on, then a token for a client the server serves only with a proof. Screenshots
land in ``build/ui-screenshots/<test>/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import Interop, running_interop

from .forms import form_for


@pytest.fixture(scope="module")
def interop() -> Iterator[Interop]:
    """oidc-provider with the interop tests' clients and test CA."""
    with running_interop() as it:
        yield it


@pytest.mark.parametrize("ui", ["v2", "v1"])
def test_mtls_block_made_in_the_form(
    ui_server,
    page,
    shots,
    interop: Interop,
    tmp_path_factory,
    ui: str,
) -> None:
    ca_file = tmp_path_factory.mktemp("ca") / "test-ca.pem"
    ca_file.write_text(interop.ca.certificate)
    own = interop.self_signed_client
    form = form_for(ui, page, ui_server.url)
    form.open_create("vendor-credentials")
    name = f"{ui}-mtls"
    form.name(name)
    form.text("Issuer (discovery)", interop.issuer)
    form.text("Client ID", "self-signed-client")
    form.list_items("Scopes", ["api:read"])
    form.choose("Method", "self_signed_tls_client_auth")
    form.text("Client certificate (PEM)", own.certificate)
    form.text("Client certificate private key (PEM)", own.private_key)
    form.text("CA bundle path", str(ca_file))
    form.shot(shots / "1-mtls-filled.png")
    block_id = form.create()
    form.shot(shots / "2-saved.png")
    got = ui_server.run("token", name)
    assert got["valid"] and got["requests"] == 1, got

    form.open_edit(block_id)
    form.save_edit()  # the key survives an unchanged edit
    again = ui_server.run("token", name, "--force")
    assert again["valid"] and again["fingerprint"] != got["fingerprint"], again
    assert own.private_key.strip().splitlines()[1] not in Path(ui_server.log).read_text()


def _switch_on(form, label: str) -> None:
    """Turn a boolean field on: V2 shows a switch named by its label, V1 a toggle after it."""
    page = form.page
    if form.ui == "v2":
        switch = page.get_by_label(f"{label} (Optional)", exact=True)
    else:
        switch = page.locator(
            f"xpath=(//label[normalize-space()='{label} (Optional)'])[1]"
            "/following::*[self::input[@type='checkbox'] or @role='switch'][1]"
        )
    switch.click()


@pytest.mark.parametrize("ui", ["v2", "v1"])
def test_dpop_block_made_in_the_form(ui_server, page, shots, interop: Interop, ui: str) -> None:
    """``dpop-client`` is registered for DPoP-bound tokens: the server gives it none without a
    proof, so a token proves the switch reached the engine."""
    form = form_for(ui, page, ui_server.url)
    form.open_create("vendor-credentials")
    name = f"{ui}-dpop"
    form.name(name)
    form.text("Issuer (discovery)", interop.issuer)
    form.text("Client ID", "dpop-client")
    form.text("Client secret", "dpop-secret")
    form.list_items("Scopes", ["api:read"])
    _switch_on(form, "DPoP-bound tokens")
    form.shot(shots / "1-dpop-filled.png")
    form.create()
    form.shot(shots / "2-saved.png")
    # --force: a new token request (both UIs' blocks are one account and share the stored token).
    got = ui_server.run("token", name, "--force")
    assert got["valid"] and got["requests"] == 1, got
