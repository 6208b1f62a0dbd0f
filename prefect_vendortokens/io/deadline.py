"""Bounding a blocking call that has no deadline of its own.

The Prefect client (60 s per try, several tries) and hvac/requests (a timeout per read, so a
server that trickles bytes is never timed out) can block far longer than a token request may.
Both helpers run the call in a daemon thread, in a copy of the caller's context (Prefect's
settings, such as the test harness's API URL, are context variables), and stop waiting after
``seconds``: the caller gets the typed error at once, the abandoned call ends on its own. Not
``asyncio.to_thread``: an event loop waits for its executor's threads when it closes, so a hung
call would hold ``asyncio.run`` (the sync path's helper loop) however early we gave up on it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
Outcome = tuple[bool, object]


def _start(fn: Callable[[], object], deliver: Callable[[Outcome], None]) -> None:
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome: Outcome = (True, context.run(fn))
        except BaseException as exc:  # handed to the caller as is
            outcome = (False, exc)
        deliver(outcome)

    threading.Thread(target=run, daemon=True, name="vendortokens-bounded").start()


def _unwrap(outcome: Outcome) -> object:
    ok, value = outcome
    if ok:
        return value
    raise value  # type: ignore[misc]


def call_within(fn: Callable[[], T], seconds: float, timed_out: Callable[[], BaseException]) -> T:
    """``fn()``, or ``timed_out()`` raised after ``seconds`` without an answer."""
    box: list[Outcome] = []
    done = threading.Event()

    def deliver(outcome: Outcome) -> None:
        box.append(outcome)
        done.set()

    _start(fn, deliver)
    if not done.wait(seconds):
        raise timed_out()
    return _unwrap(box[0])  # type: ignore[return-value]


async def in_thread_within(fn: Callable[[], T], seconds: float, timed_out: Callable[[], BaseException]) -> T:
    """``call_within`` for async callers: the event loop keeps running meanwhile."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Outcome] = loop.create_future()

    def settle(outcome: Outcome) -> None:
        if not future.done():
            future.set_result(outcome)

    def deliver(outcome: Outcome) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome)

    _start(fn, deliver)
    try:
        outcome = await asyncio.wait_for(future, seconds)
    except TimeoutError:
        raise timed_out() from None
    return _unwrap(outcome)  # type: ignore[return-value]


def run_bounded(coroutine: Coroutine[Any, Any, T], timeout: float | None) -> T:
    """Run a self-bounded coroutine to completion from sync code: on a private event loop in a
    helper thread, in a copy of this thread's context, so it works whether or not this thread
    runs a loop, and leaves this thread's loop state alone. ``timeout`` is only a backstop: the
    coroutine bounds itself."""
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vendortokens") as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result(
            timeout=None if timeout is None else timeout + 30
        )
