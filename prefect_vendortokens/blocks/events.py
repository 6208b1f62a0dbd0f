"""Prefect events for Automations: a token refreshed or a refresh failed, a rotation completed or
failed. Each names the credentials block as a related resource and carries the vendor,
fingerprint, expiry or error type in its payload; never a secret (error messages are the
already-scrubbed ``TokenError`` text).

Events are emitted only where a Prefect API is configured (or inside a run): a plain script's
token request must not start a server to report itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..core.errors import TokenError
from ..core.token import AccessToken

if TYPE_CHECKING:
    from ..engine.manager import TokenManager

logger = logging.getLogger("prefect_vendortokens")

TOKEN_REFRESHED = "prefect-vendortokens.token.refreshed"
REFRESH_FAILED = "prefect-vendortokens.token.refresh-failed"
# A user-authorized account lost its grant (revoked, expired, reused): a person must consent again.
AUTHORIZATION_REQUIRED = "prefect-vendortokens.authorization.required"
ROTATION_COMPLETED = "prefect-vendortokens.rotation.completed"
ROTATION_FAILED = "prefect-vendortokens.rotation.failed"


def prefect_api_available() -> bool:
    """A Prefect API is configured, or this runs inside a flow or task run (whose API it is)."""
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.settings import PREFECT_API_URL

    in_run = FlowRunContext.get() is not None or TaskRunContext.get() is not None
    return bool(PREFECT_API_URL.value()) or in_run


def _emit(
    event: str, resource: dict[str, str], related: list[dict[str, str]], payload: dict[str, Any]
) -> None:
    if not prefect_api_available():
        return
    from prefect.events import emit_event

    try:
        emit_event(event=event, resource=resource, related=related, payload=payload)
    except Exception:  # reporting must never fail the token request it reports
        logger.debug("could not emit %s", event, exc_info=True)


def error_payload(error: TokenError) -> dict[str, Any]:
    return {
        "error_type": type(error).__name__,
        "status": error.status,
        "vendor_code": error.vendor_code,
        "retryable": error.retryable,
        "message": str(error),
    }


def watch(manager: TokenManager, *, block_name: str | None, block_id: Any, vendor: str) -> None:
    """Emit a token event after each vendor request of ``manager`` (once per manager)."""
    if any(getattr(listener, "_vendortokens_events", False) for listener in manager.listeners):
        return
    resource = {
        "prefect.resource.id": f"prefect-vendortokens.account.{manager.store_key[:24]}",
        "prefect.resource.name": block_name or manager.label,
    }
    related = [
        {
            "prefect.resource.id": "prefect.block-type.vendor-credentials",
            "prefect.resource.role": "block-type",
        }
    ]
    if block_id is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.block-document.{block_id}",
                "prefect.resource.role": "block",
                "prefect.resource.name": block_name or "",
            }
        )

    def listener(grant: str, token: AccessToken | None, error: TokenError | None) -> None:
        payload: dict[str, Any] = {"vendor": vendor, "grant": grant, "block": block_name}
        if token is not None:
            payload |= {
                "fingerprint": token.fingerprint,
                "expires_at": token.expires_at.isoformat(),
                "expiry_source": token.expiry_source.value,
            }
            _emit(TOKEN_REFRESHED, resource, related, payload)
        elif error is not None:
            event = AUTHORIZATION_REQUIRED if grant == "authorize" else REFRESH_FAILED
            _emit(event, resource, related, payload | error_payload(error))

    listener._vendortokens_events = True  # type: ignore[attr-defined]
    manager.listeners.append(listener)


def emit_rotation_event(rows: list[dict[str, Any]]) -> None:
    """Rotation completed (every account fine) or failed (names the failed blocks)."""
    failed = [r for r in rows if r["status"] == "failed"]
    payload = {
        "accounts": len(rows),
        "refreshed": sum(r["status"] == "refreshed" for r in rows),
        "still_valid": sum(r["status"] == "still valid" for r in rows),
        "failed": len(failed),
        "failed_blocks": [r["block"] for r in failed],
        "errors": {r["block"]: r["error"] for r in failed},
    }
    resource = {"prefect.resource.id": "prefect-vendortokens.rotation", "prefect.resource.name": "rotation"}
    related = [
        {
            "prefect.resource.id": f"prefect-vendortokens.block.{r['block']}",
            "prefect.resource.role": "account",
        }
        for r in failed
    ]
    _emit(ROTATION_FAILED if failed else ROTATION_COMPLETED, resource, related, payload)
