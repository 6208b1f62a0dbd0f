"""``check BLOCK`` and ``status``: one account's token now, and every account's shared token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Parameter

from ..core.errors import BlockNotFoundError, InvalidBlockError, TokenError
from .app import EXIT_BLOCK, EXIT_OK, EXIT_TOKEN, JsonFlag, app, fail, show, show_record
from .block_names import require_saved
from .output import expires_in
from .prefect_api import Stop, prefect_api

if TYPE_CHECKING:
    from ..blocks.survey import Survey


@app.command(name="check")
def check(
    block: Annotated[
        str,
        Parameter(
            help="Name of a saved Vendor Credentials block (`prefect-vendortokens status` lists them)."
        ),
    ],
    /,
    *,
    json: JsonFlag = False,
) -> int:
    """Get a token with a saved block now, and say where it came from.

    Prints the vendor, the token's fingerprint (never the token), its expiry and where that
    came from, and the token store. Exit 1 with the vendor's (scrubbed) error when no token can
    be had, 2 when the block is missing or invalid.
    """
    from ..blocks.credentials import load_credentials  # Prefect's blocks: after the API check

    try:
        with prefect_api(blocks=True):
            try:
                creds = load_credentials(block)
            except BlockNotFoundError:
                require_saved([block])
                raise
            token = creds.get_token(_sync=True)  # type: ignore[call-arg]
    except Stop as stop:
        return fail(stop.message, stop.code, as_json=json)
    except (BlockNotFoundError, InvalidBlockError) as exc:
        return fail(str(exc), EXIT_BLOCK, as_json=json)
    except TokenError as exc:
        return fail(f"{type(exc).__name__}: {exc}", EXIT_TOKEN, as_json=json)
    row = {
        "block": block,
        "vendor": creds.effective_dialect.name,
        "fingerprint": token.fingerprint,
        "expires_at": token.expires_at.isoformat(timespec="seconds"),
        "expires_in": expires_in(token.expires_at),
        "expiry_source": token.expiry_source.value,
        "store": creds.store_kind(),
        "requested": creds.manager().requests > 0,
    }
    show_record(row, as_json=json, title=f"{block}: token OK")
    return EXIT_OK


def _last_errors() -> dict[str, dict[str, Any]]:
    """The newest refresh-failed or authorization-required event per block, from Prefect's
    events (last 7 days)."""
    from prefect.client.orchestration import get_client

    from ..blocks.events import AUTHORIZATION_REQUIRED, REFRESH_FAILED

    since = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    names = [REFRESH_FAILED, AUTHORIZATION_REQUIRED]
    body = {"filter": {"event": {"name": names}, "occurred": {"since": since}}, "limit": 50}
    with get_client(sync_client=True) as client:
        answer = client.request("POST", "/events/filter", json=body).json()
    newest: dict[str, dict[str, Any]] = {}
    for event in answer.get("events", []):
        block = (event.get("payload") or {}).get("block")
        if block and (block not in newest or event["occurred"] > newest[block]["occurred"]):
            newest[block] = event
    return newest


STATUS_THREADS = 16  # stores read at once for the accounts the survey could not list (Vault)


def _status_rows(errors: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every account's row: the blocks and the Prefect store's tokens from one listing each,
    the other stores' tokens read side by side (each read waits on the network)."""
    from concurrent.futures import ThreadPoolExecutor

    from ..blocks.survey import survey

    found = survey()
    with ThreadPoolExecutor(max_workers=STATUS_THREADS, thread_name_prefix="status") as pool:
        return list(pool.map(lambda name: _status_row(name, found, errors), found.names))


def _status_row(name: str, found: Survey, errors: dict[str, dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"block": name, "vendor": "", "grant": "", "store": "", "fingerprint": ""}
    row |= {"expires_in": ""}
    row |= {"last_refresh": "", "last_error": ""}
    creds = found.blocks.get(name)
    if creds is None:
        return row | {"last_error": str(found.errors[name])}
    row |= {"vendor": creds.effective_dialect.name, "grant": creds.grant, "store": creds.store_kind()}
    manager = creds.manager()
    token = None
    if name in found.stored:
        token = found.stored[name].token
    elif manager.store is not None:
        try:
            token = manager.store.read(manager.store_key)
        except Exception as exc:  # the store itself is what the person needs to hear about
            row["last_error"] = f"store unreadable: {type(exc).__name__}"
    if token is not None:
        row |= {
            "fingerprint": token.fingerprint,
            "expires_in": expires_in(token.expires_at),
            "last_refresh": token.issued_at.isoformat(timespec="seconds"),
        }
    failed = errors.get(name)
    if failed and (token is None or failed["occurred"] > token.issued_at.isoformat()):
        payload = failed["payload"]
        said = payload.get("vendor_code") or payload.get("status") or ""
        row["last_error"] = f"{failed['occurred'][:19]} {payload.get('error_type')}: {said}"
    return row


@app.command(name="status")
def status(*, json: JsonFlag = False) -> int:
    """Every saved block's shared token: fingerprint, expiry, last refresh and last error.

    Reads the token store of each Vendor Credentials block (no vendor is asked) and the newest
    refresh error since the token was stored, from Prefect's events (7 days). On a terminal too
    narrow for the table, each block is printed as a record.
    """
    try:
        with prefect_api(blocks=True):
            try:
                errors = _last_errors()
            except Exception:  # the events API is a nicety here; the tokens are the point
                errors = {}
            rows = _status_rows(errors)
    except Stop as stop:
        return fail(stop.message, stop.code, as_json=json)
    columns = ["block", "vendor", "grant", "store", "fingerprint", "expires_in", "last_refresh", "last_error"]
    show(rows, columns, as_json=json, title="Vendor tokens")
    return EXIT_OK
