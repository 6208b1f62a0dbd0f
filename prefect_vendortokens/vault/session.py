"""``VaultSession``: one authenticated hvac client per Vault configuration per process.

It logs in (token, AppRole, JWT/OIDC, Kubernetes, userpass), renews a renewable token before its
TTL runs out, logs in again once when Vault answers 403 (a static token cannot: that is a clear
error), detects KV v1/v2 per mount, caches reads for a short TTL, and turns every hvac and
requests failure into a typed ``VaultError``. It never calls ``is_authenticated()`` (a
least-privilege token cannot look itself up).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import hvac
import hvac.exceptions as hvac_errors
import requests

from ..core.caches import ProcessCache
from ..io.deadline import call_within
from .auth_methods import AUTH_METHODS, VaultLogin
from .errors import (
    VaultAuthError,
    VaultError,
    VaultKVVersionError,
    VaultPermissionError,
    VaultSealedError,
    VaultTLSError,
    VaultUnreachableError,
)
from .guard import guarded

logger = logging.getLogger("prefect_vendortokens")
T = TypeVar("T")

RENEW_AT_FRACTION = 2 / 3  # renew a token once two thirds of its TTL are gone


@dataclass(frozen=True)
class VaultConfig:
    address: str
    namespace: str | None
    verify: bool | str
    timeout: float
    read_cache_ttl: float
    kv_version: int | None  # None: detect from the mount


class VaultSession:
    """Thread-safe; share one per configuration (see ``session_for``)."""

    def __init__(self, config: VaultConfig, login: VaultLogin) -> None:
        self.config = config
        self.login_spec = login
        self._lock = threading.RLock()
        # token="" (not None): hvac must never fall back to VAULT_TOKEN or ~/.vault-token.
        self._client = hvac.Client(
            url=config.address,
            token="",
            namespace=config.namespace or None,
            verify=config.verify,
            timeout=config.timeout,
        )
        self._expires: float | None = None  # monotonic time the token dies, if known
        self._ttl: float | None = None
        self._renewable = False
        self._authenticated = False
        self._kv_versions: dict[str, int] = {}
        self._cache: dict[tuple[str, str, int | None], tuple[float, dict[str, Any]]] = {}
        self.clock: Callable[[], float] = time.monotonic  # the read cache's and renewal's (tests replace it)
        self.logins = 0
        self.renewals = 0
        self.reads = 0  # reads that reached Vault (cache misses)

    def __repr__(self) -> str:
        return f"VaultSession({self.config.address!r}, method={self.login_spec.method!r})"

    # --- public -------------------------------------------------------------------------
    def read_secret(
        self, path: str, mount: str = "secret", version: int | None = None, fresh: bool = False
    ) -> dict[str, Any]:
        """The data of a KV secret (v1 or v2, detected), cached for ``read_cache_ttl`` seconds."""
        key = (mount, path, version)
        now = self.clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached and not fresh and now < cached[0]:
                return dict(cached[1])
        data = self._bounded(lambda: self._read(mount, path, version), mount, path)
        with self._lock:
            self._cache[key] = (self.clock() + self.config.read_cache_ttl, data)
            self.reads += 1
        return dict(data)

    def call(self, fn: Callable[[hvac.Client], T], *, mount: str | None = None, path: str | None = None) -> T:
        """Run ``fn(client)`` with a live token, re-login on 403, and typed errors."""
        return self._bounded(lambda: fn(self._client), mount, path)

    @property
    def client(self) -> hvac.Client:
        """The authenticated hvac client (logged in and renewed as needed)."""
        self._bounded(lambda: None, None, None)
        return self._client

    def _bounded(self, call: Callable[[], T], mount: str | None, path: str | None) -> T:
        """``_authorized`` under one deadline, the block's timeout, for everything it takes
        (login, renewal, KV detection, the read): requests' timeouts are per read, so a Vault
        that trickles its answer would otherwise hold the caller indefinitely."""
        timeout = self.config.timeout

        def hung() -> VaultUnreachableError:
            return VaultUnreachableError(
                f"Vault did not answer within {timeout:g} s", **self._where(mount, path)
            )

        return call_within(lambda: self._authorized(call, mount=mount, path=path), timeout, hung)

    # --- authentication -----------------------------------------------------------------
    def _authorized(self, call: Callable[[], T], *, mount: str | None, path: str | None) -> T:
        """Run ``call`` with a live token; on a 403 log in again once and retry once."""
        with self._lock:
            self._ensure_token(mount, path)
        try:
            return self._guard(call, mount, path)
        except VaultPermissionError:
            if self.login_spec.method == "token":
                raise VaultPermissionError(
                    "permission denied; the static Vault token may have expired or been revoked, or lacks "
                    "a policy for this path (a static token cannot log in again)",
                    **self._where(mount, path),
                ) from None
            logger.info("Vault answered 403 at %s; logging in again once", self.config.address)
            with self._lock:
                self._authenticated = False
                self._ensure_token(mount, path)
        try:
            return self._guard(call, mount, path)
        except VaultPermissionError:
            raise VaultPermissionError(
                "permission denied right after a fresh login: the role's policies do not allow this path",
                **self._where(mount, path),
            ) from None

    def _ensure_token(self, mount: str | None, path: str | None) -> None:
        if not self._authenticated:
            self._login(mount, path)
            return
        if self._renewable and self._expires is not None and self._ttl:
            renew_at = self._expires - self._ttl * (1 - RENEW_AT_FRACTION)
            if self.clock() >= renew_at:
                self._renew(mount, path)

    def _login(self, mount: str | None, path: str | None) -> None:
        spec = self.login_spec
        method = AUTH_METHODS.get(spec.method)
        where = {**self._where(mount, path), "mount": f"auth/{spec.mount}"}
        if method is None:
            raise VaultAuthError(f"unknown Vault auth method {spec.method!r}", **where)
        if method.login is None:  # a static token
            if not spec.token:
                raise VaultAuthError("no Vault token given", **self._where(mount, path))
            self._client.token = spec.token
            self._authenticated = True
            self._expires, self._renewable = None, False
            self._learn_static_token_ttl()
            return
        login = method.login
        self._client.token = ""
        try:
            answer = self._guard(
                lambda: login(self._client.auth, spec, lambda: self._jwt(where)),
                where["mount"],
                None,
                login=True,
            )
        except (VaultAuthError, VaultUnreachableError, VaultTLSError, VaultSealedError):
            raise
        except VaultError as exc:  # 403, or the auth backend failing (e.g. Kubernetes unreachable)
            raise VaultAuthError(
                f"{spec.method} login failed: {exc.summary}", vendor_message=exc.vendor_message, **where
            ) from None
        self._adopt(answer.get("auth") or {})
        self.logins += 1

    def _jwt(self, where: dict[str, Any]) -> str:
        spec = self.login_spec
        if spec.jwt:
            return spec.jwt
        try:
            return Path(spec.jwt_path).read_text().strip()
        except OSError as exc:
            raise VaultAuthError(
                f"cannot read the {spec.method} token file {spec.jwt_path}: {exc.strerror}", **where
            ) from None

    def _adopt(self, auth: dict[str, Any]) -> None:
        token = auth.get("client_token")
        if not token:
            raise VaultAuthError("Vault login answered without a client token", **self._where(None, None))
        self._client.token = token
        self._authenticated = True
        self._set_ttl(auth.get("lease_duration"), auth.get("renewable"))

    def _set_ttl(self, ttl: Any, renewable: Any) -> None:
        ttl = float(ttl or 0)
        self._ttl = ttl or None
        self._expires = self.clock() + ttl if ttl else None
        self._renewable = bool(renewable) and ttl > 0

    def _learn_static_token_ttl(self) -> None:
        # Best effort: a least-privilege token may not look itself up; then it is just not renewed.
        try:
            data = self._client.auth.token.lookup_self()["data"]
        except (hvac_errors.VaultError, requests.RequestException, KeyError, TypeError):
            return
        self._set_ttl(data.get("ttl"), data.get("renewable"))

    def _renew(self, mount: str | None, path: str | None) -> None:
        try:
            answer = self._guard(lambda: self._client.auth.token.renew_self(), mount, path)
        except VaultPermissionError:
            self._authenticated = False  # expired meanwhile: a fresh login (if the method can)
            if self.login_spec.method != "token":
                self._login(mount, path)
            return
        self._adopt(answer.get("auth") or {})
        self.renewals += 1
        logger.debug("renewed the Vault token at %s", self.config.address)

    # --- reading ------------------------------------------------------------------------
    def _kv_version(self, mount: str) -> int:
        if mount in self._kv_versions:
            return self._kv_versions[mount]
        detected: int | None = None
        try:
            answer = self._client.adapter.get(f"/v1/sys/internal/ui/mounts/{mount}")
            options = ((answer or {}).get("data") or {}).get("options") or {}
            detected = int(options.get("version") or 1)
        except hvac_errors.Forbidden:
            detected = None  # cannot tell: use the configured version, else v2
        configured = self.config.kv_version
        if detected is not None and configured is not None and detected != configured:
            raise VaultKVVersionError(
                f"the mount is KV v{detected} but the block says KV v{configured}", **self._where(mount, None)
            )
        version = detected or configured or 2
        self._kv_versions[mount] = version
        return version

    def _read(self, mount: str, path: str, version: int | None) -> dict[str, Any]:
        kv = self._kv_version(mount)
        if kv == 1:
            if version is not None:
                raise VaultKVVersionError(
                    f"version {version} was asked for, but the mount is KV v1 (no versions)",
                    **self._where(mount, path),
                )
            answer = self._client.secrets.kv.v1.read_secret(path=path, mount_point=mount)
            return dict(answer.get("data") or {})
        answer = self._client.secrets.kv.v2.read_secret_version(
            path=path, version=version, mount_point=mount, raise_on_deleted_version=True
        )
        return dict((answer.get("data") or {}).get("data") or {})

    # --- errors -------------------------------------------------------------------------
    def _where(self, mount: str | None, path: str | None) -> dict[str, Any]:
        return {
            "address": self.config.address,
            "namespace": self.config.namespace,
            "mount": mount,
            "path": path,
            "secrets": self.login_spec.secrets(),
        }

    def _guard(self, call: Callable[[], T], mount: str | None, path: str | None, login: bool = False) -> T:
        return guarded(call, self._where(mount, path), login_method=self.login_spec.method if login else None)


# --- one session per configuration, per process ----------------------------------------------
_sessions: ProcessCache[str, VaultSession] = ProcessCache("Vault sessions")


def session_for(key: str, make: Callable[[], VaultSession]) -> VaultSession:
    return _sessions.get_or_make(key, make)


def clear_vault_sessions() -> None:
    _sessions.clear()
