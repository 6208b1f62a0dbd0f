"""The rotation flow: keep every vendor account's token fresh in the shared token store.

Run on a schedule so that flow runs find a valid token in the store and never ask a vendor
themselves. Deploy it by module path from any directory (``prefect-vendortokens
deploy-rotation``, or ``prefect deploy`` with the package's prefect.yaml):
``prefect_vendortokens.flows.rotation:rotate_tokens``.
"""

from __future__ import annotations

import collections
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client

from ..blocks.credentials import VendorCredentials, load_credentials
from ..blocks.events import emit_rotation_event
from ..blocks.survey import Survey, held, prepare, survey
from ..core.caches import ProcessCache
from ..core.errors import TokenError
from ..core.token import AccessToken
from ..engine.retry import Retrying, RetryPolicy, retry

ROTATION_RETRY = RetryPolicy(attempts=3, base=1.0)
AUTO_BATCH_ABOVE = 50  # more accounts than this are rotated in batches
AUTO_BATCH_SIZE = 50
BATCH_THREADS = 8  # accounts rotated at once inside a batch (each waits on the network)
# Accounts in flight at once in the process, whatever the tasks: a flow run's Prefect client has
# 16 connections, and more accounts than that only queue for them (past the store's 10 s bound).
IN_FLIGHT = 16
BATCHES_AT_ONCE = IN_FLIGHT // BATCH_THREADS
_in_flight = threading.BoundedSemaphore(IN_FLIGHT)
TABLE_ROWS = 200  # rows of the artifact's table; every row is in the table artifact

# The blocks the running flow listed, by name, for its tasks (threads of this process): a task's
# parameters are names, never a block with its secrets in it.
_LISTED: ProcessCache[str, VendorCredentials] = ProcessCache("rotation's listed blocks")


class RotationFailed(Exception):
    """At least one account could not be rotated (the flow run fails so alerts fire). ``rows``
    is the whole table, as the successful run returns it."""

    def __init__(self, message: str, rows: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.rows = rows or []


def vendor_block_names() -> list[str]:
    """Every saved VendorCredentials block (anonymous ones, such as nested copies, excluded)."""
    from ..stores.prefect_listing import block_documents

    with get_client(sync_client=True) as client:
        slug = VendorCredentials.get_block_type_slug()
        return sorted(d["name"] for d in block_documents(client, slug, include_secrets=False) if d["name"])


@task(
    name="rotate-vendor-token",
    task_run_name="rotate-{block_name}",
    persist_result=False,
    cache_policy=NO_CACHE,
)
def rotate_account(block_name: str, horizon_seconds: float) -> dict[str, Any]:
    """Refresh one account's shared token if it expires within the horizon. Returns a row with
    no secret in it: block, vendor, fingerprint, expiry, what was done."""
    return _rotate(block_name, horizon_seconds, get_run_logger())


@task(
    name="rotate-vendor-tokens-batch",
    task_run_name="rotate-batch-{number}-{first_block}",
    persist_result=False,
    cache_policy=NO_CACHE,
)
def rotate_batch(
    block_names: list[str], horizon_seconds: float, number: int = 1, first_block: str = ""
) -> list[dict[str, Any]]:
    """Rotate many accounts in one task, ``BATCH_THREADS`` at a time: with hundreds of accounts,
    a task each costs more in Prefect's bookkeeping than the rotation itself. A failing account
    becomes a failed row; the others go on."""
    logger = get_run_logger()

    def row(name: str) -> dict[str, Any]:
        try:
            return _rotate(name, horizon_seconds, logger)
        except Exception as exc:
            return _failed_row(name, exc)

    # Each account in a copy of this task's context: Prefect's settings (the API URL of a
    # temporary_settings block, the run context) are context variables a plain thread lacks.
    # The accounts go BATCH_THREADS at a time, each group's locks held as one (``held``).
    rows: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=BATCH_THREADS, thread_name_prefix="rotate") as pool:
        for start in range(0, len(block_names), BATCH_THREADS):
            group = block_names[start : start + BATCH_THREADS]
            listed = [b for b in map(_LISTED.get, group) if b is not None]
            with held(listed):
                futures = [pool.submit(contextvars.copy_context().run, row, name) for name in group]
                rows += [future.result() for future in futures]
    return rows


def _rotate(block_name: str, horizon_seconds: float, logger: Any) -> dict[str, Any]:
    with _in_flight:
        return _rotate_one(block_name, horizon_seconds, logger)


def _rotate_one(block_name: str, horizon_seconds: float, logger: Any) -> dict[str, Any]:
    listed = _LISTED.get(block_name)
    creds = listed if listed is not None else load_credentials(block_name)
    # A listed block's stored token was read by the flow a moment ago and found due: the
    # manager goes straight to the lock (it reads the store again under it).
    peeked = listed is not None and listed.store_kind() == "prefect"
    token, refreshed = retry(
        lambda: creds.rotate(horizon_seconds, peeked=peeked),
        Retrying(ROTATION_RETRY, log=logger, label=block_name),
    )
    status = "refreshed" if refreshed else "still valid"
    logger.info("%s: %s, %s", block_name, status, token.describe())
    return _row(block_name, creds, token, status)


def _row(block_name: str, creds: VendorCredentials, token: AccessToken, status: str) -> dict[str, Any]:
    return {
        "block": block_name,
        "vendor": creds.effective_dialect.name,
        "fingerprint": token.fingerprint,
        "expires_at": token.expires_at.isoformat(timespec="seconds"),
        "status": status,
        "error": "",
        "error_summary": "",
    }


def _failed_row(block_name: str, error: BaseException) -> dict[str, Any]:
    return {
        "block": block_name,
        "vendor": _vendor_of(block_name),
        "fingerprint": "",
        "expires_at": "",
        "status": "failed",
        "error": describe_failure(error),
        "error_summary": summarize_failure(error),
    }


def describe_failure(error: BaseException) -> str:
    """The artifact's error text. Token errors (load errors included) are already scrubbed and
    name the block; a block that fails pydantic validation is described without its input
    values (pydantic echoes them by default)."""
    from pydantic import ValidationError

    if isinstance(error, TokenError):
        return str(error)
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'block'}: {e['msg']}"
            for e in error.errors(include_input=False, include_url=False)
        )
        return f"invalid block: {problems}"
    return f"{type(error).__name__}: {error}"


def summarize_failure(error: BaseException) -> str:
    """The table's short error cell: the error type and the vendor's code and HTTP status."""
    if isinstance(error, TokenError):
        said = " ".join(
            part
            for part in (error.vendor_code or "", f"(HTTP {error.status})" if error.status else "")
            if part
        )
        return f"{type(error).__name__}: {said}" if said else type(error).__name__
    return type(error).__name__


def _vendor_of(block_name: str) -> str:
    """The vendor of a block whose rotation failed, or "" when the block itself cannot load."""
    try:
        return load_credentials(block_name).effective_dialect.name
    except Exception:
        return ""


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "/").split())


ORDER = {"failed": 0, "refreshed": 1, "still valid": 2}


def _markdown(rows: list[dict[str, Any]]) -> str:
    """A summary line, then the table, failures first, with a short error cell (type, vendor
    code, HTTP status), and every error in full below it (a long cell overflows the table in
    Prefect's artifact page). Past ``TABLE_ROWS`` rows the rest are counted, and every row is
    in the table artifact ``vendor-token-rotation-table``: ten thousand rows of markdown would
    not be readable, nor quick to render."""
    counts = {status: sum(r["status"] == status for r in rows) for status in ORDER}
    summary = f"**{len(rows)} accounts**: " + ", ".join(f"{n} {status}" for status, n in counts.items())
    lines = [
        summary,
        "",
        "| block | vendor | token | expires at | status | error |",
        "|---|---|---|---|---|---|",
    ]
    ordered = sorted(rows, key=lambda r: ORDER.get(r["status"], 0))
    for r in ordered[:TABLE_ROWS]:
        lines.append(
            f"| {r['block']} | {r['vendor']} | {r['fingerprint']} | {r['expires_at']} | {r['status']} "
            f"| {_cell(r['error_summary'])} |"
        )
    if len(rows) > TABLE_ROWS:
        lines += [
            "",
            f"{len(rows) - TABLE_ROWS} more rows (failures come first): every row is in the table "
            f"artifact `{TABLE_KEY}`.",
        ]
    failed = [r for r in rows if r["error"]]
    if failed:
        lines += ["", "### Errors", ""]
        lines += [f"- **{r['block']}**: {_cell(r['error'])}" for r in failed]
    return "\n".join(lines)


TABLE_KEY = "vendor-token-rotation-table"


def _publish(rows: list[dict[str, Any]]) -> None:
    create_markdown_artifact(
        key="vendor-token-rotation", markdown=_markdown(rows), description="Vendor token rotation"
    )
    if len(rows) > TABLE_ROWS:
        columns = ("block", "vendor", "fingerprint", "expires_at", "status", "error_summary")
        create_table_artifact(
            key=TABLE_KEY,
            table=[{c: r[c] for c in columns} for r in sorted(rows, key=lambda r: ORDER.get(r["status"], 0))],
            description="Vendor token rotation: every account",
        )


@flow(name="rotate-vendor-tokens", log_prints=False)
def rotate_tokens(
    block_names: list[str] | None = None, horizon_seconds: float = 900.0, batch_size: int | None = None
) -> list[dict[str, Any]]:
    """Refresh every vendor token that expires within ``horizon_seconds`` and publish a table.
    One failing account does not stop the others; the run fails at the end if any failed.

    The accounts and the Prefect store's tokens are read in one listing each; an account whose
    stored token does for the horizon is settled from it, with no lock and no task. The due
    ones are rotated by tasks: by default a task per account (a named task run each) up to 50
    due accounts, and batches of ``batch_size`` (50) above that, where Prefect's per-task
    bookkeeping would cost more than the rotation itself."""
    logger = get_run_logger()
    found = survey(block_names)
    names = block_names if block_names is not None else found.names
    settled = _settled(found, horizon_seconds)
    due = [n for n in dict.fromkeys(names) if n not in settled and n not in found.errors]
    logger.info("%d accounts: %d still valid, %d to rotate", len(names), len(settled), len(due))
    prepare([found.blocks[n] for n in due if n in found.stored])
    for name in due:
        _LISTED.put(name, found.blocks[name])
    try:
        done = _rotate_due(due, horizon_seconds, batch_size)
    finally:
        for name in due:
            _LISTED.pop(name)
    rows = [settled.get(n) or done.get(n) or _failed_row(n, found.errors[n]) for n in names]
    _publish(rows)
    failed = [r for r in rows if r["status"] == "failed"]
    emit_rotation_event(rows)
    if failed:
        raise RotationFailed(
            f"{len(failed)} of {len(rows)} accounts failed: "
            + "; ".join(f"{r['block']}: {r['error']}" for r in failed),
            rows,
        )
    return rows


def _settled(found: Survey, horizon_seconds: float) -> dict[str, dict[str, Any]]:
    """The rows of the accounts whose stored token (from the listing) does for the horizon."""
    rows = {}
    for name, record in found.stored.items():
        creds = found.blocks[name]
        if record.token is not None and creds.manager().settled_by(record, horizon_seconds):
            rows[name] = _row(name, creds, record.token, "still valid")
    return rows


def _rotate_due(
    names: list[str], horizon_seconds: float, batch_size: int | None
) -> dict[str, dict[str, Any]]:
    """Each due account's row: a task per account, or batches of accounts per task."""
    size = (
        batch_size if batch_size is not None else (1 if len(names) <= AUTO_BATCH_ABOVE else AUTO_BATCH_SIZE)
    )
    rows: dict[str, dict[str, Any]] = {}
    if size <= 1:  # a task per account: each has its own named task run in the UI
        futures = [(name, rotate_account.submit(name, horizon_seconds)) for name in names]
        for name, future in futures:
            outcome = future.result(raise_on_failure=False)
            rows[name] = _failed_row(name, outcome) if isinstance(outcome, BaseException) else outcome
        return rows
    # A few batches at a time (their threads fill IN_FLIGHT): ten thousand accounts would
    # otherwise start 200 task runs and 1,600 threads at once, nearly all waiting.
    pending: collections.deque[tuple[list[str], Any]] = collections.deque()
    chunks = [names[i : i + size] for i in range(0, len(names), size)]
    for number, chunk in enumerate(chunks, 1):
        if len(pending) >= BATCHES_AT_ONCE:
            rows |= _batch_rows(*pending.popleft())
        pending.append((chunk, rotate_batch.submit(chunk, horizon_seconds, number, chunk[0])))
    while pending:
        rows |= _batch_rows(*pending.popleft())
    return rows


def _batch_rows(chunk: list[str], batch: Any) -> dict[str, dict[str, Any]]:
    done = batch.result(raise_on_failure=False)
    if isinstance(done, BaseException):
        return {n: _failed_row(n, done) for n in chunk}
    return {r["block"]: r for r in done}
