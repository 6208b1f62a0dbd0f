"""The plan of one token acquisition: a generator of typed operations, the manager's sans-IO core.

Every decision lives here, once: take the stored token if another process refreshed it, wait for
the cross-process refresh lock by polling the store, refresh when the vendor allows it, else a
new grant, re-read rotated credentials once, ask once more for a token that arrived expired,
fall back to this process's own token when the store cannot be read, write back. The plan yields
an ``Op`` and receives its result, or has its ``TokenError`` thrown in; a driver performs the
operations (``manager.py``). This is httpx's ``auth_flow`` idea, and h11's closed set of events:
``Op`` is a union the driver dispatches on exhaustively. Time comes from an injected clock, so
the plan runs in tests without sockets, threads or sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import cast

from ..core.errors import (
    AuthorizationRequiredError,
    CredentialsRejectedError,
    TokenError,
    TokenRejectedError,
    TokenResponseError,
    TokenStoreError,
)
from ..core.token import AccessToken

logger = logging.getLogger("prefect_vendortokens")

LOCK_TIMEOUT = 120.0  # waiting for another process's refresh
LOCK_POLL = 0.2  # how often a waiter peeks at the store meanwhile


# --- the operations ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Fetch:
    """A new grant (client credentials). Answers an ``AccessToken``."""


@dataclass(frozen=True)
class Refresh:
    """The refresh grant with ``token``'s refresh token. Answers an ``AccessToken``."""

    token: AccessToken


@dataclass(frozen=True)
class ReloadCredentials:
    """Re-read the client credentials (a rotated secret). Answers ``None``."""


@dataclass(frozen=True)
class StoreRead:
    """The shared store's token. Answers an ``AccessToken`` or ``None``; ``TokenStoreError``."""


@dataclass(frozen=True)
class StoreWrite:
    """Write ``token`` to the shared store. Answers ``None``; ``TokenStoreError``."""

    token: AccessToken


@dataclass(frozen=True)
class TryLock:
    """Take the account's cross-process refresh lock if it is free. Answers a ``bool``."""


@dataclass(frozen=True)
class ReleaseLock:
    """Release the lock ``TryLock`` took. Answers ``None`` and never fails (a lease expires)."""


@dataclass(frozen=True)
class Pause:
    """Wait ``seconds`` before peeking again. Answers ``None``."""

    seconds: float


Op = Fetch | Refresh | ReloadCredentials | StoreRead | StoreWrite | TryLock | ReleaseLock | Pause
Plan = Generator[Op, object, AccessToken]


# --- what the caller wants and what the plan knows ---------------------------------------------
@dataclass(frozen=True)
class Want:
    """What a caller will accept (see ``TokenManager.get_token``)."""

    force: bool = False
    rejected: AccessToken | None = None
    use_refresh: bool = True
    min_ttl: float = 0.0

    def accepts(self, token: AccessToken | None, margin: float | None) -> bool:
        if token is None or self.force or not token.is_valid(margin) or token.expires_within(self.min_ttl):
            return False
        if self.min_ttl and token.refresh_lapses_within(self.min_ttl):  # keep the grant alive
            return False
        return self.rejected is None or self.rejected.fingerprint != token.fingerprint


@dataclass(frozen=True)
class Account:
    """The facts about one account a plan decides with (no I/O)."""

    label: str
    margin: float | None = None
    shared: bool = False  # a shared store (and its lock) is configured
    reloadable: bool = False  # the credentials can be re-read (from Vault)
    # The tokens come from a person's consent (authorization-code grant): there is no new grant
    # without them, only the refresh token, which may rotate, so it is only ever sent under the
    # lock, from the store's newest copy.
    user_grant: bool = False
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)


# --- the plan ---------------------------------------------------------------------------------
def acquire(account: Account, want: Want, current: AccessToken | None) -> Plan:
    """A token ``want`` accepts. With a shared store: peek at it, and refresh only while holding
    the account's lock (re-reading the store under it), so across processes one refresh token is
    never sent twice and one request serves everyone. When the lock itself cannot be had (the
    store is down), a new grant without it: a refresh token is never sent unguarded, and a flow
    is not failed for a store it can do without."""
    if not account.shared:
        return (yield from obtain_fresh(account, current, want.use_refresh))
    deadline = account.clock() + LOCK_TIMEOUT
    while account.clock() < deadline:
        peek = yield from _read_store(account)
        if want.accepts(peek, account.margin):
            return peek  # type: ignore[return-value]  # accepts() is False for None
        try:
            locked = yield TryLock()
        except TokenStoreError as exc:  # the store's lock is down: stay available, stay safe
            if account.user_grant:  # no new grant without the user; a refresh needs the lock
                raise TokenStoreError(
                    f"{exc}; a user-authorized account refreshes only under the lock (a rotated "
                    "refresh token sent twice revokes the grant)"
                ) from None
            logger.warning("%s; asking the vendor without it (a new grant, no refresh token sent)", exc)
            return (yield from obtain_fresh(account, None, use_refresh=False))
        if locked:
            try:
                token = yield from _locked(account, want, current)
            except TokenError:
                yield ReleaseLock()
                raise
            yield ReleaseLock()
            return token
        yield Pause(LOCK_POLL)
    raise TokenStoreError(f"{account.label}: another process held the refresh lock for {LOCK_TIMEOUT:g} s")


def _locked(account: Account, want: Want, current: AccessToken | None) -> Plan:
    if account.user_grant:  # refreshing from a stale copy could resend a rotated refresh token
        stored = yield StoreRead()
    else:
        stored = yield from _read_store(account)  # the holder before us may have just written it
    if want.accepts(stored, account.margin):  # type: ignore[arg-type]
        return stored  # type: ignore[return-value]
    token = yield from obtain_fresh(account, newest(stored, current), want.use_refresh)  # type: ignore[arg-type]
    # Judged on arrival, not after the write: a slow store must not age a short token into an error.
    arrived_unusable = account.user_grant and not token.is_valid(account.margin)
    try:
        yield StoreWrite(token)
    except TokenStoreError as exc:
        if account.user_grant:
            logger.error(
                "%s; the new refresh token is kept only by this process, which refreshes from it "
                "until a write succeeds",
                exc,
            )
        else:
            logger.warning("%s; the new token is not shared", exc)
    if arrived_unusable:  # a user grant's: its new refresh token is stored, the token refused
        raise TokenResponseError(
            f"{account.label}: the vendor issued a token that is already expired or inside the "
            f"refresh margin ({token.describe()}); its refresh token is kept; check the vendor's "
            "clock and the refresh margin",
            vendor=token.vendor,
        )
    return token


def install(account: Account, token: AccessToken) -> Plan:
    """Put a token obtained outside the plan (the consent of ``authorize``) into the store,
    under the lock, so no process refreshes from the grant being replaced meanwhile. A failed
    write raises: the grant would otherwise be lost."""
    if not account.shared:
        return token
    deadline = account.clock() + LOCK_TIMEOUT
    while account.clock() < deadline:
        if (yield TryLock()):
            try:
                yield StoreWrite(token)
            finally:
                yield ReleaseLock()
            return token
        yield Pause(LOCK_POLL)
    raise TokenStoreError(f"{account.label}: another process held the refresh lock for {LOCK_TIMEOUT:g} s")


def newest(stored: AccessToken | None, current: AccessToken | None) -> AccessToken | None:
    """The later-issued of the store's token and this process's own: this process's is newer
    only when its write-back failed, and then its refresh token is the live one."""
    if stored is None or (
        current is not None and not current.redacted and current.issued_at > stored.issued_at
    ):
        return current
    return stored


def _read_store(account: Account) -> Generator[Op, object, AccessToken | None]:
    """The stored token; a store that cannot be read degrades to this process's own token."""
    try:
        return (yield StoreRead())  # type: ignore[return-value]
    except TokenStoreError as exc:
        logger.warning("%s; using this process's own token", exc)
        return None


def obtain_fresh(account: Account, current: AccessToken | None, use_refresh: bool) -> Plan:
    """A new token that is valid now. A vendor that answers with one already expired (or inside
    the refresh margin: a past expires_at, a skewed clock) gets one more request, then a typed
    error, rather than a request per call."""
    token = yield from _obtain(account, current, use_refresh)
    if token.is_valid(account.margin):
        return token
    if account.user_grant:  # no second request: it carries the grant's new refresh token, keep it
        return token
    logger.warning(
        "%s: the vendor issued %s, already expired; asking once more", account.label, token.describe()
    )
    token = yield from _fetch()
    if token.is_valid(account.margin):
        return token
    raise TokenResponseError(
        f"{account.label}: the vendor issued tokens that are already expired or inside the refresh "
        f"margin ({token.describe()}); check the vendor's clock and the dialect's expiry fields",
        vendor=token.vendor,
    )


def _obtain(account: Account, current: AccessToken | None, use_refresh: bool) -> Plan:
    """Refresh when the vendor allows it, else (or when the refresh is refused) a new grant; on
    rejected credentials re-read them once (a rotated secret) before giving up."""
    if account.user_grant:
        return (yield from _refresh_user_grant(account, current))
    if use_refresh and current is not None and current.refresh_token is not None and not current.redacted:
        try:
            return (yield from _answer(Refresh(current)))
        except TokenRejectedError as exc:
            logger.info("%s: refresh refused (%s); asking for a new token", account.label, exc.status)
    try:
        return (yield from _fetch())
    except CredentialsRejectedError:
        if not account.reloadable:
            raise
        logger.info("%s: credentials rejected; re-reading them once", account.label)
    yield ReloadCredentials()
    return (yield from _fetch())


def _refresh_user_grant(account: Account, current: AccessToken | None) -> Plan:
    """A user-authorized account's only way to a new token: its refresh token. None, or one the
    vendor refuses as a grant (revoked, expired, reused), means a person must consent again; a
    refused client (a rotated secret) is re-read once, as for a new grant."""
    if current is None or current.refresh_token is None or current.redacted:
        raise AuthorizationRequiredError(
            f"{account.label}: not authorized yet (no refresh token in the store); run "
            "`prefect-vendortokens authorize` for this block",
            vendor=current.vendor if current is not None else None,
        )
    for attempt in range(2):
        try:
            return (yield from _answer(Refresh(current)))
        except CredentialsRejectedError as exc:
            if _client_refused(exc) and account.reloadable and attempt == 0:
                logger.info("%s: client credentials rejected; re-reading them once", account.label)
                yield ReloadCredentials()
                continue
            if _client_refused(exc):
                raise
            raise AuthorizationRequiredError(
                f"{account.label}: the vendor refused the refresh token (revoked, expired or "
                "already used); run `prefect-vendortokens authorize` for this block again",
                vendor=exc.vendor,
                token_url=exc.token_url,
                status=exc.status,
                vendor_code=exc.vendor_code,
                vendor_message=exc.vendor_message,
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _client_refused(exc: CredentialsRejectedError) -> bool:
    """The client, not the grant, was refused (RFC 6749 5.2 invalid_client, or HTTP 401)."""
    code = (exc.vendor_code or "").lower()
    return code in ("invalid_client", "unauthorized_client") or (
        exc.status == 401 and code != "invalid_grant"
    )


def _fetch() -> Plan:
    return (yield from _answer(Fetch()))


def _answer(op: Fetch | Refresh) -> Plan:
    token = yield op
    if not isinstance(token, AccessToken):
        raise TypeError(
            f"{type(op).__name__} must be answered with an AccessToken, not {type(token).__name__}"
        )
    return token


async def drive(plan: Plan, perform: Callable[[Op], Awaitable[object]]) -> AccessToken:
    """Run ``plan`` to its token, awaiting ``perform`` for each operation; a ``TokenError`` it
    raises goes back into the plan, which decides."""
    resume, value = plan.send, None
    while True:
        try:
            op = resume(value)
        except StopIteration as done:
            return cast(AccessToken, done.value)
        try:
            resume, value = plan.send, await perform(op)
        except TokenError as exc:
            resume, value = plan.throw, exc  # type: ignore[assignment]
