"""Driving one "acquire a token" plan, sync or async.

A plan is a generator that yields *operations* (fetch, refresh, reload the credentials, read or
write the shared store) and receives their results, or has their ``TokenError`` thrown into it.
The decisions live once, in the plan; ``drive`` and ``adrive`` only perform the operations. This
is httpx's ``auth_flow`` idea applied to token acquisition.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from ..core.errors import TokenError

T = TypeVar("T")
Plan = Generator[Any, Any, T]


def drive(plan: Plan[T], perform: Callable[[Any], Any]) -> T:
    """Run ``plan`` to completion, performing each yielded operation synchronously."""
    resume, value = plan.send, None
    while True:
        try:
            op = resume(value)
        except StopIteration as done:
            return done.value
        try:
            resume, value = plan.send, perform(op)
        except TokenError as exc:
            resume, value = plan.throw, exc


async def adrive(plan: Plan[T], perform: Callable[[Any], Awaitable[Any]]) -> T:
    """Run ``plan`` to completion, awaiting each yielded operation."""
    resume, value = plan.send, None
    while True:
        try:
            op = resume(value)
        except StopIteration as done:
            return done.value
        try:
            resume, value = plan.send, await perform(op)
        except TokenError as exc:
            resume, value = plan.throw, exc
