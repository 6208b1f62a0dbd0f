"""The rotation flow: keep every vendor account's token fresh in the shared token store.

Run on a schedule so that flow runs find a valid token in the store and never ask a vendor
themselves. Deploy it by module path from any directory (``prefect-vendortokens
deploy-rotation``, or ``prefect deploy`` with the package's prefect.yaml):
``prefect_vendortokens.flows.rotation:rotate_tokens``.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client

from ..blocks.credentials import VendorCredentials, load_credentials
from ..blocks.events import emit_rotation_event
from ..core.errors import TokenError
from ..engine.retry import Retrying, RetryPolicy, retry

ROTATION_RETRY = RetryPolicy(attempts=3, base=1.0)
AUTO_BATCH_ABOVE = 50  # more accounts than this are rotated in batches
AUTO_BATCH_SIZE = 50
BATCH_THREADS = 8  # accounts rotated at once inside a batch (each waits on the network)


class RotationFailed(Exception):
    """At least one account could not be rotated (the flow run fails so alerts fire). ``rows``
    is the whole table, as the successful run returns it."""

    def __init__(self, message: str, rows: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.rows = rows or []


def vendor_block_names() -> list[str]:
    """Every saved VendorCredentials block (anonymous ones, such as nested copies, excluded)."""
    with get_client(sync_client=True) as client:
        documents = client.read_block_documents_by_type(VendorCredentials.get_block_type_slug())
    return sorted(d.name for d in documents if d.name and not d.is_anonymous)


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
    with ThreadPoolExecutor(max_workers=BATCH_THREADS, thread_name_prefix="rotate") as pool:
        futures = [pool.submit(contextvars.copy_context().run, row, name) for name in block_names]
        return [future.result() for future in futures]


def _rotate(block_name: str, horizon_seconds: float, logger: Any) -> dict[str, Any]:
    creds = load_credentials(block_name)
    token, refreshed = retry(
        lambda: creds.rotate(horizon_seconds), Retrying(ROTATION_RETRY, log=logger, label=block_name)
    )
    status = "refreshed" if refreshed else "still valid"
    logger.info("%s: %s, %s", block_name, status, token.describe())
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


def _markdown(rows: list[dict[str, Any]]) -> str:
    """The table with a short error cell (type, vendor code, HTTP status), and every error in
    full below it: a long cell overflows the table in Prefect's artifact page."""
    lines = [
        "| block | vendor | token | expires at | status | error |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['block']} | {r['vendor']} | {r['fingerprint']} | {r['expires_at']} | {r['status']} "
            f"| {_cell(r['error_summary'])} |"
        )
    failed = [r for r in rows if r["error"]]
    if failed:
        lines += ["", "### Errors", ""]
        lines += [f"- **{r['block']}**: {_cell(r['error'])}" for r in failed]
    return "\n".join(lines)


@flow(name="rotate-vendor-tokens", log_prints=False)
def rotate_tokens(
    block_names: list[str] | None = None, horizon_seconds: float = 900.0, batch_size: int | None = None
) -> list[dict[str, Any]]:
    """Refresh every vendor token that expires within ``horizon_seconds`` and publish a table.
    One failing account does not stop the others; the run fails at the end if any failed.

    ``batch_size``: accounts per task. By default a task per account (a named task run each)
    up to 50 accounts, and batches of 50 above that, where Prefect's per-task bookkeeping would
    cost more than the rotation itself."""
    names = block_names if block_names is not None else vendor_block_names()
    size = (
        batch_size if batch_size is not None else (1 if len(names) <= AUTO_BATCH_ABOVE else AUTO_BATCH_SIZE)
    )
    rows: list[dict[str, Any]] = []
    if size <= 1:  # a task per account: each has its own named task run in the UI
        futures = [(name, rotate_account.submit(name, horizon_seconds)) for name in names]
        for name, future in futures:
            outcome = future.result(raise_on_failure=False)
            rows.append(_failed_row(name, outcome) if isinstance(outcome, BaseException) else outcome)
    else:
        chunks = [names[i : i + size] for i in range(0, len(names), size)]
        batches = [
            (chunk, rotate_batch.submit(chunk, horizon_seconds, number, chunk[0]))
            for number, chunk in enumerate(chunks, 1)
        ]
        for chunk, batch in batches:
            done = batch.result(raise_on_failure=False)
            rows += [_failed_row(n, done) for n in chunk] if isinstance(done, BaseException) else done
    create_markdown_artifact(
        key="vendor-token-rotation", markdown=_markdown(rows), description="Vendor token rotation"
    )
    failed = [r for r in rows if r["status"] == "failed"]
    emit_rotation_event(rows)
    if failed:
        raise RotationFailed(
            f"{len(failed)} of {len(rows)} accounts failed: "
            + "; ".join(f"{r['block']}: {r['error']}" for r in failed),
            rows,
        )
    return rows
