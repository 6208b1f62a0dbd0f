"""``TokenManager``: one per vendor account per process.

It holds the current token (the process-wide cache), lets exactly one token request per account
be in flight at a time for all threads and all event loops of the process (the others wait on a
``concurrent.futures.Future`` and get its result or its error), and after a failure answers the
same error for a short window instead of hammering the vendor (Retry-After sets the window).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..core.errors import (
    CredentialsRejectedError,
    TokenError,
    TokenRejectedError,
    TokenResponseError,
    TokenStoreError,
    TokenTransportError,
)
from ..core.token import AccessToken
from ..transport.client import TokenClient
from .deadline import STORE_CALL_TIMEOUT, await_within, call_within
from .plan import Plan, adrive, drive

if TYPE_CHECKING:
    from ..stores.base import TokenStore

logger = logging.getLogger("prefect_vendortokens")

LOCK_TIMEOUT = 120.0  # waiting for another process's refresh (see store.py)
LOCK_POLL = 0.2
FAILURE_WINDOW = 1.0  # seconds an error is answered again without a new request
MAX_FAILURE_WINDOW = 300.0
MAX_WAIT = 300.0  # bound on waiting for another caller's token request


class ClientSource(Protocol):
    """Where a manager gets its ``TokenClient``; ``fresh=True`` re-reads the credentials."""

    reloadable: bool

    def client(self, fresh: bool = False) -> TokenClient: ...

    async def aclient(self, fresh: bool = False) -> TokenClient: ...


class StaticClientSource:
    """A fixed client (inline credentials)."""

    reloadable = False

    def __init__(self, client: TokenClient) -> None:
        self._client = client

    def client(self, fresh: bool = False) -> TokenClient:
        return self._client

    async def aclient(self, fresh: bool = False) -> TokenClient:
        return self._client


# Operations a plan yields (see flight.py).
@dataclass(frozen=True)
class Fetch:
    pass


@dataclass(frozen=True)
class Refresh:
    token: AccessToken


@dataclass(frozen=True)
class ReloadCredentials:
    pass


@dataclass(frozen=True)
class StoreRead:
    pass


@dataclass(frozen=True)
class StoreWrite:
    token: AccessToken


@dataclass(frozen=True)
class _Want:
    """What the caller will accept: see ``TokenManager.get_token``."""

    force: bool = False
    rejected: AccessToken | None = None
    use_refresh: bool = True
    min_ttl: float = 0.0

    def accepts(self, token: AccessToken | None, margin: float | None) -> bool:
        if token is None or self.force or not token.is_valid(margin) or token.expires_within(self.min_ttl):
            return False
        return self.rejected is None or self.rejected.fingerprint != token.fingerprint


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
    ) -> None:
        self.key = key
        # The account's key in the shared store and its lock: managers that differ only in
        # behaviour (margin, timeout) are separate here but share the account's stored token.
        self.store_key = store_key or key
        self.source = source
        self.store = store
        self.margin = margin
        self.label = label or key[:12]
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._flight: concurrent.futures.Future[AccessToken] | None = None
        self._failure: _Failure | None = None
        # The hot path: the current token and the monotonic time until which it may be handed out
        # as is, replaced as one tuple so a caller reads it without the lock.
        self._fresh: tuple[AccessToken, float] | None = None
        self.requests = 0  # token requests this manager started (fetch or refresh)
        self.retired = False  # set by clear_token_cache: holders must ask the registry again
        # Called with (grant, token, error) after each vendor request this manager makes.
        self.listeners: list[Callable[[str, AccessToken | None, TokenError | None], None]] = []

    def __repr__(self) -> str:
        return f"TokenManager({self.label!r}, token={self._token!r})"

    @property
    def token(self) -> AccessToken | None:
        return self._token

    def forget(self) -> None:
        """Drop the cached token and any failure window (the next call asks the vendor)."""
        with self._lock:
            self._token, self._failure, self._fresh = None, None, None

    # --- the public pair ----------------------------------------------------------------
    def get_token(
        self,
        *,
        force: bool = False,
        rejected: AccessToken | None = None,
        use_refresh: bool = True,
        min_ttl: float = 0.0,
    ) -> AccessToken:
        """A valid token: the cached one, the shared store's, or one new request shared with
        every concurrent caller of the process (and, with a store, of every process).

        ``force`` asks for a new token even if the cached one is valid; ``rejected`` is a token an
        API refused: a new one is requested only if it is still the current one. ``use_refresh``
        False skips the refresh grant. ``min_ttl`` wants a token valid at least that much longer
        (the rotation flow's horizon).
        """
        fresh = self._fresh
        if fresh is not None and time.monotonic() < fresh[1] and not (force or rejected or min_ttl):
            return fresh[0]
        want = _Want(force, rejected, use_refresh, min_ttl)
        for _ in range(3):
            step = self._begin(want)
            if isinstance(step, AccessToken):
                return step
            future, leader = step
            if leader:
                return self._lead(future, lambda: self._acquire(want))
            try:
                return future.result(timeout=MAX_WAIT)
            except _LeaderGone:
                continue
            except concurrent.futures.TimeoutError:
                raise self._wait_timeout() from None
        raise self._wait_timeout()

    async def aget_token(
        self,
        *,
        force: bool = False,
        rejected: AccessToken | None = None,
        use_refresh: bool = True,
        min_ttl: float = 0.0,
    ) -> AccessToken:
        fresh = self._fresh
        if fresh is not None and time.monotonic() < fresh[1] and not (force or rejected or min_ttl):
            return fresh[0]
        want = _Want(force, rejected, use_refresh, min_ttl)
        for _ in range(3):
            step = self._begin(want)
            if isinstance(step, AccessToken):
                return step
            future, leader = step
            if leader:
                return await self._alead(future, want)
            try:
                # shield: a cancelled waiter must not cancel the shared request for the others
                return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), MAX_WAIT)
            except _LeaderGone:
                continue
            except TimeoutError:
                raise self._wait_timeout() from None
        raise self._wait_timeout()

    # --- the leader: sync and async drivers of one plan ---------------------------------
    def _acquire(self, want: _Want) -> AccessToken:
        if self.store is None:
            return drive(self._plan(want), self._perform)
        deadline = time.monotonic() + LOCK_TIMEOUT
        while time.monotonic() < deadline:
            peek = self._store_read_sync()  # another process may have refreshed it meanwhile
            if want.accepts(peek, self.margin):
                return peek  # type: ignore[return-value]
            held = call_within(self._try_lock, STORE_CALL_TIMEOUT, self._lock_hung)
            if held is not None:
                with held:
                    return drive(self._plan(want), self._perform)
            time.sleep(LOCK_POLL)
        raise self._lock_timeout()

    async def _aacquire(self, want: _Want) -> AccessToken:
        if self.store is None:
            return await adrive(self._plan(want), self._aperform)
        deadline = time.monotonic() + LOCK_TIMEOUT
        while time.monotonic() < deadline:
            peek = await self._store_read_async()
            if want.accepts(peek, self.margin):
                return peek  # type: ignore[return-value]
            held = await await_within(
                self.store.atry_lock(self.store_key), STORE_CALL_TIMEOUT, self._lock_hung
            )
            if held is not None:
                async with held:
                    return await adrive(self._plan(want), self._aperform)
            await asyncio.sleep(LOCK_POLL)
        raise self._lock_timeout()

    def _try_lock(self) -> contextlib.AbstractContextManager[None] | None:
        assert self.store is not None  # noqa: S101
        return self.store.try_lock(self.store_key)

    def _lock_hung(self) -> TokenError:
        return TokenStoreError(
            f"{self.label}: the {self.store.name if self.store else ''} store's refresh lock did not "
            f"answer within {STORE_CALL_TIMEOUT:g} s (is the Prefect API up?)"
        )

    def _lock_timeout(self) -> TokenError:
        return TokenStoreError(f"{self.label}: another process held the refresh lock for {LOCK_TIMEOUT:g} s")

    # --- shared decisions ---------------------------------------------------------------
    def _begin(self, want: _Want) -> AccessToken | tuple[concurrent.futures.Future[AccessToken], bool]:
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

    def _plan(self, want: _Want) -> Plan[AccessToken]:
        """With a store (and its lock held): take the stored token if it will do. Else refresh
        when the vendor allows it, or a new grant (also when the refresh is refused); on rejected
        credentials re-read them once (a rotated secret) before giving up. Write back."""
        current = self._token
        if self.store is not None:
            stored = yield StoreRead()
            if want.accepts(stored, self.margin):
                return stored
            current = stored or current  # the newest refresh token is the stored one
        token = yield from self._obtain_fresh(current, want.use_refresh)
        if self.store is not None:
            yield StoreWrite(token)
        return token

    def _obtain_fresh(self, current: AccessToken | None, use_refresh: bool) -> Plan[AccessToken]:
        """A new token that is valid now. A vendor that answers with one already expired (or
        inside the refresh margin: a past expires_at, a skewed clock) gets one more request, then
        a typed error, rather than a request per call."""
        token = yield from self._obtain(current, use_refresh)
        if token.is_valid(self.margin):
            return token
        logger.warning(
            "%s: the vendor issued %s, already expired; asking once more", self.label, token.describe()
        )
        token = yield Fetch()
        if token.is_valid(self.margin):
            return token
        raise TokenResponseError(
            f"{self.label}: the vendor issued tokens that are already expired or inside the refresh "
            f"margin ({token.describe()}); check the vendor's clock and the dialect's expiry fields",
            vendor=token.vendor,
        )

    def _obtain(self, current: AccessToken | None, use_refresh: bool) -> Plan[AccessToken]:
        if use_refresh and current is not None and current.refresh_token is not None and not current.redacted:
            try:
                return (yield Refresh(current))
            except TokenRejectedError as exc:
                logger.info("%s: refresh refused (%s); asking for a new token", self.label, exc.status)
        try:
            return (yield Fetch())
        except CredentialsRejectedError:
            if not self.source.reloadable:
                raise
            logger.info("%s: credentials rejected; re-reading them once", self.label)
        yield ReloadCredentials()
        return (yield Fetch())

    def _perform(self, op: Any) -> Any:
        if isinstance(op, StoreRead):
            return self._store_read_sync()
        if isinstance(op, StoreWrite):
            return self._store_write_sync(op.token)
        if isinstance(op, ReloadCredentials):
            return self.source.client(fresh=True)
        client = self.source.client()
        self.requests += 1
        try:
            token = client.refresh(op.token) if isinstance(op, Refresh) else client.fetch()
        except TokenError as exc:
            self._tell(op, None, exc)
            raise
        self._tell(op, token, None)
        return token

    async def _aperform(self, op: Any) -> Any:
        if isinstance(op, StoreRead):
            return await self._store_read_async()
        if isinstance(op, StoreWrite):
            return await self._store_write_async(op.token)
        if isinstance(op, ReloadCredentials):
            return await self.source.aclient(fresh=True)
        client = await self.source.aclient()
        self.requests += 1
        try:
            token = await (client.arefresh(op.token) if isinstance(op, Refresh) else client.afetch())
        except TokenError as exc:
            self._tell(op, None, exc)
            raise
        self._tell(op, token, None)
        return token

    def _tell(self, op: Any, token: AccessToken | None, error: TokenError | None) -> None:
        """Every vendor request's outcome to the listeners (Prefect events); never fails it."""
        grant = "refresh" if isinstance(op, Refresh) else "fetch"
        for listener in self.listeners:
            try:
                listener(grant, token, error)
            except Exception:  # an observer must not break token acquisition
                logger.debug("%s: a token listener failed", self.label, exc_info=True)

    def _lead(
        self, future: concurrent.futures.Future[AccessToken], run: Callable[[], AccessToken]
    ) -> AccessToken:
        try:
            token = run()
        except TokenError as exc:
            self._finish(future, error=exc)
            raise
        except BaseException:
            self._finish(future, gone=True)
            raise
        self._finish(future, token=token)
        return token

    # A store that cannot be read or written degrades to this process's own token (with a
    # warning) rather than failing the flow; the lock, which guards refresh tokens, does not.
    def _store_read_sync(self) -> AccessToken | None:
        assert self.store is not None  # noqa: S101
        store = self.store
        try:
            return call_within(lambda: store.read(self.store_key), STORE_CALL_TIMEOUT, _store_hung)
        except Exception as exc:
            logger.warning(
                "%s: %s token store unreadable (%s)", self.label, self.store.name, type(exc).__name__
            )
            return None

    async def _store_read_async(self) -> AccessToken | None:
        assert self.store is not None  # noqa: S101
        try:
            return await await_within(self.store.aread(self.store_key), STORE_CALL_TIMEOUT, _store_hung)
        except Exception as exc:
            logger.warning(
                "%s: %s token store unreadable (%s)", self.label, self.store.name, type(exc).__name__
            )
            return None

    def _store_write_sync(self, token: AccessToken) -> None:
        assert self.store is not None  # noqa: S101
        store = self.store
        try:
            call_within(lambda: store.write(self.store_key, token), STORE_CALL_TIMEOUT, _store_hung)
        except Exception as exc:
            logger.warning("%s: could not write the token store (%s)", self.label, type(exc).__name__)

    async def _store_write_async(self, token: AccessToken) -> None:
        assert self.store is not None  # noqa: S101
        try:
            await await_within(self.store.awrite(self.store_key, token), STORE_CALL_TIMEOUT, _store_hung)
        except Exception as exc:
            logger.warning("%s: could not write the token store (%s)", self.label, type(exc).__name__)

    async def _alead(self, future: concurrent.futures.Future[AccessToken], want: _Want) -> AccessToken:
        try:
            token = await self._aacquire(want)
        except TokenError as exc:
            self._finish(future, error=exc)
            raise
        except BaseException:  # cancelled: let a waiter lead instead
            self._finish(future, gone=True)
            raise
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
                self._token, self._failure = token, None
                self._fresh = (token, _monotonic_deadline(token.refresh_at(self.margin)))
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

    def _wait_timeout(self) -> TokenTransportError:
        return TokenTransportError(f"{self.label}: gave up waiting for a concurrent token request")


def _monotonic_deadline(when: datetime) -> float:
    """``when`` (wall clock) on the monotonic clock, so the hot path compares two floats."""
    return time.monotonic() + (when - datetime.now(UTC)).total_seconds()


def _store_hung() -> TokenStoreError:
    return TokenStoreError(f"the token store did not answer within {STORE_CALL_TIMEOUT:g} s")


# --- the process-wide registry --------------------------------------------------------------
_registry: dict[str, TokenManager] = {}
_registry_lock = threading.Lock()


def manager_for(
    key: str,
    make_source: Callable[[], ClientSource],
    *,
    margin: float | None = None,
    label: str = "",
    make_store: Callable[[], TokenStore | None] = lambda: None,
    store_key: str | None = None,
) -> TokenManager:
    """The process's manager for the account ``key`` (created on first use)."""
    with _registry_lock:
        manager = _registry.get(key)
        if manager is None:
            manager = TokenManager(
                key, make_source(), margin=margin, label=label, store=make_store(), store_key=store_key
            )
            _registry[key] = manager
        return manager


def clear_token_cache() -> None:
    """Forget every cached token of this process (tests, or after changing credentials)."""
    with _registry_lock:
        for manager in _registry.values():
            manager.retired = True
        _registry.clear()
