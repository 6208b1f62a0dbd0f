"""Calling a vendor's API from a task: the block's auth (refresh before expiry, renew and replay
on a 401) plus retries of 429 and 5xx answers with back-off, Retry-After honoured.

Tasks take the credentials block (or its name), never a token: the token is resolved inside the
task from the process-wide manager, so no token is ever a task parameter or result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ..blocks.credentials import VendorCredentials, aload_credentials, load_credentials
from ..core.errors import TokenError
from ..core.response import parse_retry_after
from ..engine.retry import RetryPolicy

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_API_RETRY = RetryPolicy(attempts=5)


class VendorApiError(TokenError):
    """A vendor API call failed after the retries (the status and URL, never headers or body)."""


def _decide(
    policy: RetryPolicy, attempt: int, outcome: httpx.Response | httpx.TransportError
) -> float | None:
    if isinstance(outcome, httpx.TransportError):
        return policy.wait(attempt, True)
    retry_after = parse_retry_after(outcome.headers.get("retry-after"))
    return policy.wait(attempt, outcome.status_code in RETRY_STATUSES, retry_after)


def _result(
    vendor: str, method: str, url: str, outcome: httpx.Response | httpx.TransportError
) -> httpx.Response:
    if isinstance(outcome, httpx.TransportError):
        raise VendorApiError(f"{method} {url} failed: {type(outcome).__name__}", vendor=vendor) from None
    if outcome.is_error:
        raise VendorApiError(
            f"{method} {url.split('?')[0]} answered {outcome.status_code}",
            vendor=vendor,
            status=outcome.status_code,
        )
    return outcome


def request_with_retries(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    vendor: str = "",
    policy: RetryPolicy = DEFAULT_API_RETRY,
    log: logging.Logger | logging.LoggerAdapter | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One API call on an authenticated client, retried on 429/5xx and transport errors."""
    attempt = 1
    while True:
        try:
            outcome: httpx.Response | httpx.TransportError = client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            outcome = exc
        wait = _decide(policy, attempt, outcome)
        if wait is None:
            return _result(vendor, method, url, outcome)
        if log:
            log.warning("%s %s: %s; retrying in %.1f s", method, url.split("?")[0], _what(outcome), wait)
        time.sleep(wait)
        attempt += 1


async def arequest_with_retries(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    vendor: str = "",
    policy: RetryPolicy = DEFAULT_API_RETRY,
    log: logging.Logger | logging.LoggerAdapter | None = None,
    **kwargs: Any,
) -> httpx.Response:
    attempt = 1
    while True:
        try:
            outcome: httpx.Response | httpx.TransportError = await client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            outcome = exc
        wait = _decide(policy, attempt, outcome)
        if wait is None:
            return _result(vendor, method, url, outcome)
        if log:
            log.warning("%s %s: %s; retrying in %.1f s", method, url.split("?")[0], _what(outcome), wait)
        await asyncio.sleep(wait)
        attempt += 1


def _what(outcome: httpx.Response | httpx.TransportError) -> str:
    return f"HTTP {outcome.status_code}" if isinstance(outcome, httpx.Response) else type(outcome).__name__


# NO_CACHE: API calls are not to be answered from a cache keyed on a block whose secrets all
# hash alike. Their results are the vendor's data (persisted only if the user persists results).
@task(name="call-vendor-api", cache_policy=NO_CACHE)
def call_api(
    credentials: VendorCredentials | str,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: dict[str, Any] | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Any:
    """Call a vendor API with the account's token; returns the decoded JSON answer."""
    creds = load_credentials(credentials)
    with creds.get_client() as client:
        response = request_with_retries(
            client,
            method,
            url,
            vendor=creds.effective_dialect.name,
            policy=retry_policy or DEFAULT_API_RETRY,
            log=get_run_logger(),
            json=json,
            params=params,
        )
    return response.json() if response.content else None


@task(name="call-vendor-api", cache_policy=NO_CACHE)
async def acall_api(
    credentials: VendorCredentials | str,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: dict[str, Any] | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Any:
    """Async ``call_api``."""
    creds = await aload_credentials(credentials)
    async with creds.get_async_client() as client:
        response = await arequest_with_retries(
            client,
            method,
            url,
            vendor=creds.effective_dialect.name,
            policy=retry_policy or DEFAULT_API_RETRY,
            log=get_run_logger(),
            json=json,
            params=params,
        )
    return response.json() if response.content else None
