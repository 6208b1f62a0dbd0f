"""Retrying retryable token errors: exponential back-off with jitter, Retry-After honoured.

Prefect's task retries cannot wait for a delay chosen per error (a vendor's Retry-After), so
the token tasks retry inside the task with this policy; ``delay`` decides, the two small loops
only sleep.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ..core.errors import TokenError

T = TypeVar("T")
logger = logging.getLogger("prefect_vendortokens")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits ``base * 2**n`` (capped) plus up to ``jitter`` of it."""

    attempts: int = 4
    base: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0  # a vendor asking for a longer pause fails the call instead

    def delay(self, attempt: int, error: BaseException) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` after ``error``, or None to give up."""
        if not isinstance(error, TokenError):
            return None
        return self.wait(attempt, error.retryable, getattr(error, "retry_after", None))

    def wait(self, attempt: int, retryable: bool, retry_after: float | None = None) -> float | None:
        """The same decision from its parts (for HTTP answers that are not token errors)."""
        if not retryable or attempt >= self.attempts:
            return None
        if retry_after:  # the vendor said when: wait that long, spread a little
            if retry_after > self.max_retry_after:
                return None
            return retry_after * (1 + random.uniform(0, 0.1))  # noqa: S311 - jitter, not crypto
        backoff = min(self.base * 2 ** (attempt - 1), self.max_delay)
        return backoff * (1 + random.uniform(0, self.jitter))  # noqa: S311


def call_with_retries(
    fn: Callable[[], T], policy: RetryPolicy, log: logging.Logger | logging.LoggerAdapter = logger
) -> T:
    attempt = 1
    while True:
        try:
            return fn()
        except TokenError as exc:
            wait = policy.delay(attempt, exc)
            if wait is None:
                raise
            log.warning("attempt %d failed: %s; retrying in %.1f s", attempt, exc, wait)
        time.sleep(wait)
        attempt += 1


async def acall_with_retries(
    fn: Callable[[], Awaitable[T]], policy: RetryPolicy, log: logging.Logger | logging.LoggerAdapter = logger
) -> T:
    attempt = 1
    while True:
        try:
            return await fn()
        except TokenError as exc:
            wait = policy.delay(attempt, exc)
            if wait is None:
                raise
            log.warning("attempt %d failed: %s; retrying in %.1f s", attempt, exc, wait)
        await asyncio.sleep(wait)
        attempt += 1
