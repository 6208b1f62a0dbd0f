"""The plan of one token acquisition: a generator of typed operations, the manager's sans-IO core.

Every decision lives here, once: take the stored token if another process refreshed it, wait for
the cross-process refresh lock by polling the store, refresh when the vendor allows it, else a
new grant, re-read rotated credentials once, ask once more for a token that arrived expired,
fall back to this process's own token when the store cannot be read, write back; for a user's
grant, record the refresh in flight before sending its refresh token, journal the answer on
this host before anything else, replay what a killed process journaled, and tell a lost
answer from a refused one. The plan yields
an ``Op`` and receives its result, or has its ``TokenError`` thrown in; a driver performs the
operations (``manager.py``). This is httpx's ``auth_flow`` idea, and h11's closed set of events:
``Op`` is a union the driver dispatches on exhaustively. Time comes from an injected clock, so
the plan runs in tests without sockets, threads or sleeping.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from ..core.errors import (
    AuthorizationRequiredError,
    CredentialsRejectedError,
    TokenError,
    TokenRejectedError,
    TokenResponseError,
    TokenStoreError,
    TokenTransportError,
)
from ..core.token import AccessToken
from .ports import InFlight, StoredRecord

logger = logging.getLogger("prefect_vendortokens")

LOCK_TIMEOUT = 120.0  # waiting for another process's refresh
# A living holder stores its answer within this of marking its refresh (two store calls and one
# token request, with room); a mark older than this is a lost answer even if its process lives.
IN_FLIGHT_BOUND = 120.0
# A waiter peeks at the store after 50 ms, then each wait half as long again up to 1 s, each
# jittered: the hand-off stays quick (a refresh takes milliseconds to seconds) and a crowd of
# waiters neither polls the server in step nor keeps hammering it.
POLL_FIRST, POLL_GROWTH, POLL_MAX = 0.05, 1.5, 1.0


def backoff(attempt: int, draw: Callable[[], float] = random.random) -> float:
    """The ``attempt``-th wait (from 0) for another process's refresh, in seconds."""
    return min(POLL_MAX, POLL_FIRST * POLL_GROWTH**attempt) * (0.5 + draw())


def this_process() -> str:
    """Who holds a lock or sends a refresh: host and process id (named in errors and marks)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_alive(holder: str) -> bool:
    """Whether the process a mark or lock names is known to be running: only a process of this
    host can be checked (its pid signalled with 0); one elsewhere counts as not known alive."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    try:  # a killed process its parent has not reaped yet (a zombie) is not running
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal said it exists
    return state not in ("Z", "X")


class _HolderAlive(Exception):
    """Under the lock, a refresh in flight by a process still running on this host: its lease
    ran out while it worked (the lease is shorter than its refresh took). Not a lost grant:
    release the lock and wait for it, as for a held lock."""


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- the operations ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Fetch:
    """A new grant (client credentials). Answers an ``AccessToken``."""


@dataclass(frozen=True)
class Refresh:
    """The refresh grant with ``token``'s refresh token. Answers an ``AccessToken``. With
    ``journal``, the answer goes to this host's journal before anything else happens (no
    event, no log), so a process killed before the store write loses nothing."""

    token: AccessToken
    journal: bool = False


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
class ReadRecord:
    """The stored token with the refresh in flight, if any. Answers a ``StoredRecord``;
    ``TokenStoreError``."""


@dataclass(frozen=True)
class StoreMark:
    """Write ``token`` with the in-flight mark ``mark``. Answers ``None``; ``TokenStoreError``.
    (``StoreWrite`` writes a token without one, so the answer's write clears the mark.)"""

    token: AccessToken
    mark: InFlight


@dataclass(frozen=True)
class JournalRead:
    """The token this host journaled for the account that no store write confirmed yet.
    Answers an ``AccessToken`` or ``None``; never fails (an unusable journal is logged)."""


@dataclass(frozen=True)
class JournalClear:
    """Drop the host's journal entry if the store now holds its token or a newer ``stored``.
    Answers ``None``; never fails."""

    stored: AccessToken


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


Op = (
    Fetch
    | Refresh
    | ReloadCredentials
    | StoreRead
    | StoreWrite
    | ReadRecord
    | StoreMark
    | JournalRead
    | JournalClear
    | TryLock
    | ReleaseLock
    | Pause
)
Plan = Generator[Op, object, AccessToken]


# --- what the caller wants and what the plan knows ---------------------------------------------
@dataclass(frozen=True)
class Want:
    """What a caller will accept (see ``TokenManager.get_token``)."""

    force: bool = False
    rejected: AccessToken | None = None
    use_refresh: bool = True
    min_ttl: float = 0.0
    # The caller read the store a moment ago and its token did not do (the rotation flow's
    # one listing of every stored token): the first peek before the lock is skipped.
    peeked: bool = False

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
    # Seconds the vendor accepts a rotated refresh token again (0: none): inside it, a refresh
    # whose answer was lost is retried once with the same refresh token.
    reuse_grace: float = 0.0
    holder: str = field(default_factory=this_process, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)  # deadlines
    now: Callable[[], datetime] = field(default=utcnow, compare=False)  # marks, across hosts
    draw: Callable[[], float] = field(default=random.random, compare=False)  # back-off jitter
    alive: Callable[[str], bool] = field(default=holder_alive, compare=False)  # a mark's holder


# --- the plan ---------------------------------------------------------------------------------
def acquire(account: Account, want: Want, current: AccessToken | None) -> Plan:
    """A token ``want`` accepts. With a shared store: peek at it, and refresh only while holding
    the account's lock (re-reading the store under it), so across processes one refresh token is
    never sent twice and one request serves everyone. When the lock itself cannot be had (the
    store is down), a new grant without it: a refresh token is never sent unguarded, and a flow
    is not failed for a store it can do without."""
    if not account.shared:
        return (yield from obtain_fresh(account, current, want.use_refresh))
    # A token this host received and never stored (a killed process, a failed write): it must
    # reach the store, under the lock, before anyone refreshes from the store's older copy.
    journaled = (yield JournalRead()) if account.user_grant else None
    deadline = account.clock() + LOCK_TIMEOUT
    attempt = 0
    while account.clock() < deadline:
        if not (want.peeked and attempt == 0):
            peek = yield from _read_store(account)
            replay = journaled is not None and _later(journaled, peek)  # type: ignore[arg-type]
            if not replay and want.accepts(peek, account.margin):
                return peek  # type: ignore[return-value]  # accepts() is False for None
        try:
            locked = yield TryLock()
        except TokenStoreError as exc:  # the store's lock is down: stay available, stay safe
            if account.user_grant:  # no new grant without the user; a refresh needs the lock
                raise _noted(
                    exc,
                    "a user-authorized account refreshes only under the lock (a rotated refresh "
                    "token sent twice revokes the grant)",
                ) from None
            logger.warning("%s; asking the vendor without it (a new grant, no refresh token sent)", exc)
            return (yield from obtain_fresh(account, None, use_refresh=False))
        if locked:
            try:
                token = yield from _locked(account, want, current)
            except _HolderAlive as busy:
                yield ReleaseLock()
                logger.warning(
                    "%s: the refresh lock's lease ran out while %s was still refreshing (the lease, "
                    "VENDORTOKENS_LOCK_LEASE, is shorter than its refresh took); waiting for it",
                    account.label,
                    busy,
                )
                yield Pause(backoff(attempt, account.draw))
                attempt += 1
                continue
            except TokenError:
                yield ReleaseLock()
                raise
            yield ReleaseLock()
            return token
        yield Pause(backoff(attempt, account.draw))
        attempt += 1
    raise TokenStoreError(f"{account.label}: another process held the refresh lock for {LOCK_TIMEOUT:g} s")


def _locked(account: Account, want: Want, current: AccessToken | None) -> Plan:
    """Under the lock: a token usable when it is handed over. Each new token is judged on
    arrival (a slow store must not turn it into an error); one that then aged into its refresh
    margin while the store write stalled is renewed once more, still under the lock."""
    token = yield from _locked_round(account, want, current)
    if token.is_valid(account.margin):
        return token
    logger.warning(
        "%s: %s aged into its refresh margin while it was stored; renewing it once",
        account.label,
        token.describe(),
    )
    token = yield from _locked_round(account, want, token)
    if token.expires_within(0):
        raise TokenStoreError(
            f"{account.label}: the store is so slow that new tokens expire while they are written "
            f"({token.describe()})"
        )
    return token


def _locked_round(account: Account, want: Want, current: AccessToken | None) -> Plan:
    if account.user_grant:
        return (yield from _locked_user_grant(account, want, current))
    return (yield from _locked_app(account, want, current))


def _locked_app(account: Account, want: Want, current: AccessToken | None) -> Plan:
    """The app's own grant (client credentials): a lost token costs one more request."""
    stored = yield from _read_store(account)  # the holder before us may have just written it
    if want.accepts(stored, account.margin):
        return stored  # type: ignore[return-value]
    token = yield from obtain_fresh(account, newest(stored, current), want.use_refresh)
    try:
        yield StoreWrite(token)
    except TokenStoreError as exc:
        logger.warning("%s; the new token is not shared", exc)
    return token


def _locked_user_grant(account: Account, want: Want, current: AccessToken | None) -> Plan:
    """A user's grant, whose refresh token may rotate: refresh only from the newest copy (the
    store's, else what this host journaled, else this process's after a failed write), record
    the refresh in flight before sending, and never resend a refresh token that may be spent,
    except once inside the vendor's reuse grace."""
    # Unreadable: fail, never a stale copy.
    record = cast(StoredRecord, (yield ReadRecord()))
    stored, mark = record.token, record.in_flight
    journaled: AccessToken | None = yield JournalRead()  # type: ignore[assignment]
    if journaled is not None and _later(journaled, stored):
        logger.warning(
            "%s: storing %s, which a process on this host received and never stored (killed, or "
            "its write failed)",
            account.label,
            journaled.describe(),
        )
        yield StoreWrite(journaled)  # also clears the mark it answered
        stored, mark = journaled, None
    if journaled is not None and stored is not None:
        yield JournalClear(stored)
    if want.accepts(stored, account.margin):
        return stored  # type: ignore[return-value]
    base = newest(stored, current)
    if base is None or base.refresh_token is None or base.redacted:
        raise AuthorizationRequiredError(
            f"{account.label}: not authorized yet (no refresh token in the store); run "
            "`prefect-vendortokens authorize` for this block",
            vendor=base.vendor if base is not None else None,
        )
    if mark is not None and mark.refresh_fingerprint == base.refresh_fingerprint:
        # The previous holder sent this refresh token and never stored the answer: it died, or
        # lost the answer, or (still running here) outlived its lease and is storing it now.
        age = (account.now() - mark.since).total_seconds()
        if mark.holder != account.holder and age < IN_FLIGHT_BOUND and account.alive(mark.holder):
            raise _HolderAlive(mark.holder)
        if not (account.reuse_grace and age < account.reuse_grace):
            what = f"a process ({mark.holder}) died during a refresh {age:.0f} s ago (or lost its answer)"
            raise _grant_lost(account, base, what)
        logger.warning(
            "%s: a process (%s) died during a refresh %.1f s ago; retrying its refresh token once "
            "inside the vendor's %g s reuse grace",
            account.label,
            mark.holder,
            age,
            account.reuse_grace,
        )
        token = yield from _refresh_user_grant(account, base, retried=True)
    else:
        try:
            yield StoreMark(base, InFlight(base.refresh_fingerprint or "", account.holder, account.now()))
        except TokenStoreError as exc:
            raise _noted(
                exc, "the refresh token is sent only once the refresh in flight is recorded"
            ) from None
        token = yield from _refresh_user_grant(account, base, retried=False)
    # Judged on arrival, not after the write: a slow store must not age a short token into an error.
    arrived_unusable = not token.is_valid(account.margin)
    try:
        yield StoreWrite(token)
    except TokenStoreError as exc:
        logger.error(
            "%s; the new refresh token is kept by this process (and this host's journal), which "
            "refreshes from it until a write succeeds",
            exc,
        )
    else:
        yield JournalClear(token)
    if arrived_unusable:  # its new refresh token is stored, the token refused
        raise TokenResponseError(
            f"{account.label}: the vendor issued a token that is already expired or inside the "
            f"refresh margin ({token.describe()}); its refresh token is kept; check the vendor's "
            "clock and the refresh margin",
            vendor=token.vendor,
        )
    return token


def install(account: Account, token: AccessToken, *, keep_newer: bool = False) -> Plan:
    """Put a token obtained outside the plan (the consent of ``authorize``) into the store,
    under the lock, so no process refreshes from the grant being replaced meanwhile. A failed
    write raises: the grant would otherwise be lost. ``keep_newer`` (a token whose write failed,
    shared again): not over a newer stored one, whose refresh token is the live one."""
    if not account.shared:
        return token
    deadline = account.clock() + LOCK_TIMEOUT
    attempt = 0
    while account.clock() < deadline:
        if (yield TryLock()):
            try:
                stored = cast(AccessToken | None, (yield StoreRead())) if keep_newer else None
                if stored is None or _later(token, stored):
                    yield StoreWrite(token)
            finally:
                yield ReleaseLock()
            return token
        yield Pause(backoff(attempt, account.draw))
        attempt += 1
    raise TokenStoreError(f"{account.label}: another process held the refresh lock for {LOCK_TIMEOUT:g} s")


def newest(stored: AccessToken | None, current: AccessToken | None) -> AccessToken | None:
    """The later-issued of the store's token and this process's own: this process's is newer
    only when its write-back failed, and then its refresh token is the live one."""
    if stored is None or (
        current is not None and not current.redacted and current.issued_at > stored.issued_at
    ):
        return current
    return stored


def _noted(exc: TokenStoreError, note: str) -> TokenStoreError:
    """``exc`` with ``note`` added to its message, of the same type (a sealed Vault stays a
    ``SealedStoreError``)."""
    noted = copy.copy(exc)
    noted.summary = f"{exc.summary}; {note}"
    Exception.__init__(noted, noted._render())
    return noted


def _later(token: AccessToken, than: AccessToken | None) -> bool:
    return than is None or token.issued_at > than.issued_at


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


def _refresh_user_grant(account: Account, base: AccessToken, retried: bool) -> Plan:
    """A user's grant's only way to a new token: ``base``'s refresh token, whose send is
    recorded in the store (the mark). An answer that may have been lost after the vendor acted
    (a timeout, a dropped connection) leaves the mark and is retried once with the same refresh
    token inside the reuse grace, else reported as a lost grant; any answer from the vendor
    clears the mark. A refused grant means a person must consent again; a refused client (a
    rotated secret) is re-read once."""
    reloaded = False
    while True:
        try:
            return (yield from _answer(Refresh(base, journal=True)))
        except TokenTransportError as exc:
            if not exc.sent:  # it never reached the vendor: the refresh token is as good as before
                yield from _clear_mark(account, base)
                raise
            if account.reuse_grace and not retried:
                logger.warning(
                    "%s: the refresh's answer was lost (%s); retrying the same refresh token once "
                    "inside the vendor's %g s reuse grace",
                    account.label,
                    exc.summary,
                    account.reuse_grace,
                )
                retried = True
                continue
            raise _grant_lost(account, base, f"the answer to a refresh was lost ({exc.summary})") from None
        except CredentialsRejectedError as exc:
            if _client_refused(exc) and account.reloadable and not reloaded:
                logger.info("%s: client credentials rejected; re-reading them once", account.label)
                yield ReloadCredentials()
                reloaded = True
                continue
            yield from _clear_mark(account, base)
            if _client_refused(exc):
                raise
            why = (
                "the vendor refused the refresh token retried inside the reuse grace"
                if retried
                else "the vendor refused the refresh token (revoked, expired or already used)"
            )
            raise AuthorizationRequiredError(
                f"{account.label}: {why}; run `prefect-vendortokens authorize` for this block again",
                vendor=exc.vendor,
                token_url=exc.token_url,
                status=exc.status,
                vendor_code=exc.vendor_code,
                vendor_message=exc.vendor_message,
            ) from None
        except TokenError:
            yield from _clear_mark(account, base)  # the vendor answered (an error): nothing rotated
            raise


def _grant_lost(account: Account, base: AccessToken, what: str) -> AuthorizationRequiredError:
    return AuthorizationRequiredError(
        f"{account.label}: {what}, after the vendor may have rotated the refresh token; the "
        "new one never reached the store and the old one may be spent. Not resending it (the "
        "vendor would revoke the grant); run `prefect-vendortokens authorize` for this block "
        "again. Where the vendor accepts a rotated refresh token for a while, set "
        "refresh_reuse_grace to recover by itself",
        vendor=base.vendor,
    )


def _clear_mark(account: Account, base: AccessToken) -> Generator[Op, object, None]:
    """The refresh token was not used after all: write the token back without the mark (best
    effort; a mark left behind makes the next holder report the grant lost)."""
    try:
        yield StoreWrite(base)
    except TokenStoreError as exc:
        logger.warning("%s; the in-flight refresh mark stays", exc)


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
