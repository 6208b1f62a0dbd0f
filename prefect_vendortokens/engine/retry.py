"""Retrying: exponential back-off with jitter, Retry-After honoured, one decision for token
errors and for HTTP answers alike.

Prefect's task retries cannot wait for a delay chosen per error (a vendor's Retry-After), so
the tasks retry inside the task. ``Retrying`` holds the whole decision (which outcome to retry,
how long to wait, what to log); ``aretry`` only calls and sleeps (``retry`` runs the same loop
for plain functions), and takes the sleep as a parameter so tests need not wait. Tenacity
would do the loop, but not the decision, which is most of this, and it would be one more
dependency for eight lines.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar, cast

from ..core.errors import TokenError

T = TypeVar("T")
R = TypeVar("R")
logger = logging.getLogger("prefect_vendortokens")
Log: TypeAlias = "logging.Logger | logging.LoggerAdapter[logging.Logger]"


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits ``base * 2**n`` (capped) plus up to ``jitter`` of it."""

    attempts: int = 4
    base: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0  # a vendor asking for a longer pause fails the call instead

    def wait(self, attempt: int, retryable: bool, retry_after: float | None = None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up."""
        if not retryable or attempt >= self.attempts:
            return None
        if retry_after:  # the vendor said when: wait that long, spread a little
            if retry_after > self.max_retry_after:
                return None
            return retry_after * (1 + random.uniform(0, 0.1))  # noqa: S311 - jitter, not crypto
        backoff = min(self.base * 2.0 ** (attempt - 1), self.max_delay)
        return backoff * (1 + random.uniform(0, self.jitter))  # noqa: S311


@dataclass(frozen=True)
class Verdict:
    """How an outcome reads: retry it?, the server's Retry-After, and a short safe description."""

    retryable: bool
    retry_after: float | None = None
    what: str = ""


def token_error_verdict(outcome: object) -> Verdict:
    """Token errors say themselves whether they are worth another try."""
    if isinstance(outcome, TokenError):
        return Verdict(outcome.retryable, getattr(outcome, "retry_after", None), str(outcome))
    return Verdict(False)


class Retrying(Generic[T]):
    """The state of one retried call: feed it each outcome (a value or an exception), it answers
    how long to wait before the next attempt, or None when ``result()`` is final."""

    def __init__(
        self,
        policy: RetryPolicy,
        judge: Callable[[object], Verdict] = token_error_verdict,
        log: Log = logger,
        label: str = "",
    ) -> None:
        self.policy, self.judge, self.log, self.label = policy, judge, log, label
        self.attempt = 0
        self._outcome: object = None

    def after(self, outcome: object) -> float | None:
        self.attempt += 1
        self._outcome = outcome
        verdict = self.judge(outcome)
        wait = self.policy.wait(self.attempt, verdict.retryable, verdict.retry_after)
        if wait is not None:
            prefix = f"{self.label}: " if self.label else ""
            self.log.warning(
                "%sattempt %d failed: %s; retrying in %.1f s", prefix, self.attempt, verdict.what, wait
            )
        return wait

    def result(self) -> T:
        """The last outcome: returned if it is a value, raised if it is an exception."""
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome  # type: ignore[return-value]


async def aretry(
    call: Callable[[], Awaitable[T]],
    retrying: Retrying[T],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """``call()`` until it succeeds or ``retrying`` gives up (the one retry loop)."""
    while (wait := retrying.after(await _outcome(call))) is not None:
        await sleep(wait)
    return retrying.result()


def retry(call: Callable[[], T], retrying: Retrying[T], sleep: Callable[[float], None] = time.sleep) -> T:
    """``aretry`` for plain functions: with a plain call and a plain sleep its coroutine never
    suspends, so it is run to its end here, on this thread, without an event loop."""
    loop = aretry(_awaitable(call), retrying, _awaitable(sleep))
    try:
        loop.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    loop.close()
    raise RuntimeError("retry: the retried call suspended")  # pragma: no cover - plain calls cannot


async def _outcome(call: Callable[[], Awaitable[T]]) -> T | Exception:
    try:
        return await call()
    except Exception as exc:  # judged by Retrying; raised again by result()
        return exc


def _awaitable(fn: Callable[..., R]) -> Callable[..., Awaitable[R]]:
    async def run(*args: object) -> R:
        return fn(*args)

    return run
