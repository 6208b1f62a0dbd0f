"""The rotation flow: keep every vendor account's token fresh in the shared token store.

Run on a schedule so that flow runs find a valid token in the store and never ask a vendor
themselves. Deploy with ``prefect deploy`` (see prefect.yaml) or serve it from this file:

    python flows/rotate_tokens.py            # serves with a cron schedule (every 10 minutes)
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client

from prefect_vendortokens import RetryPolicy, TokenError, VendorCredentials
from prefect_vendortokens.retry import call_with_retries

ROTATION_RETRY = RetryPolicy(attempts=3, base=1.0)


class RotationFailed(Exception):
    """At least one account could not be rotated (the flow run fails so alerts fire)."""


def vendor_block_names() -> list[str]:
    """Every saved VendorCredentials block (anonymous ones, such as nested copies, excluded)."""
    with get_client(sync_client=True) as client:
        documents = client.read_block_documents_by_type(VendorCredentials.get_block_type_slug())
    return sorted(d.name for d in documents if d.name and not d.is_anonymous)


@task(name="rotate-vendor-token", persist_result=False, cache_policy=NO_CACHE)
def rotate_account(block_name: str, horizon_seconds: float) -> dict[str, Any]:
    """Refresh one account's shared token if it expires within the horizon. Returns a row with
    no secret in it: block, vendor, fingerprint, expiry, what was done."""
    logger = get_run_logger()
    creds = VendorCredentials.load(block_name, _sync=True)  # type: ignore[call-arg]
    token, refreshed = call_with_retries(lambda: creds.rotate(horizon_seconds), ROTATION_RETRY, logger)
    status = "refreshed" if refreshed else "still valid"
    logger.info("%s: %s, %s", block_name, status, token.describe())
    return {
        "block": block_name,
        "vendor": creds.effective_dialect.name,
        "fingerprint": token.fingerprint,
        "expires_at": token.expires_at.isoformat(timespec="seconds"),
        "status": status,
        "error": "",
    }


def describe_failure(error: BaseException) -> str:
    """The artifact's error cell. Token errors are already scrubbed; a block that fails to
    validate is described without its input values (pydantic echoes them by default)."""
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


def _vendor_of(block_name: str) -> str:
    """The vendor of a block whose rotation failed, or "" when the block itself cannot load."""
    try:
        creds = VendorCredentials.load(block_name, _sync=True)  # type: ignore[call-arg]
        return creds.effective_dialect.name
    except Exception:
        return ""


def _table(rows: list[dict[str, Any]]) -> str:
    head = "| block | vendor | token | expires at | status | error |\n|---|---|---|---|---|---|\n"
    return head + "\n".join(
        f"| {r['block']} | {r['vendor']} | {r['fingerprint']} | {r['expires_at']} | {r['status']} | "
        f"{r['error'].replace('|', '/')} |"
        for r in rows
    )


@flow(name="rotate-vendor-tokens", log_prints=False)
def rotate_tokens(
    block_names: list[str] | None = None, horizon_seconds: float = 900.0
) -> list[dict[str, Any]]:
    """Refresh every vendor token that expires within ``horizon_seconds`` and publish a table.
    One failing account does not stop the others; the run fails at the end if any failed."""
    names = block_names if block_names is not None else vendor_block_names()
    futures = [(name, rotate_account.submit(name, horizon_seconds)) for name in names]
    rows: list[dict[str, Any]] = []
    for name, future in futures:
        outcome = future.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):
            rows.append(
                {
                    "block": name,
                    "vendor": _vendor_of(name),
                    "fingerprint": "",
                    "expires_at": "",
                    "status": "failed",
                    "error": describe_failure(outcome),
                }
            )
        else:
            rows.append(outcome)
    create_markdown_artifact(
        key="vendor-token-rotation", markdown=_table(rows), description="Vendor token rotation"
    )
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        raise RotationFailed(
            f"{len(failed)} of {len(rows)} accounts failed: "
            + "; ".join(f"{r['block']}: {r['error']}" for r in failed)
        )
    return rows


if __name__ == "__main__":
    rotate_tokens.serve(
        name="rotate-vendor-tokens", cron="*/10 * * * *", parameters={"horizon_seconds": 900.0}
    )
