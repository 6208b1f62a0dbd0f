"""``TokenManager``: one per vendor account per process.

It holds the current token (the process-wide cache), lets exactly one token request per account
be in flight at a time for all threads and all event loops of the process (the others wait on a
``concurrent.futures.Future`` and get its result or its error), and after a failure answers the
same error for a short window instead of hammering the vendor (Retry-After sets the window).

What to do is the plan's (``plan.py``); this module only performs its operations. There is one
driver, async: the network operations are native async, the store and lock calls (blocking
clients: Prefect's, hvac) run in a thread each, bounded. ``get_token`` answers a cached token
without a lock or a loop, and runs everything else through the same driver on a helper thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack, assert_never

from ..core.caches import ProcessCache, clear_caches
from ..core.errors import (
    AuthorizationRequiredError,
    TokenError,
    TokenStoreError,
    TokenTransportError,
    store_error_type,
)
from ..core.token import AccessToken
from ..io.deadline import in_thread_within, run_bounded
from ..transport.client import TokenClient
from .plan import (
    Account,
    Fetch,
    JournalClear,
    JournalRead,
    Op,
    Pause,
    Plan,
    ReadRecord,
    Refresh,
    ReleaseLock,
    ReloadCredentials,
    StoreMark,
    StoreRead,
    StoreWrite,
    TryLock,
    Want,
    acquire,
    drive,
    install,
)
from .ports import STORE_CALL_TIMEOUT, ClientSource, Journal, Lease, NoJournal, StoredRecord, TokenStore

logger = logging.getLogger("prefect_vendortokens")

FAILURE_WINDOW = 1.0  # seconds an error is answered again without a new request
MAX_FAILURE_WINDOW = 300.0
MAX_WAIT = 300.0  # bound on waiting for another caller's token request
Listener = Callable[[str, AccessToken | None, TokenError | None], None]

# The crash tests' one hook: ``VENDORTOKENS_PAUSE_AT=<point>[:seconds]`` makes the process stop
# (default 600 s) the first time it reaches the point, after saying so on stderr, so a test can
# kill it there or restart a server meanwhile. Points: locked (the refresh lock taken), answered
# (a token request answered, and journaled), writing (a store write about to go), written (a
# store write done, the lock not yet released). Read once; unset, it costs one ``is None``.
PAUSE_ENV = "VENDORTOKENS_PAUSE_AT"


def _pause_setting() -> tuple[str, float] | None:
    point, _, seconds = os.environ.get(PAUSE_ENV, "").strip().partition(":")
    return (point, float(seconds or 600)) if point else None


_PAUSE = _pause_setting()
_paused: set[str] = set()


def _point(op: Op, result: object, done: bool) -> str | None:
    """The pause point an operation reaches (before it runs, or once it is done), if any."""
    match op:
        case TryLock() if done and result:
            return "locked"
        case Fetch() | Refresh() if done:
            return "answered"
        case StoreWrite():
            return "written" if done else "writing"
    return None


def _maybe_pause(op: Op, result: object, done: bool) -> None:
    assert _PAUSE is not None  # noqa: S101 - called only when set
    point, seconds = _PAUSE
    if _point(op, result, done) == point and point not in _paused:
        _paused.add(point)
        sys.stderr.write(f"vendortokens: paused at {point} (pid {os.getpid()})\n")
        sys.stderr.flush()
        time.sleep(seconds)  # the whole process waits here: nothing else of it should move on


class LazyClientSource:
    """A client built on first use, in the manager's thread (with an issuer, building it reads
    the issuer's metadata), then kept."""

    reloadable = False

    def __init__(self, make: Callable[[], TokenClient]) -> None:
        self._make = make
        self._client: TokenClient | None = None
        self._lock = threading.Lock()

    def client(self, fresh: bool = False) -> TokenClient:
        with self._lock:
            if self._client is None:
                self._client = self._make()
            return self._client


class WantArgs(TypedDict, total=False):
    """The keywords of ``get_token``: what the caller will accept (see ``plan.Want``)."""

    force: bool
    rejected: AccessToken | None
    use_refresh: bool
    min_ttl: float
    peeked: bool


def _demanding(want: WantArgs) -> bool:
    """True when the cached token may not do as is (plain calls never get here)."""
    return bool(
        want.get("force") or want.get("rejected") is not None or want.get("min_ttl") or want.get("peeked")
    )


class _LeaderGone(Exception):
    """The caller doing the request was cancelled; waiters try again."""


@dataclass
class _Failure:
    error: TokenError
    until: float  # time.monotonic()


class TokenManager:
    """The current token of one account, and the only way to get a new one in this process."""

    def __init__(
        self,
        key: str,
        source: ClientSource,
        *,
        margin: float | None = None,
        label: str = "",
        store: TokenStore | None = None,
        store_key: str | None = None,
        user_grant: bool = False,
        reuse_grace: float = 0.0,
        journal: Journal | None = None,
    ) -> None:
        self.key = key
        # The account's key in the shared store and its lock: managers that differ only in
        # behaviour (margin, timeout) are separate here but share the account's stored token.
        self.store_key = store_key or key
        self.source = source
        self.store = store
        self.margin = margin
        self.label = label or key[:12]
        self.account = Account(
            label=self.label,
            margin=margin,
            shared=store is not None,
            reloadable=source.reloadable,
            user_grant=user_grant,
            reuse_grace=reuse_grace,
        )
        self._journal: Journal = journal if journal is not None else NoJournal()
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._flight: concurrent.futures.Future[AccessToken] | None = None
        self._failure: _Failure | None = None
        # The hot path: the current token and the monotonic time until which it may be handed out
        # as is, replaced as one tuple so a caller reads it without the lock.
        self._fresh: tuple[AccessToken, float] | None = None
        self.requests = 0  # token requests this manager started (fetch or refresh)
        # The newest token whose store write failed (the plan went on without sharing it), until
        # a later write succeeds: ``share()`` writes it again.
        self.unshared: AccessToken | None = None
        self.retired = False  # set by clear_token_cache: holders must ask the registry again
        # Called with (grant, token, error) after each vendor request this manager makes.
        self.listeners: list[Listener] = []

    def __repr__(self) -> str:
        return f"TokenManager({self.label!r}, token={self._token!r})"

    @property
    def journal(self) -> Journal:
        """This host's journal of a user grant's tokens not yet stored (given by whoever builds
        the manager; without one, the in-flight mark alone guards a refresh)."""
        return self._journal

    # --- the public pair: the hot path, else the one slow path -------------------------
    def get_token(self, **want: Unpack[WantArgs]) -> AccessToken:
        """A valid token: the cached one, the shared store's, or one new request shared with
        every concurrent caller of the process (and, with a store, of every process).

        ``force`` asks for a new token even if the cached one is valid; ``rejected`` is a token an
        API refused: a new one is requested only if it is still the current one. ``use_refresh``
        False skips the refresh grant. ``min_ttl`` wants a token valid at least that much longer
        (the rotation flow's horizon).
        """
        cached = self._cached(want)
        return cached if cached is not None else run_bounded(self._obtain(Want(**want)), None)

    async def aget_token(self, **want: Unpack[WantArgs]) -> AccessToken:
        """``get_token`` for async callers."""
        cached = self._cached(want)
        return cached if cached is not None else await self._obtain(Want(**want))

    def settled_by(self, record: StoredRecord, min_ttl: float) -> bool:
        """True when a stored record read a moment ago needs nothing for ``min_ttl`` more
        seconds: the same test ``get_token(min_ttl=...)`` applies to the store's token, and no
        refresh in flight or journaled token waiting to be stored. The rotation flow decides
        this for every account from one listing and takes no lock for those it settles."""
        if record.in_flight is not None or self._journal.pending(self.store_key):
            return False
        return Want(min_ttl=min_ttl).accepts(record.token, self.margin)

    def _cached(self, want: WantArgs) -> AccessToken | None:
        """The hot path of both: the current token while it may be handed out as is, for a plain
        call (no lock, no loop)."""
        fresh = self._fresh
        if fresh is not None and time.monotonic() < fresh[1] and not (want and _demanding(want)):
            return fresh[0]
        return None

    def share(self) -> None:
        """Store the token a failed write left in this process only (under the lock, unless
        the store has a newer one by now), or raise the ``TokenStoreError``: for the rotation
        flow an unshared token is a failed rotation, since every other process would still find
        the old one. A user's grant is not written again here: this host's journal keeps its
        token, and the next use of the account replays it under the lock."""
        unshared = self.unshared
        if unshared is None or self.store is None:
            return
        if self.account.user_grant:
            raise TokenStoreError(
                f"{self.label}: the new token could not be stored; this host's journal keeps it "
                "until the account's next use stores it"
            )
        run_bounded(self._perform_plan(install(self.account, unshared, keep_newer=True)), None)

    async def _perform_plan(self, plan: Plan) -> AccessToken:
        performer = _Performer(self)
        try:
            return await drive(plan, performer)
        finally:
            performer.abandon()

    def install(self, token: AccessToken) -> AccessToken:
        """Make ``token`` (from a consent, ``authorize``) this account's token, in the shared
        store under the refresh lock and in this process."""
        return run_bounded(self.ainstall(token), None)

    async def ainstall(self, token: AccessToken) -> AccessToken:
        await self._perform_plan(install(self.account, token))
        with self._lock:
            self._adopt(token)
        return token

    # --- single flight: the one waiter loop ----------------------------------------------
    async def _obtain(self, want: Want) -> AccessToken:
        for _ in range(3):
            step = self._begin(want)
            if isinstance(step, AccessToken):
                return step
            future, leader = step
            if leader:
                return await self._lead(future, want)
            try:
                # shield: a cancelled waiter must not cancel the shared request for the others
                return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), MAX_WAIT)
            except _LeaderGone:
                continue
            except TimeoutError:
                break
        raise TokenTransportError(f"{self.label}: gave up waiting for a concurrent token request")

    def _begin(self, want: Want) -> AccessToken | tuple[concurrent.futures.Future[AccessToken], bool]:
        with self._lock:
            token = self._token
            if want.accepts(token, self.margin):
                return token  # type: ignore[return-value]
            if self._flight is not None:
                return self._flight, False
            if self._failure is not None and time.monotonic() < self._failure.until:
                raise copy.copy(self._failure.error)
            self._flight = concurrent.futures.Future()
            return self._flight, True

    async def _lead(self, future: concurrent.futures.Future[AccessToken], want: Want) -> AccessToken:
        performer = _Performer(self)
        try:
            token = await drive(acquire(self.account, want, self._token), performer)
        except TokenError as exc:
            if isinstance(exc, AuthorizationRequiredError):
                self._tell("authorize", None, exc)  # a person must act: its own event
            self._finish(future, error=exc)
            raise
        except BaseException:  # cancelled: let a waiter lead instead
            self._finish(future, gone=True)
            raise
        finally:
            performer.abandon()
        self._finish(future, token=token)
        return token

    def _finish(
        self,
        future: concurrent.futures.Future[AccessToken],
        *,
        token: AccessToken | None = None,
        error: TokenError | None = None,
        gone: bool = False,
    ) -> None:
        with self._lock:
            self._flight = None
            if token is not None:
                self._adopt(token)
            elif error is not None:
                retry_after = getattr(error, "retry_after", None)
                window = min(retry_after, MAX_FAILURE_WINDOW) if retry_after else FAILURE_WINDOW
                self._failure = _Failure(error, time.monotonic() + window)
        if token is not None:
            logger.debug("%s: new %s", self.label, token.describe())
            future.set_result(token)
        elif error is not None:
            future.set_exception(error)
        elif gone:
            future.set_exception(_LeaderGone())

    def _adopt(self, token: AccessToken) -> None:
        """The current token (under ``_lock``), and the hot path's copy with its deadline."""
        self._token, self._failure = token, None
        if self.unshared is not None and token is not self.unshared:
            self.unshared = None  # a newer token came (from the store, or was stored)
        self._fresh = (token, _monotonic_deadline(token.refresh_at(self.margin)))

    def _tell(self, grant: str, token: AccessToken | None, error: TokenError | None) -> None:
        """Every vendor request's outcome to the listeners (Prefect events); never fails it."""
        for listener in self.listeners:
            try:
                listener(grant, token, error)
            except Exception:  # an observer must not break token acquisition
                logger.debug("%s: a token listener failed", self.label, exc_info=True)


class _Performer:
    """Performs one leader's operations. Network operations are native async; the store and
    lock calls run in a thread each, bounded by ``STORE_CALL_TIMEOUT``, their failures typed."""

    def __init__(self, manager: TokenManager) -> None:
        self.manager = manager
        self.lease: Lease | None = None

    async def __call__(self, op: Op) -> object:
        if _PAUSE is None:
            return await self._perform(op)
        _maybe_pause(op, None, done=False)
        result = await self._perform(op)
        _maybe_pause(op, result, done=True)
        return result

    async def _perform(self, op: Op) -> object:
        m = self.manager
        match op:
            case Fetch() | Refresh():
                return await self._request(op)
            case ReloadCredentials():
                await asyncio.to_thread(m.source.client, True)
                return None
            case StoreRead():
                return await self._blocking(lambda: self._store().read(m.store_key), "reading the token")
            case StoreWrite(token=token):
                try:
                    await self._blocking(lambda: self._store().write(m.store_key, token), "writing the token")
                except TokenStoreError:
                    m.unshared = token  # this process has it, the store does not (see share())
                    raise
                m.unshared = None
                return None
            case ReadRecord():
                return await self._blocking(
                    lambda: self._store().read_record(m.store_key), "reading the token"
                )
            case StoreMark(token=token, mark=mark):
                record = StoredRecord(token, mark)
                return await self._blocking(
                    lambda: self._store().write_record(m.store_key, record), "recording the refresh in flight"
                )
            case JournalRead():
                secret = await self._journal_secret()
                return (
                    None if secret is None else await asyncio.to_thread(m.journal.read, m.store_key, secret)
                )
            case JournalClear(stored=stored):
                secret = await self._journal_secret()
                if secret is not None:
                    await asyncio.to_thread(m.journal.clear, m.store_key, stored, secret)
                return None
            case TryLock():
                self.lease = await self._take_lock()
                return self.lease is not None
            case ReleaseLock():
                lease, self.lease = self.lease, None
                if lease is not None:
                    try:
                        await self._blocking(lease.release, "releasing the refresh lock")
                    except TokenStoreError as exc:  # the lease expires by itself
                        logger.warning("%s: could not release the refresh lock (%s)", m.label, exc)
                return None
            case Pause(seconds=seconds):
                await asyncio.sleep(seconds)
                return None
            case _:
                assert_never(op)

    async def _journal_secret(self) -> bytes | None:
        """The journal's key material; None when the credentials cannot be had now (Vault down):
        the journal is skipped, and the in-flight mark still guards the refresh token."""
        try:
            return _journal_secret(await asyncio.to_thread(self.manager.source.client))
        except TokenError as exc:
            logger.warning(
                "%s: this host's token journal is skipped (%s)", self.manager.label, type(exc).__name__
            )
            return None

    async def _request(self, op: Fetch | Refresh) -> AccessToken:
        m = self.manager
        client = await asyncio.to_thread(m.source.client)
        grant = "refresh" if isinstance(op, Refresh) else "fetch"
        m.requests += 1
        try:
            token = await (client.arefresh(op.token) if isinstance(op, Refresh) else client.afetch())
        except TokenError as exc:
            m._tell(grant, None, exc)
            raise
        if isinstance(op, Refresh) and op.journal:  # first, before any event or log line
            m.journal.write(m.store_key, token, _journal_secret(client))
        m._tell(grant, token, None)
        return token

    async def _take_lock(self) -> Lease | None:
        """The lock, bounded. A call we stopped waiting for may still get the lock later (a
        server that stalled, then answered): it then releases it at once, since nobody would,
        and the lock would stay taken until its lease ended."""
        store, key = self._store(), self.manager.store_key
        guard = threading.Lock()
        state: dict[str, Any] = {"abandoned": False, "lease": None}

        def take() -> Lease | None:
            lease = store.lock.try_acquire(key)
            with guard:
                if not state["abandoned"]:
                    state["lease"] = lease
                    return lease
            if lease is not None:
                _release_quietly(lease)
            return None

        try:
            return await self._blocking(take, "the refresh lock")  # type: ignore[return-value]
        except TokenStoreError:
            with guard:
                state["abandoned"] = True
                late = state["lease"]  # taken just as we stopped waiting
            if late is not None:
                threading.Thread(target=_release_quietly, args=(late,), daemon=True).start()
            raise

    def _store(self) -> TokenStore:
        assert self.manager.store is not None  # noqa: S101 - the plan asks only when shared
        return self.manager.store

    async def _blocking(self, call: Callable[[], object], what: str) -> object:
        name, label = self._store().name, self.manager.label

        def hung() -> TokenStoreError:
            return TokenStoreError(
                f"{label}: the {name} store did not answer within {STORE_CALL_TIMEOUT:g} s ({what})"
            )

        try:
            return await in_thread_within(call, STORE_CALL_TIMEOUT, hung)
        except TokenStoreError:
            raise
        except Exception as exc:  # the store's own failure, typed and without its message
            raise store_error_type(exc)(
                f"{label}: the {name} store failed ({what}: {type(exc).__name__})"
            ) from None

    def abandon(self) -> None:
        """A leader that stopped while holding the lock (cancelled) releases it in the
        background; the lease would expire anyway."""
        lease, self.lease = self.lease, None
        if lease is not None:
            threading.Thread(target=_release_quietly, args=(lease,), daemon=True).start()


def _journal_secret(client: TokenClient) -> bytes:
    """What the journal's key is derived from besides the host key: the client's secret or
    private key, and its TLS client key with mutual TLS (empty for a public client)."""
    credentials = client.credentials
    key = credentials.private_key.get_secret_value() if credentials.private_key is not None else ""
    material = credentials.client_secret.get_secret_value() + "\0" + key
    if client.tls_key is not None:  # only then: the journals of other clients keep their key
        material += "\0" + client.tls_key.get_secret_value()
    return material.encode()


def _release_quietly(lease: Lease) -> None:
    try:
        lease.release()
    except Exception:
        logger.debug("could not release an abandoned refresh lock", exc_info=True)


def _monotonic_deadline(when: datetime) -> float:
    """``when`` (wall clock) on the monotonic clock, so the hot path compares two floats."""
    return time.monotonic() + (when - datetime.now(UTC)).total_seconds()


# --- the process-wide registry --------------------------------------------------------------
def _retire(managers: Iterable[TokenManager]) -> None:
    for manager in managers:
        manager.retired = True


_registry: ProcessCache[str, TokenManager] = ProcessCache("token managers", on_clear=_retire)


def manager_for(
    key: str,
    make_source: Callable[[], ClientSource],
    *,
    margin: float | None = None,
    label: str = "",
    make_store: Callable[[], TokenStore | None] = lambda: None,
    store_key: str | None = None,
    user_grant: bool = False,
    reuse_grace: float = 0.0,
    journal: Journal | None = None,
) -> TokenManager:
    """The process's manager for the account ``key`` (created on first use)."""
    return _registry.get_or_make(
        key,
        lambda: TokenManager(
            key,
            make_source(),
            margin=margin,
            label=label,
            store=make_store(),
            store_key=store_key,
            user_grant=user_grant,
            reuse_grace=reuse_grace,
            journal=journal,
        ),
    )


def clear_token_cache() -> None:
    """Forget everything this process cached: every account's token and manager, issuers'
    metadata, Vault sessions and reads, the stores' bookkeeping (tests, or after changing
    credentials)."""
    clear_caches()
