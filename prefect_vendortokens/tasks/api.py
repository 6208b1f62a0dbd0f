"""Calling a vendor's API from a task: the block's auth (refresh before expiry, renew and replay
on a 401) plus retries of 429 and 5xx answers with back-off, Retry-After honoured.

Tasks take the credentials block (or its name), never a token: the token is resolved inside the
task from the process-wide manager, so no token is ever a task parameter or result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ..blocks.credentials import VendorCredentials, aload_credentials, load_credentials
from ..core.errors import TokenError
from ..core.response import parse_retry_after
from ..engine.retry import Log, Retrying, RetryPolicy, Verdict, aretry, retry

Credentials = VendorCredentials | str


class CallOptions(TypedDict, total=False):
    json: Any  # a JSON body
    params: dict[str, Any] | None  # the query
    retry_policy: RetryPolicy | None  # retries of 429, 5xx and transport errors


RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_API_RETRY = RetryPolicy(attempts=5)


class VendorApiError(TokenError):
    """A vendor API call failed after the retries (the status and URL, never headers or body)."""


def _verdict(outcome: object) -> Verdict:
    if isinstance(outcome, httpx.Response):
        retry_after = parse_retry_after(outcome.headers.get("retry-after"))
        return Verdict(outcome.status_code in RETRY_STATUSES, retry_after, f"HTTP {outcome.status_code}")
    return Verdict(isinstance(outcome, httpx.TransportError), None, type(outcome).__name__)


@dataclass(frozen=True)
class ApiCall:
    """One vendor API call on an authenticated client, retried on 429/5xx and transport errors
    (Retry-After honoured); the final failure is a ``VendorApiError``."""

    method: str
    url: str
    vendor: str = ""
    policy: RetryPolicy = DEFAULT_API_RETRY
    log: Log | None = None

    def send(
        self, client: httpx.Client, sleep: Callable[[float], None] = time.sleep, **kwargs: Any
    ) -> httpx.Response:
        retrying = self._retrying()
        retry(lambda: client.request(self.method, self.url, **kwargs), retrying, sleep)
        return self._checked(retrying)

    async def asend(
        self,
        client: httpx.AsyncClient,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **kwargs: Any,
    ) -> httpx.Response:
        retrying = self._retrying()
        await aretry(lambda: client.request(self.method, self.url, **kwargs), retrying, sleep)
        return self._checked(retrying)

    @property
    def where(self) -> str:
        return f"{self.method} {self.url.split('?')[0]}"  # no query: it may carry ids or keys

    def _retrying(self) -> Retrying[httpx.Response]:
        return Retrying(
            self.policy, _verdict, self.log or logging.getLogger("prefect_vendortokens"), self.where
        )

    def _checked(self, retrying: Retrying[httpx.Response]) -> httpx.Response:
        """The final answer, or a ``VendorApiError`` with the status and URL (never headers or body)."""
        try:
            response = retrying.result()
        except httpx.TransportError as exc:
            raise VendorApiError(f"{self.where} failed: {type(exc).__name__}", vendor=self.vendor) from None
        if response.is_error:
            raise VendorApiError(
                f"{self.where} answered {response.status_code}",
                vendor=self.vendor,
                status=response.status_code,
            )
        return response


# NO_CACHE: API calls are not to be answered from a cache keyed on a block whose secrets all
# hash alike. Their results are the vendor's data (persisted only if the user persists results).
@task(name="call-vendor-api", cache_policy=NO_CACHE)
def call_api(credentials: Credentials, method: str, url: str, **options: Unpack[CallOptions]) -> Any:
    """Call a vendor API with the account's token; returns the decoded JSON answer. Options:
    ``json`` (a body), ``params`` (the query), ``retry_policy`` (429/5xx/transport retries)."""
    creds = load_credentials(credentials)
    with creds.get_client() as client:
        return _decoded(_call(creds, method, url, options).send(client, **_body(options)))


@task(name="call-vendor-api", cache_policy=NO_CACHE)
async def acall_api(credentials: Credentials, method: str, url: str, **options: Unpack[CallOptions]) -> Any:
    """Async ``call_api``."""
    creds = await aload_credentials(credentials)
    async with creds.get_async_client() as client:
        return _decoded(await _call(creds, method, url, options).asend(client, **_body(options)))


def _call(creds: VendorCredentials, method: str, url: str, options: CallOptions) -> ApiCall:
    policy = options.get("retry_policy") or DEFAULT_API_RETRY
    return ApiCall(method, url, creds.effective_dialect.name, policy, get_run_logger())


def _body(options: CallOptions) -> dict[str, Any]:
    return {"json": options.get("json"), "params": options.get("params")}


def _decoded(response: httpx.Response) -> Any:
    return response.json() if response.content else None
