"""Prefect tasks for tokens, a sync and an async task per want, made from one definition each
(``_token_tasks``). Each takes ``credentials`` (a ``VendorCredentials`` block or its saved
name) and ``retry_policy`` (a ``RetryPolicy``, default ``DEFAULT_RETRY``) and returns an
``AccessToken``:

- ``get_token`` / ``aget_token`` (task ``get-vendor-token``): a valid token, the process's
  cached one or a new one;
- ``fetch_token`` / ``afetch_token`` (``fetch-vendor-token``): a brand-new token from a fresh
  grant (client credentials), replacing the cached one;
- ``refresh_token`` / ``arefresh_token`` (``refresh-vendor-token``): a new token via the refresh
  grant when the vendor has one (else a fresh grant).

They never let Prefect persist or cache a token: ``persist_result=False`` overrides
``PREFECT_RESULTS_PERSIST_BY_DEFAULT``, and ``NO_CACHE`` because every ``SecretStr`` hashes alike
(a cached task would hand back another account's or a stale token). The token they return lives
in memory only; pickled, it would lose its secret (see ``AccessToken``). Retryable errors are
retried inside the task (Retry-After honoured, see ``engine/retry.py``); rejected credentials fail at once.
Log lines show the vendor, fingerprint and expiry only.
"""

from __future__ import annotations

from typing import Any

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ..blocks.credentials import VendorCredentials, aload_credentials, load_credentials
from ..core.token import AccessToken
from ..engine.manager import WantArgs
from ..engine.retry import Retrying, RetryPolicy, aretry, retry

DEFAULT_RETRY = RetryPolicy()
_SAFE: dict[str, Any] = {"persist_result": False, "cache_policy": NO_CACHE}
Credentials = VendorCredentials | str


def _token_tasks(
    name: str, task_name: str, want: WantArgs, doc: str
) -> tuple[Task[..., AccessToken], Task[..., Any]]:
    """The sync and the async task of one want: what the caller asks the account's manager for."""

    def obtain(credentials: Credentials, retry_policy: RetryPolicy | None = None) -> AccessToken:
        manager = load_credentials(credentials).manager()
        token = retry(lambda: manager.get_token(**want), _retrying(retry_policy))
        get_run_logger().info("%s: %s", manager.label, token.describe())
        return token

    async def aobtain(credentials: Credentials, retry_policy: RetryPolicy | None = None) -> AccessToken:
        manager = (await aload_credentials(credentials)).manager()
        token = await aretry(lambda: manager.aget_token(**want), _retrying(retry_policy))
        get_run_logger().info("%s: %s", manager.label, token.describe())
        return token

    # Each its own name (Prefect's task key is the function's qualified name and its source).
    for fn, fn_name, fn_doc in ((obtain, name, doc), (aobtain, "a" + name, f"Async ``{name}``.")):
        fn.__name__ = fn.__qualname__ = fn_name
        fn.__doc__ = fn_doc
    return task(name=task_name, **_SAFE)(obtain), task(name=task_name, **_SAFE)(aobtain)


def _retrying(policy: RetryPolicy | None) -> Retrying[AccessToken]:
    return Retrying(policy or DEFAULT_RETRY, log=get_run_logger())


get_token, aget_token = _token_tasks(
    "get_token", "get-vendor-token", {}, "A valid token: the process's cached one, or a new one."
)
fetch_token, afetch_token = _token_tasks(
    "fetch_token",
    "fetch-vendor-token",
    {"force": True, "use_refresh": False},
    "A brand-new token from a fresh grant (client credentials), replacing the cached one.",
)
refresh_token, arefresh_token = _token_tasks(
    "refresh_token",
    "refresh-vendor-token",
    {"force": True},
    "A new token via the refresh grant when the vendor has one (else a fresh grant).",
)

__all__ = ["afetch_token", "aget_token", "arefresh_token", "fetch_token", "get_token", "refresh_token"]
