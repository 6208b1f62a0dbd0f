"""The one retry loop, with the sleep injected: no test here waits for real."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from prefect_vendortokens.core.errors import (
    CredentialsRejectedError,
    RateLimitedError,
    VendorUnavailableError,
)
from prefect_vendortokens.engine.retry import Retrying, RetryPolicy, aretry, retry
from prefect_vendortokens.tasks.api import ApiCall, VendorApiError

EXACT = RetryPolicy(attempts=4, base=1.0, max_delay=3.0, jitter=0.0)


def failing(*errors: Exception, then: str = "ok"):
    queue = list(errors)
    calls = []

    def call() -> str:
        calls.append(1)
        if queue:
            raise queue.pop(0)
        return then

    return call, calls


def test_backoff_doubles_up_to_the_cap_and_then_succeeds() -> None:
    call, calls = failing(*(VendorUnavailableError("503", status=503) for _ in range(3)))
    slept: list[float] = []
    assert retry(call, Retrying(EXACT), slept.append) == "ok"
    assert slept == [1.0, 2.0, 3.0] and len(calls) == 4


def test_retry_after_is_honoured_and_a_long_one_fails_at_once() -> None:
    call, _ = failing(RateLimitedError("429", status=429, retry_after=7))
    slept: list[float] = []
    assert retry(call, Retrying(EXACT), slept.append) == "ok"
    assert 7 <= slept[0] <= 7.7  # the vendor's pause, spread by up to 10 %

    too_long, calls = failing(RateLimitedError("429", status=429, retry_after=600))
    with pytest.raises(RateLimitedError):
        retry(too_long, Retrying(EXACT), slept.append)
    assert len(calls) == 1


def test_gives_up_after_the_attempts_with_the_last_error() -> None:
    call, calls = failing(*(VendorUnavailableError(f"503 #{i}", status=503) for i in range(9)))
    slept: list[float] = []
    with pytest.raises(VendorUnavailableError, match="#3"):
        retry(call, Retrying(EXACT), slept.append)
    assert len(calls) == 4 and len(slept) == 3


def test_deterministic_errors_and_bugs_are_not_retried() -> None:
    for error in (CredentialsRejectedError("invalid_client", status=401), KeyError("bug")):
        call, calls = failing(error)
        with pytest.raises(type(error)):
            retry(call, Retrying(EXACT), pytest.fail)
        assert len(calls) == 1


def test_the_async_loop_makes_the_same_decisions() -> None:
    call, calls = failing(
        VendorUnavailableError("503", status=503), VendorUnavailableError("503", status=503)
    )
    slept: list[float] = []

    async def acall() -> str:
        return call()

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    assert asyncio.run(aretry(acall, Retrying(EXACT), asleep)) == "ok"
    assert slept == [1.0, 2.0] and len(calls) == 3


def api_client(statuses: list[int], headers: dict[str, str] | None = None) -> tuple[httpx.Client, list[int]]:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status = statuses[len(seen)] if len(seen) < len(statuses) else 200
        seen.append(status)
        return httpx.Response(status, headers=headers if status != 200 else None, json={"n": len(seen)})

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def test_api_calls_retry_429_and_5xx_with_retry_after() -> None:
    client, seen = api_client([503, 429], {"Retry-After": "2"})
    slept: list[float] = []
    response = ApiCall("GET", "https://api.example/x?key=1", policy=EXACT).send(client, slept.append)
    assert response.json() == {"n": 3} and seen == [503, 429, 200]
    assert all(2 <= s <= 2.2 for s in slept) and len(slept) == 2


def test_api_errors_are_typed_without_the_query() -> None:
    client, seen = api_client([404])
    with pytest.raises(VendorApiError) as info:
        ApiCall("GET", "https://api.example/x?key=SECRET", vendor="acme", policy=EXACT).send(
            client, pytest.fail
        )
    assert seen == [404] and info.value.status == 404
    assert "SECRET" not in str(info.value) and "GET https://api.example/x answered 404" in str(info.value)
