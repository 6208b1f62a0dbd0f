"""The refresh lock on a Prefect server: a global concurrency limit of 1 per account, one slot
taken with a lease. The caller polls the store meanwhile: Prefect's own waiting sleeps for the
server's Retry-After, seconds, while a refresh takes milliseconds. A crashed holder's lease
expires after ``LOCK_LEASE``."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from ..core.errors import TokenStoreError
from ..engine.deadline import STORE_CALL_TIMEOUT, call_within

logger = logging.getLogger("prefect_vendortokens")
LOCK_LEASE = 60.0  # a crashed holder's lock is freed after this (a refresh takes < 30 s)


def _limit_name(key: str) -> str:
    return f"vendortokens-refresh-{key[:24]}"


def _ensure_limit(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except Exception:
            # Two processes creating it at once: the loser gets a conflict (or, from SQLite, a
            # 500). Either way it exists now, or reading it raises the real problem.
            client.read_global_concurrency_limit_by_name(name)


class PrefectLock:
    """``RefreshLock`` on the Prefect server the process talks to."""

    _ensured: ClassVar[set[str]] = set()

    def try_acquire(self, key: str) -> PrefectLease | None:
        from prefect.client.orchestration import get_client

        name = _limit_name(key)
        try:
            if name not in self._ensured:
                _ensure_limit(name)
                self._ensured.add(name)
            with get_client(sync_client=True) as client:
                answer = client.increment_concurrency_slots_with_lease([name], 1, "concurrency", LOCK_LEASE)
        except Exception as exc:
            if _busy(exc):
                return None
            raise TokenStoreError(f"could not take the refresh lock {name}: {type(exc).__name__}") from None
        try:
            return PrefectLease(name, _lease(answer, name))
        except TokenStoreError:
            self._ensured.discard(name)  # deleted, or another server: create it on the next try
            raise


def _lease(answer: Any, name: str) -> Any:
    body = answer.json()
    if not body.get("limits"):  # the server grants anything for a limit that does not exist
        raise TokenStoreError(f"the refresh lock {name} does not exist on the Prefect server")
    return body["lease_id"]


def _busy(exc: BaseException) -> bool:
    """True when the limit answered 423 Locked (someone else holds it)."""
    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.HTTPStatusError) and seen.response.status_code == 423:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class PrefectLease:
    """One held slot; released bounded (a lease that is not released expires by itself)."""

    def __init__(self, name: str, lease_id: Any) -> None:
        self.name, self.lease_id = name, lease_id

    def release(self) -> None:
        from prefect.client.orchestration import get_client

        def release() -> None:
            with get_client(sync_client=True) as client:
                client.release_concurrency_slots_with_lease(self.lease_id)

        def hung() -> TokenStoreError:
            return TokenStoreError(
                f"the refresh lock {self.name} was not released within {STORE_CALL_TIMEOUT:g} s"
            )

        call_within(release, STORE_CALL_TIMEOUT, hung)
