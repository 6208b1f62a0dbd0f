"""The refresh lock on a Prefect server: a global concurrency limit of 1 per account whose one
slot decays by itself after the lease (``slot_decay_per_second = 1 / lease``).

Why slot decay and not Prefect's leases: Prefect keeps a slot's lease in its lease storage, in
memory by default, and the taken slot in the database. After a server restart the lease is
gone but the slot stays taken, and nothing ever frees it (the holder's release finds no lease
and does nothing; the repossessor knows of no expired lease): the account waits forever. A
decaying slot is computed from the limit's own row (``active_slots`` and ``updated``), so the
lease survives a restart, needs no repossessor (free exactly one lease after it was taken, not
after the next 15 s sweep) and may be shorter than the 60 s Prefect's lease API allows.

A waiter reads the limit before it tries to take it: a refused take (HTTP 423) updates the
limit's row, which restarts the decay, so polling by taking would keep a dead holder's slot
alive. The caller polls the store meanwhile, with back-off (the plan's)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from ..core.caches import ProcessCache
from ..core.errors import TokenStoreError
from ..engine.ports import STORE_CALL_TIMEOUT
from ..io.deadline import call_within
from .base import lock_lease

logger = logging.getLogger("prefect_vendortokens")


def limit_name(key: str) -> str:
    return f"vendortokens-refresh-{key[:24]}"


MISSING = object()  # a listing found no such limit
PAGE = 200  # limits per listing call (Prefect's default API limit)


def _ensure_limit(client: Any, name: str, lease: float, listed: Any = None) -> int:
    """The limit exists with one slot that decays after ``lease``; an older limit (made with
    Prefect's leases, or another lease) is brought to it, which also frees a slot wedged by a
    restart one lease later. Returns its taken slots (after decay) as read. ``listed``: the
    limit as a listing just read it (``MISSING``: it was not there), instead of reading it."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    decay = 1.0 / lease
    limit = None if listed is MISSING else listed
    if listed is None:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            limit = None
    if limit is None:
        try:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=1, slot_decay_per_second=decay)
            )
            return 0
        except Exception:
            # Two processes creating it at once: the loser gets a conflict (or, from SQLite, a
            # 500). Either way it exists now, or reading it raises the real problem.
            limit = client.read_global_concurrency_limit_by_name(name)
    if limit.limit != 1 or abs(limit.slot_decay_per_second - decay) > 1e-9:
        client.update_global_concurrency_limit(
            name, GlobalConcurrencyLimitUpdate(limit=1, slot_decay_per_second=decay)
        )
    return int(limit.active_slots)


class PrefectLock:
    """``RefreshLock`` on the Prefect server the process talks to."""

    # limit name -> the lease it was set up with
    _ensured: ClassVar[ProcessCache[str, float]] = ProcessCache("Prefect lock limits set up")
    # limit name -> the limit as ``list_limits`` found it (or MISSING), used by the next take
    _listed: ClassVar[ProcessCache[str, object]] = ProcessCache("Prefect lock limits listed")
    # limit name -> the batch of this process that holds it (``hold``)
    _held: ClassVar[ProcessCache[str, HeldLocks]] = ProcessCache("Prefect locks held by a batch")

    @classmethod
    def list_limits(cls, keys: Iterable[str]) -> None:
        """Read every refresh lock's limit in pages of ``PAGE`` (the rotation flow, before it
        takes the locks of many accounts): each account's next take then reads nothing first,
        and creates a missing limit without looking for it. Used once per limit."""
        from prefect.client.orchestration import get_client

        wanted = {limit_name(key) for key in keys}
        found: dict[str, object] = {}
        with get_client(sync_client=True) as client:
            for offset in range(0, 10_000_000, PAGE):
                page = client.read_global_concurrency_limits(limit=PAGE, offset=offset)
                found |= {limit.name: limit for limit in page if limit.name in wanted}
                if len(page) < PAGE:
                    break
        for name in wanted:
            cls._listed.put(name, found.get(name, MISSING))

    @classmethod
    def hold(cls, keys: Sequence[str]) -> HeldLocks | None:
        """Take the locks of many accounts in one call (the rotation flow's batch; its accounts'
        own ``try_acquire`` then answers a lease that releases nothing, and the batch releases
        them all in one call). All or none: when one is held elsewhere, None, and each account
        takes its own lock as usual."""
        from prefect.client.orchestration import get_client

        names, lease = [limit_name(key) for key in keys], lock_lease()
        try:
            with get_client(sync_client=True) as client:
                for name in names:
                    if cls._taken(client, name, lease) >= 1:
                        return None
                sent = time.monotonic()
                answer = client.increment_concurrency_slots(names, 1, "concurrency")
                granted = {limit["name"] for limit in answer.json()}
                if granted != set(names):  # a limit that does not exist (deleted meanwhile)
                    if granted:
                        client.release_concurrency_slots(sorted(granted), 1, time.monotonic() - sent)
                    for name in names:
                        cls._ensured.pop(name)
                    return None
        except Exception as exc:
            if _busy(exc):
                return None
            for name in names:
                cls._ensured.pop(name)
            what = f"{len(names)} refresh locks"
            raise TokenStoreError(f"could not take {what}: {type(exc).__name__}") from None
        held = HeldLocks(names, sent, lease)
        for name in names:
            cls._held.put(name, held)
        return held

    @classmethod
    def _taken(cls, client: Any, name: str, lease: float) -> int:
        """The limit's taken slots, setting it up first in this process (from a listing when
        there was one)."""
        listed = cls._listed.get(name)
        cls._listed.pop(name)
        if listed is not None or cls._ensured.get(name) != lease:
            taken = _ensure_limit(client, name, lease, listed)
            cls._ensured.put(name, lease)
            return taken
        return int(client.read_global_concurrency_limit_by_name(name).active_slots)

    def try_acquire(self, key: str) -> PrefectLease | HeldLease | None:
        from prefect.client.orchestration import get_client

        name, lease = limit_name(key), lock_lease()
        held = self._held.get(name)
        if held is not None and held.in_force():
            return HeldLease()  # this process's batch holds it until the batch is done
        try:
            with get_client(sync_client=True) as client:
                if self._taken(client, name, lease) >= 1:
                    return None  # held (and not decayed): do not touch the row
                sent = time.monotonic()
                answer = client.increment_concurrency_slots([name], 1, "concurrency")
        except Exception as exc:
            if _busy(exc):
                return None
            self._ensured.pop(name)  # deleted, or another server: set it up on the next try
            raise TokenStoreError(f"could not take the refresh lock {name}: {type(exc).__name__}") from None
        if not answer.json():  # the server grants anything for a limit that does not exist
            self._ensured.pop(name)
            raise TokenStoreError(f"the refresh lock {name} does not exist on the Prefect server")
        return PrefectLease(name, sent, lease)


class HeldLease:
    """An account's lease inside a held batch: the batch releases it."""

    def release(self) -> None:
        return None


def _released_in_time(name: str, taken: float, lease: float) -> float | None:
    """The bound a release must answer within, or None when the lease is too near its end to
    release safely (a slot that decayed may be another holder's by now)."""
    bound = min(STORE_CALL_TIMEOUT, lease / 2)
    if time.monotonic() - taken > lease - bound:
        logger.info("refresh lock %s: held into its last %g s; left to lapse", name, bound)
        return None
    return bound


class HeldLocks:
    """Many accounts' locks taken in one call by ``PrefectLock.hold``, released in one."""

    def __init__(self, names: list[str], taken: float, lease: float) -> None:
        self.names, self.taken, self.lease = names, taken, lease
        self.holding = True

    def in_force(self) -> bool:
        """Held, and young enough for a refresh to finish inside the lease (else an account
        takes its own lock: the batch's slots may decay while it refreshes)."""
        return self.holding and time.monotonic() - self.taken < self.lease / 2

    def release(self) -> None:
        from prefect.client.orchestration import get_client

        self.holding = False
        for name in self.names:
            PrefectLock._held.pop(name)
        bound = _released_in_time(f"{self.names[0]} and {len(self.names) - 1} more", self.taken, self.lease)
        if bound is None:
            return

        def release() -> None:
            with get_client(sync_client=True) as client:
                client.release_concurrency_slots(self.names, 1, time.monotonic() - self.taken)

        def hung() -> TokenStoreError:
            return TokenStoreError(f"{len(self.names)} refresh locks were not released within {bound:g} s")

        call_within(release, bound, hung)


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
    """One held slot. Released bounded, and only while the lease surely still runs: a slot that
    decayed may already be another holder's, whom a late release would let a third one join."""

    def __init__(self, name: str, taken: float, lease: float) -> None:
        self.name, self.taken, self.lease = name, taken, lease

    def release(self) -> None:
        from prefect.client.orchestration import get_client

        # Time for the release to reach the server before the slot could have decayed.
        bound = _released_in_time(self.name, self.taken, self.lease)
        if bound is None:
            return

        def release() -> None:
            with get_client(sync_client=True) as client:
                client.release_concurrency_slots([self.name], 1, time.monotonic() - self.taken)

        def hung() -> TokenStoreError:
            return TokenStoreError(f"the refresh lock {self.name} was not released within {bound:g} s")

        call_within(release, bound, hung)
