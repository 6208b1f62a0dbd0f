"""Prefect tasks for tokens: ``get_token``, ``fetch_token``, ``refresh_token`` and async twins.

They never let Prefect persist or cache a token: ``persist_result=False`` overrides
``PREFECT_RESULTS_PERSIST_BY_DEFAULT``, and ``NO_CACHE`` because every ``SecretStr`` hashes alike
(a cached task would hand back another account's or a stale token). The token they return lives
in memory only; pickled, it would lose its secret (see ``AccessToken``). Retryable errors are
retried inside the task (Retry-After honoured, see ``engine/retry.py``); rejected credentials fail at once.
Log lines show the vendor, fingerprint and expiry only.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ..blocks.credentials import VendorCredentials, aload_credentials, load_credentials
from ..core.token import AccessToken
from ..engine.manager import TokenManager, WantArgs
from ..engine.retry import Retrying, RetryPolicy, aretry, retry

DEFAULT_RETRY = RetryPolicy()
_SAFE: dict[str, Any] = {"persist_result": False, "cache_policy": NO_CACHE}


def _obtain(credentials: VendorCredentials | str, want: WantArgs, policy: RetryPolicy | None) -> AccessToken:
    manager = load_credentials(credentials).manager()
    return _logged(manager, retry(lambda: manager.get_token(**want), _retrying(policy)))


async def _aobtain(
    credentials: VendorCredentials | str, want: WantArgs, policy: RetryPolicy | None
) -> AccessToken:
    manager = (await aload_credentials(credentials)).manager()
    return _logged(manager, await aretry(lambda: manager.aget_token(**want), _retrying(policy)))


def _retrying(policy: RetryPolicy | None) -> Retrying[AccessToken]:
    return Retrying(policy or DEFAULT_RETRY, log=get_run_logger())


def _logged(manager: TokenManager, token: AccessToken) -> AccessToken:
    get_run_logger().info("%s: %s", manager.label, token.describe())
    return token


# What each task asks the manager for.
_GET: WantArgs = {}  # a plain call: the cached token if it is valid
_FETCH: WantArgs = {"force": True, "use_refresh": False}
_REFRESH: WantArgs = {"force": True}


@task(name="get-vendor-token", **_SAFE)
def get_token(credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None) -> AccessToken:
    """A valid token: the process's cached one, or a new one."""
    return _obtain(credentials, _GET, retry_policy)


@task(name="fetch-vendor-token", **_SAFE)
def fetch_token(credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None) -> AccessToken:
    """A brand-new token from a fresh grant (client credentials), replacing the cached one."""
    return _obtain(credentials, _FETCH, retry_policy)


@task(name="refresh-vendor-token", **_SAFE)
def refresh_token(
    credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None
) -> AccessToken:
    """A new token via the refresh grant when the vendor has one (else a fresh grant)."""
    return _obtain(credentials, _REFRESH, retry_policy)


@task(name="get-vendor-token", **_SAFE)
async def aget_token(
    credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None
) -> AccessToken:
    """Async ``get_token``."""
    return await _aobtain(credentials, _GET, retry_policy)


@task(name="fetch-vendor-token", **_SAFE)
async def afetch_token(
    credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None
) -> AccessToken:
    """Async ``fetch_token``."""
    return await _aobtain(credentials, _FETCH, retry_policy)


@task(name="refresh-vendor-token", **_SAFE)
async def arefresh_token(
    credentials: VendorCredentials | str, retry_policy: RetryPolicy | None = None
) -> AccessToken:
    """Async ``refresh_token``."""
    return await _aobtain(credentials, _REFRESH, retry_policy)
