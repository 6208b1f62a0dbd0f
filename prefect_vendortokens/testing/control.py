"""The sandbox's control endpoints, so tests and people in other processes can drive it over
HTTP as they would in Python (``VendorSandbox`` methods of the same names):

    POST /_control/revoke?vendor=sqr               revoke_all
    POST /_control/fail?vendor=sqr&n=2&status=503&retry_after=1   fail_next
    POST /_control/fail-api?vendor=sqr&n=1&status=429&retry_after=1   fail_next_api
    POST /_control/delay?seconds=0.5&vendor=sqr    set_delay
    POST /_control/lifetime?seconds=30&vendor=sqr  set_token_lifetime
    POST /_control/refresh-grace?seconds=10&vendor=slashid   set_refresh_reuse_grace
    POST /_control/reset                           reset_counters
    GET  /_control/counts                          counts
"""

from __future__ import annotations

from typing import Protocol

from .vendors import Reply, Request

CONTROL_PREFIX = "/_control/"


class Controlled(Protocol):
    """The controls of ``VendorSandbox`` this endpoint drives."""

    def counts(self) -> dict[str, dict[str, int]]: ...
    def revoke_all(self, vendor: str | None = None) -> None: ...
    def fail_next(
        self, vendor: str, n: int = 1, status: int = 503, retry_after: float | None = None
    ) -> None: ...
    def fail_next_api(
        self, vendor: str, n: int = 1, status: int = 503, retry_after: float | None = None
    ) -> None: ...
    def set_delay(self, seconds: float, vendor: str | None = None) -> None: ...
    def set_token_lifetime(self, seconds: float, vendor: str | None = None) -> None: ...
    def set_refresh_reuse_grace(self, seconds: float, vendor: str | None = None) -> None: ...
    def reset_counters(self) -> None: ...


def control(sandbox: Controlled, req: Request) -> Reply:
    """One control request; a bad one is a 400 naming the problem."""
    action = req.path[len(CONTROL_PREFIX) :]
    q = req.query
    vendor = q.get("vendor") or None
    try:
        if action == "counts" and req.method == "GET":
            return Reply(200, sandbox.counts())
        if req.method != "POST":
            return Reply(405, {"error": f"use POST for {action}"})
        if action == "revoke":
            sandbox.revoke_all(vendor)
        elif action in ("fail", "fail-api"):
            if vendor is None:
                return Reply(400, {"error": "vendor is required"})
            fail = sandbox.fail_next if action == "fail" else sandbox.fail_next_api
            retry_after = float(q["retry_after"]) if q.get("retry_after") else None
            fail(vendor, int(q.get("n", "1")), int(q.get("status", "503")), retry_after)
        elif action == "delay":
            sandbox.set_delay(float(q["seconds"]), vendor)
        elif action == "lifetime":
            sandbox.set_token_lifetime(float(q["seconds"]), vendor)
        elif action == "refresh-grace":
            sandbox.set_refresh_reuse_grace(float(q["seconds"]), vendor)
        elif action == "reset":
            sandbox.reset_counters()
        else:
            return Reply(404, {"error": f"no control {action!r}"})
    except (KeyError, ValueError) as exc:  # a missing or malformed parameter, or an unknown vendor
        return Reply(400, {"error": f"{action}: {exc}"})
    return Reply(200, {"ok": True})
