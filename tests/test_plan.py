"""The manager's plan, driven without sockets, threads or sleeping: each test scripts the answers
to the operations the plan yields and checks the exact sequence it asked for."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from prefect_vendortokens.core.errors import (
    AuthorizationRequiredError,
    CredentialsRejectedError,
    TokenError,
    TokenRejectedError,
    TokenResponseError,
    TokenStoreError,
    TokenTransportError,
)
from prefect_vendortokens.core.token import AccessToken, ExpirySource
from prefect_vendortokens.engine.plan import (
    LOCK_TIMEOUT,
    POLL_FIRST,
    POLL_GROWTH,
    POLL_MAX,
    Account,
    Fetch,
    JournalClear,
    Op,
    Pause,
    Plan,
    Refresh,
    ReleaseLock,
    ReloadCredentials,
    StoreMark,
    StoreRead,
    StoreWrite,
    TryLock,
    Want,
    acquire,
    backoff,
    install,
    newest,
)
from prefect_vendortokens.engine.ports import InFlight, StoredRecord


def token(name: str, *, lifetime: float = 3600, refresh: str | None = None) -> AccessToken:
    now = datetime.now(UTC)
    return AccessToken(
        access_token=SecretStr(f"secret-{name}"),
        issued_at=now,
        expires_at=now + timedelta(seconds=lifetime),
        expiry_source=ExpirySource.EXPIRES_IN,
        refresh_token=SecretStr(refresh) if refresh else None,
    )


class Script:
    """Answers each operation from a queue per operation type, records what was asked, and
    keeps a fake clock that only ``Pause`` advances."""

    def __init__(self, **answers: list[object]) -> None:
        self.answers = {name: list(values) for name, values in answers.items()}
        self.asked: list[Op] = []
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def answer(self, op: Op) -> object:
        self.asked.append(op)
        if isinstance(op, Pause):
            self.now += op.seconds
            return None
        queue = self.answers.get(type(op).__name__, [])
        value = queue.pop(0) if queue else None
        if isinstance(value, BaseException):
            raise value
        return value

    def kinds(self) -> list[str]:
        return [type(op).__name__ for op in self.asked]


def run(plan: Plan, answer: Callable[[Op], object]) -> AccessToken:
    """A synchronous driver, the async one's twin for tests (errors go back into the plan)."""
    resume, value = plan.send, None
    while True:
        try:
            op = resume(value)
        except StopIteration as done:
            return done.value
        try:
            resume, value = plan.send, answer(op)
        except TokenError as exc:
            resume, value = plan.throw, exc


def account(script: Script, **kwargs: object) -> Account:
    kwargs.setdefault("draw", lambda: 0.5)  # no jitter: each wait is the back-off's middle
    return Account(label="acct", clock=script.clock, **kwargs)  # type: ignore[arg-type]


def test_without_a_store_one_fetch() -> None:
    new = token("new")
    script = Script(Fetch=[new])
    assert run(acquire(account(script), Want(), None), script.answer) is new
    assert script.kinds() == ["Fetch"]


def test_refresh_first_then_a_new_grant_when_the_refresh_is_refused() -> None:
    current, new = token("old", lifetime=-1, refresh="r1"), token("new")
    script = Script(Refresh=[TokenRejectedError("invalid_grant", status=400)], Fetch=[new])
    assert run(acquire(account(script), Want(force=True), current), script.answer) is new
    assert script.kinds() == ["Refresh", "Fetch"]
    assert script.asked[0] == Refresh(current)


def test_use_refresh_false_skips_the_refresh_grant() -> None:
    script = Script(Fetch=[token("new")])
    run(
        acquire(account(script), Want(force=True, use_refresh=False), token("old", refresh="r")),
        script.answer,
    )
    assert script.kinds() == ["Fetch"]


def test_rejected_credentials_are_re_read_once_when_they_can_be() -> None:
    new = token("new")
    rejected = CredentialsRejectedError("invalid_client", status=401)
    script = Script(Fetch=[rejected, new])
    assert run(acquire(account(script, reloadable=True), Want(), None), script.answer) is new
    assert script.kinds() == ["Fetch", "ReloadCredentials", "Fetch"]

    fixed = Script(Fetch=[rejected, new])
    with pytest.raises(CredentialsRejectedError):
        run(acquire(account(fixed), Want(), None), fixed.answer)
    assert fixed.kinds() == ["Fetch"]


def test_a_token_expired_on_arrival_gets_one_more_request_then_a_typed_error() -> None:
    script = Script(Fetch=[token("dead", lifetime=-5), token("good")])
    assert run(acquire(account(script), Want(), None), script.answer).secret() == "secret-good"
    assert script.kinds() == ["Fetch", "Fetch"]

    stale = Script(Fetch=[token("dead", lifetime=-5), token("dead2", lifetime=-5)])
    with pytest.raises(TokenResponseError, match="already expired"):
        run(acquire(account(stale), Want(), None), stale.answer)
    assert stale.kinds() == ["Fetch", "Fetch"]


def test_a_valid_stored_token_is_taken_without_the_lock() -> None:
    stored = token("stored")
    script = Script(StoreRead=[stored])
    assert run(acquire(account(script, shared=True), Want(), None), script.answer) is stored
    assert script.kinds() == ["StoreRead"]


def test_the_lock_holder_re_reads_refreshes_writes_back_and_releases() -> None:
    current, new = token("old", lifetime=-1, refresh="r1"), token("new", refresh="r2")
    script = Script(StoreRead=[None, current], TryLock=[True], Refresh=[new])
    assert run(acquire(account(script, shared=True), Want(), None), script.answer) is new
    # the stored token (not this process's) is the one refreshed: its refresh token is the newest
    assert script.asked == [
        StoreRead(),
        TryLock(),
        StoreRead(),
        Refresh(current),
        StoreWrite(new),
        ReleaseLock(),
    ]


def test_a_caller_that_just_read_the_store_goes_straight_to_the_lock() -> None:
    """``peeked``: the rotation flow listed every stored token and this one was due, so the
    first peek is skipped; the holder still reads the store under the lock. A busy lock makes
    the next round peek as usual (the holder may have written meanwhile)."""
    current, new = token("old", lifetime=-1, refresh="r1"), token("new", refresh="r2")
    script = Script(StoreRead=[current], TryLock=[True], Refresh=[new])
    assert run(acquire(account(script, shared=True), Want(peeked=True), None), script.answer) is new
    assert script.asked == [TryLock(), StoreRead(), Refresh(current), StoreWrite(new), ReleaseLock()]

    written = token("written")
    busy = Script(TryLock=[False], StoreRead=[written])
    assert run(acquire(account(busy, shared=True), Want(peeked=True), None), busy.answer) is written
    assert busy.kinds() == ["TryLock", "Pause", "StoreRead"]


def test_sharing_a_token_again_never_puts_it_over_a_newer_one() -> None:
    """``share``: a token whose write failed goes to the store under the lock, unless another
    process stored a newer one meanwhile (whose refresh token is the live one)."""
    from datetime import timedelta

    mine = token("mine", refresh="r-mine")
    older = mine.model_copy(update={"issued_at": mine.issued_at - timedelta(seconds=5)})
    newer = mine.model_copy(update={"issued_at": mine.issued_at + timedelta(seconds=5)})
    stale = Script(TryLock=[True], StoreRead=[older])
    assert run(install(account(stale, shared=True), mine, keep_newer=True), stale.answer) is mine
    assert stale.asked == [TryLock(), StoreRead(), StoreWrite(mine), ReleaseLock()]
    fresh = Script(TryLock=[True], StoreRead=[newer])
    run(install(account(fresh, shared=True), mine, keep_newer=True), fresh.answer)
    assert fresh.asked == [TryLock(), StoreRead(), ReleaseLock()]


def test_a_waiter_polls_the_store_until_the_holder_has_written() -> None:
    written = token("written")
    script = Script(StoreRead=[None, None, written], TryLock=[False, False])
    assert run(acquire(account(script, shared=True), Want(), None), script.answer) is written
    assert script.kinds() == ["StoreRead", "TryLock", "Pause", "StoreRead", "TryLock", "Pause", "StoreRead"]
    assert script.now == pytest.approx(POLL_FIRST + POLL_FIRST * POLL_GROWTH)  # 50 ms, then 75 ms


def test_waiters_back_off_with_jitter_from_50_ms_to_1_s() -> None:
    """Not a fixed 0.2 s poll: quick at first (the hand-off), then at most about once a second,
    and never in step (each wait drawn between half and one and a half of its middle)."""
    middles = [backoff(n, lambda: 0.5) for n in range(12)]
    assert middles[0] == pytest.approx(POLL_FIRST) and middles[-1] == pytest.approx(POLL_MAX)
    assert all(a <= b for a, b in itertools.pairwise(middles))
    assert backoff(0, lambda: 0.0) == pytest.approx(POLL_FIRST / 2)
    assert backoff(20, lambda: 0.999) == pytest.approx(1.5 * POLL_MAX, rel=1e-2)


def test_a_lock_held_too_long_is_a_typed_error_after_the_timeout() -> None:
    script = Script(TryLock=[False] * 10_000)
    with pytest.raises(TokenStoreError, match="held the refresh lock"):
        run(acquire(account(script, shared=True), Want(), None), script.answer)
    assert "Fetch" not in script.kinds()
    assert script.now == pytest.approx(LOCK_TIMEOUT, abs=POLL_MAX)
    assert script.kinds().count("Pause") < LOCK_TIMEOUT / POLL_MAX + 10  # about once a second, not 600


def test_a_failed_request_under_the_lock_still_releases_it() -> None:
    script = Script(StoreRead=[None, None], TryLock=[True], Fetch=[TokenRejectedError("nope", status=400)])
    with pytest.raises(TokenRejectedError):
        run(acquire(account(script, shared=True), Want(), None), script.answer)
    assert script.kinds()[-2:] == ["Fetch", "ReleaseLock"]


def test_an_unreadable_or_unwritable_store_degrades_to_this_process_token(caplog) -> None:
    new = token("new")
    down = TokenStoreError("the store failed (reading the token: ConnectionError)")
    script = Script(
        StoreRead=[down, down],
        TryLock=[True],
        Fetch=[new],
        StoreWrite=[TokenStoreError("the store failed (writing the token: ConnectionError)")],
    )
    assert run(acquire(account(script, shared=True), Want(), None), script.answer) is new
    assert script.kinds() == ["StoreRead", "TryLock", "StoreRead", "Fetch", "StoreWrite", "ReleaseLock"]
    assert "using this process's own token" in caplog.text and "not shared" in caplog.text


def test_a_rejected_token_is_replaced_only_while_it_is_current() -> None:
    refused, newer = token("refused"), token("newer")
    want = Want(rejected=refused)
    assert not want.accepts(refused, None) and want.accepts(newer, None)
    script = Script(StoreRead=[newer])  # another process replaced it already
    assert run(acquire(account(script, shared=True), want, refused), script.answer) is newer
    assert script.kinds() == ["StoreRead"]


def test_min_ttl_wants_a_token_valid_that_much_longer() -> None:
    short = token("short", lifetime=600)
    assert Want().accepts(short, None) and not Want(min_ttl=900).accepts(short, None)


def test_a_performer_answering_a_grant_with_no_token_is_a_bug_not_a_token() -> None:
    script = Script(Fetch=["not a token"])
    with pytest.raises(TypeError, match="AccessToken"):
        run(acquire(account(script), Want(), None), script.answer)


def test_reload_is_an_operation_of_its_own() -> None:
    assert ReloadCredentials() != Fetch()  # distinct ops, exhaustively dispatched by the manager


def test_a_lock_that_cannot_be_had_means_a_new_grant_without_it(caplog) -> None:
    """The store is down: no refresh token is sent unguarded (a fresh grant instead), nothing is
    written, nothing is released, and the caller gets a token."""
    new = token("new")
    down = TokenStoreError("the store did not answer within 10 s (the refresh lock)")
    script = Script(StoreRead=[None], TryLock=[down], Fetch=[new])
    stored_with_refresh = token("old", lifetime=-1, refresh="r1")
    assert run(acquire(account(script, shared=True), Want(), stored_with_refresh), script.answer) is new
    assert script.kinds() == ["StoreRead", "TryLock", "Fetch"]
    assert "asking the vendor without it" in caplog.text


# --- user-authorized accounts (grant authorization_code) ---------------------------------------
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def user_account(script: Script, **kwargs) -> Account:
    kwargs.setdefault("draw", lambda: 0.5)
    return Account(
        label="user",
        shared=True,
        user_grant=True,
        clock=script.clock,
        holder="host-a:101",
        now=lambda: NOW,
        **kwargs,
    )


def grant_refused(code: str = "invalid_grant", status: int = 400) -> CredentialsRejectedError:
    return CredentialsRejectedError("refused", status=status, vendor_code=code)


def marked(tok: AccessToken, seconds_ago: float = 5, holder: str = "host-b:202") -> InFlight:
    return InFlight(tok.refresh_fingerprint or "", holder, NOW - timedelta(seconds=seconds_ago))


HOLDER_FLOW = [
    "JournalRead",
    "StoreRead",
    "TryLock",
    "ReadRecord",
    "JournalRead",
    "StoreMark",
    "Refresh",
    "StoreWrite",
    "JournalClear",
    "ReleaseLock",
]


def test_user_grant_records_the_refresh_in_flight_then_refreshes_journals_and_writes_back() -> None:
    """The newest refresh token is the store's, read under the lock; before it is sent the store
    records that a refresh with it is in flight (its fingerprint, this holder, the time); the
    answer is journaled on arrival, then written (which clears the mark), then the journal entry
    is dropped, and only then the lock released."""
    stale, stored, new = (
        token("stale", lifetime=-1, refresh="r1"),
        token("stored", lifetime=-1, refresh="r2"),
        token("new", refresh="r3"),
    )
    script = Script(StoreRead=[stored], ReadRecord=[StoredRecord(stored)], TryLock=[True], Refresh=[new])
    assert run(acquire(user_account(script), Want(), stale), script.answer) is new
    assert script.kinds() == HOLDER_FLOW
    assert script.asked[5] == StoreMark(stored, InFlight(stored.refresh_fingerprint, "host-a:101", NOW))
    assert script.asked[6] == Refresh(stored, journal=True)
    assert script.asked[7] == StoreWrite(new) and script.asked[8] == JournalClear(new)
    assert "r2" not in repr(script.asked[5])  # the mark names a fingerprint, never the token


def test_user_grant_never_asks_for_a_new_grant() -> None:
    """Nothing stored and nothing held: a person must consent; no Fetch is tried."""
    script = Script(StoreRead=[None], ReadRecord=[StoredRecord(None)], TryLock=[True])
    with pytest.raises(AuthorizationRequiredError, match=r"not authorized yet.*authorize"):
        run(acquire(user_account(script), Want(), None), script.answer)
    assert "Fetch" not in script.kinds() and "StoreMark" not in script.kinds()
    assert script.kinds()[-1] == "ReleaseLock"


def test_user_grant_refused_refresh_token_means_authorize_again_and_clears_the_mark() -> None:
    stored = token("stored", lifetime=-1, refresh="r1")
    script = Script(
        StoreRead=[stored], ReadRecord=[StoredRecord(stored)], TryLock=[True], Refresh=[grant_refused()]
    )
    with pytest.raises(AuthorizationRequiredError, match="authorize` for this block again") as failed:
        run(acquire(user_account(script), Want(), None), script.answer)
    assert failed.value.vendor_code == "invalid_grant"
    # the vendor answered: nothing is in flight any more (the next holder must not think so)
    assert script.kinds()[-3:] == ["Refresh", "StoreWrite", "ReleaseLock"]
    assert script.asked[-2] == StoreWrite(stored) and "Fetch" not in script.kinds()


def test_user_grant_refused_client_rereads_the_credentials_once() -> None:
    """invalid_client (a rotated secret in Vault) is the client's fault, not the grant's."""
    stored, new = token("stored", lifetime=-1, refresh="r1"), token("new", refresh="r2")
    script = Script(
        StoreRead=[stored],
        ReadRecord=[StoredRecord(stored)],
        TryLock=[True],
        Refresh=[grant_refused("invalid_client", 401), new],
    )
    assert run(acquire(user_account(script, reloadable=True), Want(), None), script.answer) is new
    assert script.kinds()[5:9] == ["StoreMark", "Refresh", "ReloadCredentials", "Refresh"]


def test_user_grant_without_the_lock_fails_rather_than_refresh_unguarded() -> None:
    stored = token("stored", lifetime=-1, refresh="r1")
    script = Script(StoreRead=[stored], TryLock=[TokenStoreError("lock down")])
    with pytest.raises(TokenStoreError, match="refreshes only under the lock"):
        run(acquire(user_account(script), Want(), stored), script.answer)
    assert "Refresh" not in script.kinds() and "Fetch" not in script.kinds()


def test_user_grant_unreadable_store_under_the_lock_fails_rather_than_use_a_stale_copy() -> None:
    own = token("own", lifetime=-1, refresh="r-old")
    script = Script(StoreRead=[None], ReadRecord=[TokenStoreError("store down")], TryLock=[True])
    with pytest.raises(TokenStoreError, match="store down"):
        run(acquire(user_account(script), Want(), own), script.answer)
    assert "Refresh" not in script.kinds() and script.kinds()[-1] == "ReleaseLock"


def test_user_grant_sends_nothing_when_the_mark_cannot_be_recorded() -> None:
    stored = token("stored", lifetime=-1, refresh="r1")
    script = Script(
        StoreRead=[stored],
        ReadRecord=[StoredRecord(stored)],
        TryLock=[True],
        StoreMark=[TokenStoreError("cannot write")],
    )
    with pytest.raises(TokenStoreError, match="only once the refresh in flight is recorded"):
        run(acquire(user_account(script), Want(), None), script.answer)
    assert "Refresh" not in script.kinds() and script.kinds()[-1] == "ReleaseLock"


def test_user_grant_failed_write_back_keeps_the_newer_own_token() -> None:
    """After a failed write, this process's token is newer than the store's: its refresh token is
    the live one, and the next refresh uses it (the store's stale mark names the older one)."""
    older = token("older", lifetime=-1, refresh="r1")
    own = token("own", lifetime=-1, refresh="r2").model_copy(
        update={"issued_at": older.issued_at + timedelta(seconds=5)}
    )
    assert newest(older, own) is own and newest(own, None) is own and newest(None, own) is own
    script = Script(
        StoreRead=[older],
        ReadRecord=[StoredRecord(older, marked(older, holder="host-a:101"))],
        TryLock=[True],
        Refresh=[token("new", refresh="r3")],
    )
    run(acquire(user_account(script), Want(), own), script.answer)
    assert Refresh(own, journal=True) in script.asked


def test_install_writes_under_the_lock_and_raises_when_it_cannot() -> None:
    consented = token("consented", refresh="r1")
    script = Script(TryLock=[False, True])
    assert run(install(user_account(script), consented), script.answer) is consented
    assert script.kinds() == ["TryLock", "Pause", "TryLock", "StoreWrite", "ReleaseLock"]
    failing = Script(TryLock=[True], StoreWrite=[TokenStoreError("cannot write")])
    with pytest.raises(TokenStoreError, match="cannot write"):
        run(install(user_account(failing), consented), failing.answer)
    assert failing.kinds() == ["TryLock", "StoreWrite", "ReleaseLock"]


def test_user_grant_token_expired_on_arrival_is_stored_before_the_error() -> None:
    """The refresh consumed the old refresh token: the answer's new one is written back even
    when its access token is unusable, and no second request is made."""
    stored, dead = token("stored", lifetime=-1, refresh="r1"), token("dead", lifetime=-5, refresh="r2")
    script = Script(StoreRead=[stored], ReadRecord=[StoredRecord(stored)], TryLock=[True], Refresh=[dead])
    with pytest.raises(TokenResponseError, match="its refresh token is kept"):
        run(acquire(user_account(script), Want(), None), script.answer)
    assert script.kinds() == HOLDER_FLOW
    assert StoreWrite(dead) in script.asked


# --- a holder that died, an answer that was lost --------------------------------------------
def test_a_mark_naming_the_stored_refresh_token_without_grace_is_a_lost_grant_at_once() -> None:
    """The previous holder sent the stored refresh token and never stored the answer: the vendor
    may have rotated it. Without a reuse grace, resending it would make a rotating server revoke
    the grant: nothing is sent, the error says what happened."""
    stored = token("stored", lifetime=-1, refresh="r1")
    script = Script(StoreRead=[stored], ReadRecord=[StoredRecord(stored, marked(stored))], TryLock=[True])
    with pytest.raises(AuthorizationRequiredError, match=r"host-b:202\) died during a refresh 5 s ago"):
        run(acquire(user_account(script), Want(), None), script.answer)
    assert "Refresh" not in script.kinds() and "StoreMark" not in script.kinds()
    assert script.kinds()[-1] == "ReleaseLock"


def test_inside_the_reuse_grace_the_previous_refresh_token_is_retried_once() -> None:
    stored, new = token("stored", lifetime=-1, refresh="r1"), token("new", refresh="r2")
    script = Script(
        StoreRead=[stored],
        ReadRecord=[StoredRecord(stored, marked(stored, 5))],
        TryLock=[True],
        Refresh=[new],
    )
    assert run(acquire(user_account(script, reuse_grace=30), Want(), None), script.answer) is new
    assert script.kinds().count("Refresh") == 1 and "StoreMark" not in script.kinds()  # the mark stands
    assert script.asked[script.kinds().index("Refresh")] == Refresh(stored, journal=True)
    assert StoreWrite(new) in script.asked


def test_after_the_reuse_grace_the_grant_is_lost_without_a_request() -> None:
    stored = token("stored", lifetime=-1, refresh="r1")
    script = Script(StoreRead=[stored], ReadRecord=[StoredRecord(stored, marked(stored, 45))], TryLock=[True])
    with pytest.raises(AuthorizationRequiredError, match="died during a refresh 45 s ago"):
        run(acquire(user_account(script, reuse_grace=30), Want(), None), script.answer)
    assert "Refresh" not in script.kinds()


def test_a_refused_retry_inside_the_grace_says_so() -> None:
    stored = token("stored", lifetime=-1, refresh="r1")
    script = Script(
        StoreRead=[stored],
        ReadRecord=[StoredRecord(stored, marked(stored, 5))],
        TryLock=[True],
        Refresh=[grant_refused()],
    )
    with pytest.raises(AuthorizationRequiredError, match="retried inside the reuse grace"):
        run(acquire(user_account(script, reuse_grace=30), Want(), None), script.answer)
    assert script.kinds().count("Refresh") == 1


def test_a_mark_naming_an_older_refresh_token_is_stale_and_ignored() -> None:
    """The holder wrote its answer (a newer refresh token) and the mark it left names the old
    one: nothing was lost."""
    older, stored, new = (
        token("older", refresh="r0"),
        token("stored", lifetime=-1, refresh="r1"),
        token("new", refresh="r2"),
    )
    script = Script(
        StoreRead=[stored], ReadRecord=[StoredRecord(stored, marked(older))], TryLock=[True], Refresh=[new]
    )
    assert run(acquire(user_account(script), Want(), None), script.answer) is new
    assert script.kinds() == HOLDER_FLOW


def test_a_lost_answer_without_grace_is_a_lost_grant_and_the_mark_stays() -> None:
    stored = token("stored", lifetime=-1, refresh="r1")
    lost = TokenTransportError("token request took longer than its 30 s deadline", sent=True)
    script = Script(StoreRead=[stored], ReadRecord=[StoredRecord(stored)], TryLock=[True], Refresh=[lost])
    with pytest.raises(AuthorizationRequiredError, match="answer to a refresh was lost"):
        run(acquire(user_account(script), Want(), None), script.answer)
    assert script.kinds()[-3:] == ["StoreMark", "Refresh", "ReleaseLock"]  # no write: the mark stays


def test_a_lost_answer_inside_the_grace_is_retried_once_with_the_same_refresh_token() -> None:
    stored, new = token("stored", lifetime=-1, refresh="r1"), token("new", refresh="r2")
    lost = TokenTransportError("connection reset after the request", sent=True)
    script = Script(
        StoreRead=[stored], ReadRecord=[StoredRecord(stored)], TryLock=[True], Refresh=[lost, new]
    )
    assert run(acquire(user_account(script, reuse_grace=10), Want(), None), script.answer) is new
    assert [op for op in script.asked if isinstance(op, Refresh)] == [Refresh(stored, journal=True)] * 2

    twice = Script(
        StoreRead=[stored], ReadRecord=[StoredRecord(stored)], TryLock=[True], Refresh=[lost, lost]
    )
    with pytest.raises(AuthorizationRequiredError, match="lost"):
        run(acquire(user_account(twice, reuse_grace=10), Want(), None), twice.answer)
    assert twice.kinds().count("Refresh") == 2


def test_a_request_that_never_left_clears_the_mark_and_is_a_plain_transport_error() -> None:
    stored = token("stored", lifetime=-1, refresh="r1")
    refused = TokenTransportError("token request failed before an answer: ConnectError", sent=False)
    script = Script(StoreRead=[stored], ReadRecord=[StoredRecord(stored)], TryLock=[True], Refresh=[refused])
    with pytest.raises(TokenTransportError) as failed:
        run(acquire(user_account(script), Want(), None), script.answer)
    assert not isinstance(failed.value, AuthorizationRequiredError)
    assert script.kinds()[-3:] == ["Refresh", "StoreWrite", "ReleaseLock"] and script.asked[-2] == StoreWrite(
        stored
    )


def test_a_token_this_host_journaled_and_never_stored_is_replayed_first() -> None:
    """A process killed between the answer and the store write: its journal entry is newer than
    the store's token (whose mark names the spent refresh token). The next process on the host
    takes the lock even though the stored access token is still valid, stores the journaled one
    (clearing the mark), drops the entry, and hands it out: no request, no reuse."""
    stored = token("stored", refresh="r1")  # still valid, but its refresh token was spent
    journaled = token("journaled", refresh="r2").model_copy(
        update={"issued_at": stored.issued_at + timedelta(seconds=1)}
    )
    script = Script(
        JournalRead=[journaled, journaled],
        StoreRead=[stored],
        ReadRecord=[StoredRecord(stored, marked(stored))],
        TryLock=[True],
    )
    assert run(acquire(user_account(script), Want(), None), script.answer) is journaled
    assert script.kinds() == [
        "JournalRead",
        "StoreRead",
        "TryLock",
        "ReadRecord",
        "JournalRead",
        "StoreWrite",
        "JournalClear",
        "ReleaseLock",
    ]
    assert script.asked[5] == StoreWrite(journaled) and script.asked[6] == JournalClear(journaled)


def test_a_journal_entry_the_store_already_has_is_only_dropped() -> None:
    stored = token("stored", refresh="r2")
    script = Script(
        JournalRead=[stored, stored], StoreRead=[stored], ReadRecord=[StoredRecord(stored)], TryLock=[True]
    )
    assert run(acquire(user_account(script), Want(), None), script.answer) is stored
    assert script.kinds() == ["JournalRead", "StoreRead"]  # nothing to replay: the peek is enough


def test_a_store_write_that_takes_long_does_not_hand_over_an_aged_token(monkeypatch) -> None:
    """Validity is judged when the token arrives (a slow store must not age a short-lived token
    into an error), and again when it is handed over: one that aged into its margin while the
    write stalled is renewed once more, under the same lock."""
    from prefect_vendortokens.core import token as token_module

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):  # the write took an hour
            return datetime.now(tz) + timedelta(hours=1)

    fresh, renewed = token("fresh", lifetime=60), token("renewed", lifetime=7200)

    def answer(op: Op) -> object:
        if isinstance(op, StoreWrite):
            monkeypatch.setattr(token_module, "datetime", Later)
            return None
        return script.answer(op)

    script = Script(StoreRead=[None, None], TryLock=[True], Fetch=[fresh, renewed])
    got = run(acquire(account(script, shared=True), Want(), None), answer)
    assert got is renewed
    assert script.kinds() == [
        "StoreRead",
        "TryLock",
        "StoreRead",
        "Fetch",
        "StoreRead",
        "Fetch",
        "ReleaseLock",
    ]


def test_a_mark_by_a_holder_still_running_here_is_waited_for_not_a_lost_grant(caplog) -> None:
    """The lease ran out under a living holder (on this host) that is mid-refresh: the next
    holder neither declares the grant lost nor resends; it releases the lock, waits, and takes
    the token the living holder then stored."""
    stored = token("stored", lifetime=-1, refresh="r1")
    new = token("new", refresh="r2")
    living = marked(stored, holder="host-a:303")
    script = Script(
        StoreRead=[stored, new],
        ReadRecord=[StoredRecord(stored, living)],
        TryLock=[True],
    )
    account = user_account(script, alive=lambda holder: holder == "host-a:303")
    assert run(acquire(account, Want(), None), script.answer) is new
    assert "Refresh" not in script.kinds() and "StoreMark" not in script.kinds()
    assert script.kinds()[-3:] == ["ReleaseLock", "Pause", "StoreRead"]
    assert "ran out while host-a:303 was still refreshing" in caplog.text
    # a mark older than a living holder can take (it lost its answer and lives on): lost
    old = Script(
        StoreRead=[stored],
        ReadRecord=[StoredRecord(stored, marked(stored, seconds_ago=600, holder="host-a:303"))],
        TryLock=[True],
    )
    with pytest.raises(AuthorizationRequiredError, match="died during a refresh"):
        run(acquire(user_account(old, alive=lambda holder: True), Want(), None), old.answer)
    # the same mark by a holder not known to run: the grant is reported lost, as before
    dead = Script(StoreRead=[stored], ReadRecord=[StoredRecord(stored, living)], TryLock=[True])
    with pytest.raises(AuthorizationRequiredError, match="died during a refresh"):
        run(acquire(user_account(dead, alive=lambda holder: False), Want(), None), dead.answer)


def test_holder_alive_knows_only_this_hosts_processes() -> None:
    import os
    import socket

    from prefect_vendortokens.engine.plan import holder_alive, this_process

    assert holder_alive(this_process())
    assert not holder_alive(f"{socket.gethostname()}:999999999")  # no such pid
    assert not holder_alive(f"elsewhere-{socket.gethostname()}:{os.getpid()}")
    assert not holder_alive("no pid at all")


def test_holder_alive_counts_an_unreaped_killed_process_as_dead() -> None:
    import signal
    import socket
    import subprocess
    import sys
    import time

    from prefect_vendortokens.engine.plan import holder_alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    holder = f"{socket.gethostname()}:{child.pid}"
    try:
        assert holder_alive(holder)
        child.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while holder_alive(holder) and time.monotonic() < deadline:  # a zombie until reaped
            time.sleep(0.05)
        assert not holder_alive(holder)
    finally:
        child.kill()
        child.wait(timeout=10)
