"""``rotate`` (run the rotation flow now) and ``deploy-rotation`` (a scheduled deployment of
it, by module path, on a process work pool created if missing)."""

from __future__ import annotations

from typing import Annotated, cast

from cyclopts import Parameter

from .accounts import JsonFlag, _Stop, prefect_api
from .app import EXIT_OK, EXIT_TOKEN, app, console, fail, show, show_record

ENTRYPOINT = "prefect_vendortokens.flows.rotation:rotate_tokens"
COLUMNS = ["block", "vendor", "fingerprint", "expires_at", "status", "error"]


@app.command(name="rotate")
def rotate(
    *blocks: str,
    horizon: Annotated[float, Parameter(help="Refresh tokens that expire within this many seconds.")] = 900.0,
    json: JsonFlag = False,
) -> int:
    """Run the rotation flow now, for the named blocks or every Vendor Credentials block.
    Exit 1 if any account failed (its row says why)."""
    from ..flows.rotation import RotationFailed, rotate_tokens

    try:
        with prefect_api():
            rows = rotate_tokens(block_names=list(blocks) or None, horizon_seconds=horizon)
            code = EXIT_OK
    except _Stop as stop:
        return fail(stop.message, stop.code, as_json=json)
    except RotationFailed as exc:
        rows, code = exc.rows, EXIT_TOKEN
    show(rows, COLUMNS, as_json=json, title="Vendor token rotation")
    return code


@app.command(name="deploy-rotation")
def deploy_rotation(
    *,
    pool: Annotated[str, Parameter(help="Work pool (a process pool is created if missing).")] = "default",
    cron: Annotated[str, Parameter(help="Schedule (cron, UTC).")] = "*/10 * * * *",
    name: Annotated[str, Parameter(help="Deployment name.")] = "rotate-vendor-tokens",
    horizon: Annotated[float, Parameter(help="The flow's horizon_seconds.")] = 900.0,
    json: JsonFlag = False,
) -> int:
    """Deploy the rotation flow by module path (no source checkout needed on the worker), on a
    cron schedule, to a work pool. Then start a worker: ``prefect worker start --pool POOL``."""
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
    except _Stop as stop:
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
        console.print(f"Start a worker:  prefect worker start --pool {pool}")
        console.print(f"Run it now:      prefect deployment run 'rotate-vendor-tokens/{name}'")
    return EXIT_OK
