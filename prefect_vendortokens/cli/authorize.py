"""``authorize BLOCK``: a person's consent for a block with grant authorization_code or
device_code, once (``--device``: the device flow, for a machine with no browser)."""

from __future__ import annotations

import webbrowser
from typing import Annotated

from cyclopts import Parameter

from ..core.device import DeviceAuthorization
from ..core.errors import BlockNotFoundError, DialectError, InvalidBlockError, TokenError
from ..engine.consent import CONSENT_TIMEOUT, device_instructions
from .app import EXIT_BLOCK, EXIT_OK, EXIT_TOKEN, JsonFlag, app, errors, fail, show_record
from .block_names import require_saved
from .output import expires_in
from .prefect_api import Stop, prefect_api


@app.command(name="authorize")
def authorize(
    block: Annotated[
        str,
        Parameter(
            help="Name of a saved Vendor Credentials block whose grant is authorization_code or device_code."
        ),
    ],
    /,
    *,
    port: Annotated[
        int | None, Parameter(help="Loopback port of the redirect (default: the block's).")
    ] = None,
    no_browser: Annotated[
        bool,
        Parameter(
            name="--no-browser",
            negative=(),
            show_default=False,
            help="Print the URL instead of opening a browser.",
        ),
    ] = False,
    device: Annotated[
        bool,
        Parameter(
            name="--device",
            negative=(),
            show_default=False,
            help="The device flow (RFC 8628): print a code and URL (and a QR code) to approve on "
            "another device; no browser or redirect here. The default for grant device_code.",
        ),
    ] = False,
    timeout: Annotated[float, Parameter(help="Seconds to wait for the consent.")] = CONSENT_TIMEOUT,
    json: JsonFlag = False,
) -> int:
    """Get a person's consent for a block with grant authorization_code or device_code (once).

    Opens the vendor's consent page (or prints its URL), receives the redirect on 127.0.0.1,
    and keeps the refresh token in the block's token store, so flows get tokens from then on.
    With --device (a machine with no browser): prints the verification URI, the user code and
    a QR code, and polls until the person approves on another device.
    Run it again when the vendor says the grant is revoked.
    """

    def show_url(url: str) -> None:
        # stderr, so --json keeps stdout for the result; flush: a script reads it while we wait.
        errors.print(f"Open this URL to authorize {block}:", soft_wrap=True)
        print(url, file=errors.file, flush=True)
        if not no_browser:
            webbrowser.open(url)

    def show_device(authorization: DeviceAuthorization) -> None:
        # stderr (stdout is the --json result); plain print: Rich would re-wrap the QR code.
        print(f"To authorize {block}:", file=errors.file)
        print(device_instructions(authorization), file=errors.file, flush=True)

    from ..blocks.credentials import load_credentials  # Prefect's blocks: after the API check

    try:
        with prefect_api(blocks=True):
            try:
                creds = load_credentials(block)
            except BlockNotFoundError:
                require_saved([block])
                raise
            token = creds.authorize(
                show_url=show_url, port=port, timeout=timeout, device=device or None, show=show_device
            )
    except Stop as stop:
        return fail(stop.message, stop.code, as_json=json)
    except (BlockNotFoundError, InvalidBlockError) as exc:
        return fail(str(exc), EXIT_BLOCK, as_json=json)
    except DialectError as exc:  # the block is not set up for a consent
        return fail(str(exc), EXIT_BLOCK, as_json=json)
    except TokenError as exc:
        return fail(f"{type(exc).__name__}: {exc}", EXIT_TOKEN, as_json=json)
    row = {
        "block": block,
        "fingerprint": token.fingerprint,
        "expires_in": expires_in(token.expires_at),
        "refresh_token": "kept in the token store" if token.refresh_token else "none issued",
        "scope": token.scope or "",
        "store": creds.store_kind(),
    }
    show_record(row, as_json=json, title=f"{block}: authorized")
    return EXIT_OK
