"""A mutual-TLS block made the way a person makes it, in both Prefect UIs: the issuer, the
method ``self_signed_tls_client_auth``, the client certificate and its key pasted into the form
(the V2 form's inputs drop the line breaks), the test CA's path. The block is then loaded in
another process and gets a certificate-bound token from oidc-provider's mTLS listener (the
server authenticates the client by that certificate alone). Screenshots land in
``build/ui-screenshots/<test>/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.conftest import Interop, interop  # noqa: F401 - the provider, as a fixture here

from .forms import form_for


@pytest.mark.parametrize("ui", ["v2", "v1"])
def test_mtls_block_made_in_the_form(
    ui_server,
    page,
    shots,
    interop: Interop,
    tmp_path_factory,
    ui: str,  # noqa: F811
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
