"""``check BLOCK`` and ``status``: one account's token now, and every account's shared token."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
from cyclopts import Parameter

from ..blocks.credentials import load_credentials
from ..blocks.events import AUTHORIZATION_REQUIRED, REFRESH_FAILED
from ..core.errors import BlockNotFoundError, InvalidBlockError, TokenError
from .app import EXIT_BLOCK, EXIT_OK, EXIT_PREFECT, EXIT_TOKEN, app, fail, show, show_record

JsonFlag = Annotated[bool, Parameter(name="--json", negative=(), help="Print JSON instead of a table.")]


class _Stop(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@contextlib.contextmanager
def prefect_api() -> Iterator[None]:
    """A Prefect API that does not answer is exit code 3, with the URL it tried."""
    try:
        yield
    except (httpx.TransportError, OSError) as exc:
        from prefect.settings import PREFECT_API_URL

        where = PREFECT_API_URL.value() or "the ephemeral server"
        message = f"the Prefect API at {where} did not answer ({type(exc).__name__})"
        raise _Stop(EXIT_PREFECT, message) from None


def _expires_in(at: datetime) -> str:
    seconds = int((at - datetime.now(UTC)).total_seconds())
    return str(timedelta(seconds=seconds)) if seconds >= 0 else f"expired {timedelta(seconds=-seconds)} ago"


@app.command(name="check")
def check(block: str, /, *, json: JsonFlag = False) -> int:
    """Get a token with a saved Vendor Credentials block: vendor, fingerprint, expiry and where
    it came from, and the shared store. Exit 1 with the vendor's (scrubbed) error otherwise."""
    try:
        with prefect_api():
            creds = load_credentials(block)
            token = creds.get_token(_sync=True)  # type: ignore[call-arg]
    except _Stop as stop:
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
        "expires_in": _expires_in(token.expires_at),
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


def _status_row(name: str, errors: dict[str, dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"block": name, "vendor": "", "grant": "", "store": "", "fingerprint": ""}
    row |= {"expires_in": ""}
    row |= {"last_refresh": "", "last_error": ""}
    try:
        creds = load_credentials(name)
    except InvalidBlockError as exc:
        return row | {"last_error": str(exc)}
    row |= {"vendor": creds.effective_dialect.name, "grant": creds.grant, "store": creds.store_kind()}
    manager = creds.manager()
    token = None
    if manager.store is not None:
        try:
            token = manager.store.read(manager.store_key)
        except Exception as exc:  # the store itself is what the person needs to hear about
            row["last_error"] = f"store unreadable: {type(exc).__name__}"
    if token is not None:
        row |= {
            "fingerprint": token.fingerprint,
            "expires_in": _expires_in(token.expires_at),
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
    """Every Vendor Credentials block: its shared token's fingerprint, expires in, last refresh,
    store, and the last refresh error since then."""
    from ..flows.rotation import vendor_block_names

    try:
        with prefect_api():
            names = vendor_block_names()
            try:
                errors = _last_errors()
            except Exception:  # the events API is a nicety here; the tokens are the point
                errors = {}
            rows = [_status_row(name, errors) for name in names]
    except _Stop as stop:
        return fail(stop.message, stop.code, as_json=json)
    columns = ["block", "vendor", "grant", "store", "fingerprint", "expires_in", "last_refresh", "last_error"]
    show(rows, columns, as_json=json, title="Vendor tokens")
    return EXIT_OK
