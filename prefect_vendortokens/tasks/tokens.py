"""Prefect tasks for tokens: ``get_token``, ``fetch_token``, ``refresh_token`` and async twins.

They never let Prefect persist or cache a token: ``persist_result=False`` overrides
``PREFECT_RESULTS_PERSIST_BY_DEFAULT``, and ``NO_CACHE`` because every ``SecretStr`` hashes alike
(a cached task would hand back another account's or a stale token). The token they return lives
in memory only; pickled, it would lose its secret (see ``AccessToken``). Retryable errors are
retried inside the task (Retry-After honoured, see ``retry.py``); rejected credentials fail at once.
Log lines show the vendor, fingerprint and expiry only.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ..blocks.credentials import VendorCredentials, aload_credentials, load_credentials
from ..core.token import AccessToken
from ..engine.retry import RetryPolicy, acall_with_retries, call_with_retries

DEFAULT_RETRY = RetryPolicy()
_SAFE: dict[str, Any] = {"persist_result": False, "cache_policy": NO_CACHE}


def _obtain(
    credentials: VendorCredentials | str, force: bool, use_refresh: bool, policy: RetryPolicy | None
) -> AccessToken:
    logger = get_run_logger()
    manager = load_credentials(credentials).manager()
    token = call_with_retries(
        lambda: manager.get_token(force=force, use_refresh=use_refresh), policy or DEFAULT_RETRY, logger
    )
    logger.info("%s: %s", manager.label, token.describe())
    return token


async def _aobtain(
    credentials: VendorCredentials | str, force: bool, use_refresh: bool, policy: RetryPolicy | None
) -> AccessToken:
    logger = get_run_logger()
    manager = (await aload_credentials(credentials)).manager()
    token = await acall_with_retries(
        lambda: manager.aget_token(force=force, use_refresh=use_refresh), policy or DEFAULT_RETRY, logger
    )
    logger.info("%s: %s", manager.label, token.describe())
    return token


@task(name="get-vendor-token", **_SAFE)
def get_token(credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None) -> AccessToken:
    """A valid token: the process's cached one, or a new one."""
    return _obtain(credentials, False, True, retry_policy)


@task(name="fetch-vendor-token", **_SAFE)
def fetch_token(credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None) -> AccessToken:
    """A brand-new token from a fresh grant (client credentials), replacing the cached one."""
    return _obtain(credentials, True, False, retry_policy)


@task(name="refresh-vendor-token", **_SAFE)
def refresh_token(
    credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None
) -> AccessToken:
    """A new token via the refresh grant when the vendor has one (else a fresh grant)."""
    return _obtain(credentials, True, True, retry_policy)


@task(name="get-vendor-token", **_SAFE)
async def aget_token(
    credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None
) -> AccessToken:
    """Async ``get_token``."""
    return await _aobtain(credentials, False, True, retry_policy)


@task(name="fetch-vendor-token", **_SAFE)
async def afetch_token(
    credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None
) -> AccessToken:
    """Async ``fetch_token``."""
    return await _aobtain(credentials, True, False, retry_policy)


@task(name="refresh-vendor-token", **_SAFE)
async def arefresh_token(
    credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None
) -> AccessToken:
    """Async ``refresh_token``."""
    return await _aobtain(credentials, True, True, retry_policy)
