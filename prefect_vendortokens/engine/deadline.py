"""Bounding a blocking call that has no deadline of its own.

The Prefect client (60 s per try, several tries) and hvac/requests (a timeout per read, so a
server that trickles bytes is never timed out) can block far longer than a token request may.
``call_within`` runs the call in a daemon thread, in a copy of the caller's context (Prefect's
settings, such as the test harness's API URL, are context variables), and gives up waiting
after ``seconds``: the caller gets the typed error at once, the abandoned call ends on its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
# Each call to the shared store or its lock (the Prefect API, Vault) answers within this, or the
# read degrades to this process's own token, the write is skipped, the lock is a TokenStoreError.
STORE_CALL_TIMEOUT = 10.0


def call_within(fn: Callable[[], T], seconds: float, timed_out: Callable[[], BaseException]) -> T:
    """``fn()``, or ``timed_out()`` raised after ``seconds`` without an answer."""
    outcome: list[tuple[bool, object]] = []
    done = threading.Event()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome.append((True, context.run(fn)))
        except BaseException as exc:  # handed to the caller as is
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, daemon=True, name="vendortokens-bounded").start()
    if not done.wait(seconds):
        raise timed_out()
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[return-value]
    raise value  # type: ignore[misc]


async def await_within(awaitable: Awaitable[T], seconds: float, timed_out: Callable[[], BaseException]) -> T:
    """The async form: cancels the awaitable after ``seconds``."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise timed_out() from None
