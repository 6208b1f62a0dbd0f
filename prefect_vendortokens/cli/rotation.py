"""``rotate`` (run the rotation flow now) and ``deploy-rotation`` (a scheduled deployment of
it, by module path, on a process work pool created if missing)."""

from __future__ import annotations

from typing import Annotated, Any, cast

from cyclopts import Parameter

from .app import EXIT_OK, EXIT_TOKEN, JsonFlag, app, console, fail, show, show_commands, show_record
from .block_names import require_saved
from .prefect_api import Stop, prefect_api
from .run_logs import run_logs_off_console

ENTRYPOINT = "prefect_vendortokens.flows.rotation:rotate_tokens"
COLUMNS = ["block", "vendor", "fingerprint", "expires_at", "status"]
ARTIFACT = "vendor-token-rotation"


@app.command(name="rotate")
def rotate(
    *blocks: Annotated[
        str, Parameter(help="Names of the blocks to rotate (default: every Vendor Credentials block).")
    ],
    horizon: Annotated[float, Parameter(help="Refresh tokens that expire within this many seconds.")] = 900.0,
    verbose: Annotated[
        bool,
        Parameter(
            name="--verbose",
            negative=(),
            show_default=False,
            help="Print each failed account's full error, and the flow run's log lines.",
        ),
    ] = False,
    json: JsonFlag = False,
) -> int:
    """Run the rotation flow now and print its table.

    A flow run on the Prefect API (Failed if any account failed, with the table and every error
    in its artifact, and its events), as the scheduled deployment runs it. Below the table, one
    line per failed account: block, error type, the vendor's code and HTTP status. Exit 1 if any
    account failed, 2 if a named block does not exist.
    """
    from ..flows.rotation import RotationFailed, rotate_tokens

    try:
        with prefect_api(blocks=True):
            if blocks:
                require_saved(blocks)
            with run_logs_off_console(verbose):
                state = rotate_tokens(
                    block_names=list(blocks) or None, horizon_seconds=horizon, return_state=True
                )
            outcome: Any = state.result(raise_on_failure=False)
    except Stop as stop:
        return fail(stop.message, stop.code, as_json=json)
    if isinstance(outcome, RotationFailed):
        rows, code = outcome.rows, EXIT_TOKEN
    elif isinstance(outcome, BaseException):  # the flow itself failed (before any account)
        return fail(f"the rotation flow run failed: {_describe(outcome)}", EXIT_TOKEN, as_json=json)
    else:
        rows, code = outcome, EXIT_OK
    show(rows, COLUMNS, as_json=json, title="Vendor token rotation")
    if not json:
        _show_failures(rows, verbose, _run_url(state.state_details.flow_run_id))
    return code


def _show_failures(rows: list[dict[str, Any]], verbose: bool, run_url: str) -> None:
    failed = [row for row in rows if row["status"] == "failed"]
    if not failed:
        return
    console.print(f"\n{len(failed)} of {len(rows)} accounts failed:", soft_wrap=True)
    for row in failed:
        said = row["error"] if verbose else row.get("error_summary") or row["error"]
        console.print(f"  {row['block']}: {said}", soft_wrap=True, markup=False)
    if not verbose:
        console.print(
            f"Full errors: --verbose, or the artifact {ARTIFACT!r} of the flow run {run_url}",
            soft_wrap=True,
            markup=False,
        )


def _run_url(flow_run_id: Any) -> str:
    from prefect.utilities.urls import url_for

    return url_for("flow-run", obj_id=flow_run_id) or str(flow_run_id)


def _describe(error: BaseException) -> str:
    from ..flows.rotation import describe_failure

    return describe_failure(error)


@app.command(name="deploy-rotation")
def deploy_rotation(
    *,
    pool: Annotated[str, Parameter(help="Work pool (a process pool is created if missing).")] = "default",
    cron: Annotated[str, Parameter(help="Schedule, a cron expression in UTC.")] = "*/10 * * * *",
    name: Annotated[
        str, Parameter(help="Deployment name (of the flow rotate-vendor-tokens).")
    ] = "rotate-vendor-tokens",
    horizon: Annotated[
        float, Parameter(help="Each run refreshes tokens that expire within this many seconds.")
    ] = 900.0,
    json: JsonFlag = False,
) -> int:
    """Deploy the rotation flow on a schedule, to a work pool.

    By module path (prefect_vendortokens.flows.rotation:rotate_tokens), so a worker needs only
    this package installed, no source checkout. The pool is created (type process) if missing.
    Then start a worker for the pool.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments.runner import RunnerDeployment
    from prefect.exceptions import ObjectNotFound
    from prefect.types.entrypoint import EntrypointType

    from ..flows.rotation import rotate_tokens

    try:
        with prefect_api():
            created_pool = False
            with get_client(sync_client=True) as client:
                try:
                    client.read_work_pool(pool)
                except ObjectNotFound:
                    client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
                    created_pool = True
            deployment = rotate_tokens.to_deployment(  # sync here: async_dispatch's union narrowed
                name=name,
                cron=cron,
                parameters={"horizon_seconds": horizon},
                work_pool_name=pool,
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
            deployment_id = cast(RunnerDeployment, deployment).apply()
    except Stop as stop:
        return fail(stop.message, stop.code, as_json=json)
    row = {
        "deployment": f"rotate-vendor-tokens/{name}",
        "id": str(deployment_id),
        "entrypoint": ENTRYPOINT,
        "pool": pool + (" (created)" if created_pool else ""),
        "cron": cron,
    }
    show_record(row, as_json=json, title="Rotation deployed")
    if not json:
        show_commands(
            [
                (
                    "Start a worker (in another terminal, or as a service)",
                    f"prefect worker start --pool {pool}",
                ),
                ("Run it now", f"prefect deployment run 'rotate-vendor-tokens/{name}'"),
            ]
        )
    return EXIT_OK
