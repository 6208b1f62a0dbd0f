"""The device flow as a person does it: a block with grant device_code made in the Prefect UI's
form (both UIs), `prefect-vendortokens authorize BLOCK --device` run with no browser on its
machine (BROWSER fails, no DISPLAY), and the person opening the printed link on "another
device" (Chromium here), confirming the code, signing in and consenting at oidc-provider.
Another process then refreshes from the stored grant."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from ..interop.conftest import interop  # noqa: F401 - the provider fixture
from .forms import form_for


@pytest.mark.parametrize("ui", ["v2", "v1"])
def test_device_block_from_the_form_then_approved_in_the_browser(
    ui_server,
    page,
    shots,
    interop,  # noqa: F811
    ui: str,
) -> None:
    name = f"{ui}-device-grant"
    form = form_for(ui, page, ui_server.url)
    form.open_create("vendor-credentials")
    form.name(name)
    form.choose("Vendor", "oauth2")
    form.text("Client ID", "device-public")
    form.list_items("Scopes", ["openid", "offline_access"])
    form.choose("Grant", "device_code")
    form.text("Issuer (discovery)", interop.issuer)
    form.choose("Method", "none")
    form.shot(shots / "1-device-grant-form.png")
    form.create()
    form.shot(shots / "2-saved.png")

    env = {k: v for k, v in ui_server.env.items() if k != "DISPLAY"} | {"BROWSER": "false"}
    command = subprocess.Popen(  # noqa: S603 - our own CLI, as a person types it on the worker
        [sys.executable, "-m", "prefect_vendortokens", "authorize", name, "--device", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    printed: list[str] = []
    shown = threading.Event()

    def read() -> None:
        for line in command.stderr:  # type: ignore[union-attr]
            printed.append(line)
            if line.startswith("or open "):
                shown.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert shown.wait(120), "".join(printed)[-2000:]
        link = next(line for line in printed if line.startswith("or open ")).split()[-1]
        page.goto(link)  # the person's phone
        page.locator("button[autofocus]").click()  # "is this the code on your device?": continue
        page.locator("input[name=login]").fill("alice")
        page.locator("input[name=password]").fill("any")
        page.screenshot(path=str(shots / "3-sign-in.png"), full_page=True)
        page.locator("button[type=submit]").click()
        page.locator("button[type=submit]").wait_for()
        page.screenshot(path=str(shots / "4-consent.png"), full_page=True)
        page.locator("button[type=submit]").click()
        page.get_by_text("Sign-in Success").wait_for()
        page.screenshot(path=str(shots / "5-approved.png"), full_page=True)
        out, _ = command.communicate(timeout=120)
    finally:
        if command.poll() is None:
            command.kill()
    assert command.returncode == 0, "".join(printed)[-2000:]
    assert json.loads(out)["refresh_token"] == "kept in the token store"
    (shots / "0-terminal.txt").write_text("".join(printed))  # what the person saw on the worker

    first = ui_server.run("token", name)  # another process: the stored token
    assert first["valid"] and first["requests"] == 0, first
    renewed = ui_server.run("token", name, "--force")  # a refresh from the stored grant
    assert renewed["valid"] and renewed["requests"] == 1 and renewed["fingerprint"] != first["fingerprint"]
