"""One token request per account at a time, for every thread and coroutine of the process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from prefect_vendortokens import (
    CredentialsRejectedError,
    RateLimitedError,
    TokenTransportError,
    VendorUnavailableError,
)

from .conftest import block_for


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_32_threads_and_256_coroutines_make_one_request(sandbox) -> None:
    sandbox.set_delay(0.5, "sqr")  # every caller arrives while the one request is in flight
    start = threading.Barrier(33)
    results: list[str] = []

    def thread_caller() -> str:
        start.wait(timeout=10)
        # a fresh block instance per caller, like separate tasks loading the same block
        return block_for(sandbox, "sqr").get_token().fingerprint

    async def coroutine_callers() -> list[str]:
        await asyncio.to_thread(start.wait, 10)
        tokens = await asyncio.gather(*(block_for(sandbox, "sqr").aget_token() for _ in range(256)))
        return [t.fingerprint for t in tokens]

    with ThreadPoolExecutor(max_workers=33) as pool:
        threads = [pool.submit(thread_caller) for _ in range(32)]
        loop_thread = pool.submit(asyncio.run, coroutine_callers())
        results = [f.result(timeout=60) for f in threads] + loop_thread.result(timeout=60)

    assert len(results) == 288
    assert sandbox.token_requests("sqr") == 1
    assert len(set(results)) == 1


def test_waiters_share_the_error(sandbox) -> None:
    sandbox.set_delay(0.3, "sqod")
    sandbox.fail_next("sqod", 1, status=503)
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(block_for(sandbox, "sqod").get_token) for _ in range(16)]
        errors = [f.exception(timeout=30) for f in futures]
    assert all(isinstance(e, VendorUnavailableError) for e in errors)
    assert sandbox.token_requests("sqod") == 1


def test_other_accounts_do_not_wait(sandbox) -> None:
    """Cobee's token request is held for 60 s; SQR's must not queue behind it. The margin is
    the whole 60 s, not a race: SQR's request takes milliseconds."""
    sandbox.set_delay(60.0, "cobee")
    try:
        cobee = block_for(sandbox, "cobee")

        def held() -> None:
            with contextlib.suppress(TokenTransportError):  # its 30 s deadline ends it after the test
                cobee.get_token()

        slow = threading.Thread(target=held, daemon=True)
        slow.start()
        _wait_for(lambda: sandbox.token_requests("cobee") == 1)
        token = block_for(sandbox, "sqr").get_token()  # must not queue behind cobee's request
        assert token.is_valid()
        assert slow.is_alive(), "the other account's request should still be in flight"
    finally:
        sandbox.set_delay(0.0, "cobee")
    slow.join(timeout=10)


def test_loading_the_block_again_reuses_the_token(sandbox) -> None:
    first = block_for(sandbox, "slashid").get_token()
    again = block_for(sandbox, "slashid").get_token()
    assert again.fingerprint == first.fingerprint and sandbox.token_requests("slashid") == 1
    # a different account (other scopes) is a different cache entry
    other = block_for(sandbox, "slashid", scopes=["openid"]).get_token()
    assert other.fingerprint != first.fingerprint and sandbox.token_requests("slashid") == 2


def test_force_refresh_uses_the_refresh_grant(sandbox) -> None:
    block = block_for(sandbox, "slashid")
    first = block.get_token()
    second = block.get_token(force_refresh=True)
    assert second.fingerprint != first.fingerprint
    assert second.refresh_token.get_secret_value() != first.refresh_token.get_secret_value()


def test_failure_window_answers_the_same_error(sandbox) -> None:
    sandbox.fail_next("sqr", 1, status=503)
    block = block_for(sandbox, "sqr")
    with pytest.raises(VendorUnavailableError):
        block.get_token()
    with pytest.raises(VendorUnavailableError):  # within the window: no new request
        block.get_token()
    assert sandbox.token_requests("sqr") == 1
    time.sleep(1.1)
    assert block.get_token().is_valid()
    assert sandbox.token_requests("sqr") == 2


def test_retry_after_sets_the_window(sandbox) -> None:
    sandbox.fail_next("cobee", 1, status=429, retry_after=3)
    block = block_for(sandbox, "cobee")
    with pytest.raises(RateLimitedError):
        block.get_token()
    time.sleep(1.2)  # past the default 1 s window
    with pytest.raises(RateLimitedError):  # Retry-After 3 s is not over yet
        block.get_token()
    assert sandbox.token_requests("cobee") == 1
    time.sleep(2.0)
    assert block.get_token().is_valid() and sandbox.token_requests("cobee") == 2


def test_rejected_credentials_are_not_hammered(sandbox) -> None:
    bad = block_for(sandbox, "resales_online", client_secret="resales-wrong-secret")
    for _ in range(20):
        with pytest.raises(CredentialsRejectedError):
            bad.get_token()
    assert sandbox.token_requests("resales_online") == 1


async def test_cancelled_leader_hands_over(sandbox) -> None:
    sandbox.set_delay(0.5, "oauth2")
    block = block_for(sandbox, "oauth2")
    leader = asyncio.create_task(block.aget_token())
    await asyncio.sleep(0.1)
    follower = asyncio.create_task(block.aget_token())
    await asyncio.sleep(0.05)
    leader.cancel()
    token = await asyncio.wait_for(follower, 10)
    assert token.is_valid()


def test_hot_path_never_hands_out_a_token_past_its_margin(sandbox) -> None:
    """The lock-free read gives the cached token only until its refresh time (2 s tokens are
    renewed 0.5 s early), then the next call asks for a new one."""
    sandbox.set_token_lifetime(2, "sqr")
    block = block_for(sandbox, "sqr")
    first = block.get_token()
    assert all(block.get_token() is first for _ in range(1000))
    assert sandbox.token_requests("sqr") == 1
    time.sleep(1.6)
    second = block.get_token()
    assert second.fingerprint != first.fingerprint and sandbox.token_requests("sqr") == 2


def test_block_resolves_its_manager_once_and_again_after_a_change(sandbox) -> None:
    from pydantic import ValidationError

    from prefect_vendortokens import clear_token_cache
    from prefect_vendortokens.blocks.settings import HttpSettings

    block = block_for(sandbox, "sqr")
    first = block.manager()
    assert block.manager() is first
    block.http = HttpSettings(timeout=5)  # another behaviour: another manager
    second = block.manager()
    assert second is not first and second.key != first.key
    with pytest.raises(ValidationError, match="frozen"):
        block.http.timeout = 7  # in place would go unnoticed, so the groups refuse it
    clear_token_cache()
    assert block.manager() is not second
