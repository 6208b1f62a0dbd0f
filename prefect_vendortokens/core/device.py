"""The device authorization grant (RFC 8628), sans-IO: for a worker with no browser.

The client asks for a device code, shows the person a URL and a short user code (and a QR code
of the URL), and polls the token endpoint while the person approves on a phone. This module
reads the device authorization's answer and decides, answer by answer, when to poll again and
when to stop; the engine sends and sleeps. Its order, with a monotonic clock ``clock()``:

    request = build_device_authorization_request(dialect, creds, url=device_url)
    authorization = parse_device_authorization(dialect, status=..., headers=..., body=..., url=device_url,
                                               secrets=request.secrets)
    show(authorization)                        # verification URI, user code, qr_text(...)
    poll = DevicePoll.start(authorization, now=clock())
    while True:
        sleep(poll.delay(now=clock()))         # DeviceCodeExpiredError once no poll can be in time
        request = build_token_request(dialect, creds, DeviceCodeGrant(authorization.device_code))
        ... send; on a transport failure: poll = poll.failed(now=clock()); continue
        outcome = poll.answer(dialect, status=..., headers=..., body=..., sent_at=..., now=clock(),
                              token_url=creds.token_url, secrets=request.secrets)
        if isinstance(outcome, AccessToken):
            return outcome                     # store it (and its refresh token) as authorize does
        poll = outcome

``authorization_pending`` waits ``interval``; ``slow_down`` adds 5 s to it for good (RFC 8628
3.5); ``access_denied`` is ``DeviceAuthorizationDeniedError``; ``expired_token`` or the
``expires_in`` deadline is ``DeviceCodeExpiredError``; a 5xx or a lost answer doubles the wait.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from .dialect import TokenDialect
from .errors import (
    DeviceAuthorizationDeniedError,
    DeviceCodeExpiredError,
    TokenResponseError,
)
from .response import error_code, error_response, parse_token_response, safe_url
from .token import AccessToken

DEFAULT_INTERVAL = 5.0  # RFC 8628 3.2: when the answer names none
SLOW_DOWN_STEP = 5.0  # RFC 8628 3.5
MIN_INTERVAL = 1.0  # a server's "interval": 0 does not make us hammer it
MAX_INTERVAL = 300.0
MAX_BACKOFF = 60.0  # a failing server is asked again at least this often while the code lives
MAX_LIFETIME = 24 * 3600.0
_MAX_TEXT = 2048


@dataclass(frozen=True)
class DeviceAuthorization:
    """A device authorization's answer (RFC 8628 3.2). ``device_code`` is a secret (it polls for
    the token); the rest is for the person. ``repr`` leaves out the device code."""

    device_code: SecretStr
    user_code: str
    verification_uri: str
    verification_uri_complete: str = ""  # with the user code in it; "" when the server gave none
    expires_in: float = 0.0
    interval: float = DEFAULT_INTERVAL

    def __repr__(self) -> str:
        return (
            f"DeviceAuthorization(user_code={self.user_code!r}, verification_uri="
            f"{self.verification_uri!r}, expires_in={self.expires_in:g}, interval={self.interval:g})"
        )

    @property
    def link(self) -> str:
        """What to open (and to put in the QR code): the complete URI when there is one."""
        return self.verification_uri_complete or self.verification_uri


def parse_device_authorization(
    dialect: TokenDialect,
    *,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    url: str,
    secrets: Iterable[str] = (),
) -> DeviceAuthorization:
    """The device authorization endpoint's answer as a ``DeviceAuthorization``, or a typed
    error: the endpoint's errors are classified as the token endpoint's (``invalid_client`` a
    ``CredentialsRejectedError``, 5xx ``VendorUnavailableError``...), an answer without the
    RFC's fields a ``TokenResponseError`` naming the field. Text that would be shown to the
    person must be printable (no terminal escapes) and the URIs http(s)."""
    secrets = tuple(secrets)
    where: dict[str, Any] = {"vendor": dialect.name, "token_url": safe_url(url), "status": status}
    if not 200 <= status < 300 or error_code(dialect, body):
        raise error_response(
            dialect, status=status, headers=headers, body=body, token_url=url, secrets=secrets
        )
    data = _object(body)
    if data is None:
        raise error_response(dialect, status=status, headers=headers, body=body, token_url=url)

    def text(*names: str, required: bool = True) -> str:
        for name in names:
            value = data.get(name)
            if isinstance(value, str) and value:
                if len(value) > _MAX_TEXT or not value.isprintable():
                    raise TokenResponseError(
                        f"the device authorization's {name} is not printable text", **where
                    )
                return value
        if required:
            raise TokenResponseError(
                f"the device authorization answer has no {names[0]}", missing_field=names[0], **where
            )
        return ""

    device_code = data.get("device_code")
    if not isinstance(device_code, str) or not device_code:
        raise TokenResponseError(
            "the device authorization answer has no device_code", missing_field="device_code", **where
        )
    user_code = text("user_code")
    # Google's device endpoint says verification_url, as drafts of the RFC did.
    verification_uri = text("verification_uri", "verification_url")
    complete = text("verification_uri_complete", required=False)
    for name, value in (("verification_uri", verification_uri), ("verification_uri_complete", complete)):
        if value and not value.lower().startswith(("https://", "http://")):
            raise TokenResponseError(f"the device authorization's {name} is not an http(s) URL", **where)
    expires_in = _number(data.get("expires_in"))
    if expires_in is None or expires_in <= 0:
        raise TokenResponseError(
            "the device authorization answer has no positive expires_in",
            missing_field="expires_in",
            **where,
        )
    interval = _number(data.get("interval"))
    return DeviceAuthorization(
        device_code=SecretStr(device_code),
        user_code=user_code,
        verification_uri=verification_uri,
        verification_uri_complete=complete,
        expires_in=min(expires_in, MAX_LIFETIME),
        interval=DEFAULT_INTERVAL if interval is None else min(max(interval, MIN_INTERVAL), MAX_INTERVAL),
    )


@dataclass(frozen=True)
class DevicePoll:
    """Where the polling stands, on the engine's monotonic clock (seconds): the current
    ``interval``, the code's ``deadline``, when the next poll may go (``next_at``)."""

    interval: float
    deadline: float
    next_at: float
    polls: int = 0
    backoff: float = 0.0  # the last wait after a failure; 0 after an answer
    vendor: str = ""

    @classmethod
    def start(cls, authorization: DeviceAuthorization, *, now: float, vendor: str = "") -> DevicePoll:
        """Polling from ``now`` (when the device authorization answered): the first poll one
        interval later, the deadline ``expires_in`` later. ``vendor`` names it in errors."""
        return cls(
            interval=authorization.interval,
            deadline=now + authorization.expires_in,
            next_at=now + authorization.interval,
            vendor=vendor,
        )

    def delay(self, *, now: float) -> float:
        """Seconds to wait before the next poll; ``DeviceCodeExpiredError`` when the code lapses
        before that poll could go."""
        if self.next_at >= self.deadline or now >= self.deadline:
            raise DeviceCodeExpiredError(
                "the device code expired before the person approved it; start the device authorization again",
                vendor=self.vendor or None,
            )
        return max(0.0, self.next_at - now)

    def answer(
        self,
        dialect: TokenDialect,
        *,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        sent_at: datetime,
        now: float,
        token_url: str,
        secrets: Iterable[str] = (),
    ) -> AccessToken | DevicePoll:
        """One poll's answer: the token, or the state to poll on from, or a typed error
        (``access_denied``, ``expired_token``, and every error the token endpoint can give)."""
        secrets = tuple(secrets)
        code = (error_code(dialect, body) or "").lower()
        where: dict[str, Any] = {"vendor": dialect.name, "token_url": safe_url(token_url), "status": status}
        if code == "authorization_pending":
            return replace(self, next_at=now + self.interval, polls=self.polls + 1, backoff=0.0)
        if code == "slow_down":
            interval = min(self.interval + SLOW_DOWN_STEP, MAX_INTERVAL)
            return replace(self, interval=interval, next_at=now + interval, polls=self.polls + 1, backoff=0.0)
        if code == "access_denied":
            raise DeviceAuthorizationDeniedError(
                "the person denied the device authorization", vendor_code=code, secrets=secrets, **where
            )
        if code == "expired_token":
            raise DeviceCodeExpiredError(
                "the device code expired before the person approved it; start the device authorization again",
                vendor_code=code,
                secrets=secrets,
                **where,
            )
        if status >= 500 or status == 408:
            return self.failed(now=now)
        return parse_token_response(
            dialect,
            status=status,
            headers=headers,
            body=body,
            sent_at=sent_at,
            token_url=token_url,
            secrets=secrets,
        )

    def failed(self, *, now: float) -> DevicePoll:
        """No usable answer (a timeout, a 5xx): wait twice as long as last time (RFC 8628 3.5),
        capped, and keep the interval the server asked for."""
        backoff = min(max(self.backoff * 2, self.interval), MAX_BACKOFF)
        return replace(self, next_at=now + backoff, polls=self.polls + 1, backoff=backoff)


def qr_text(data: str, *, border: int = 2) -> str:
    """``data`` (the verification URI) as a QR code drawn with half-block characters, two rows
    of modules per line, for a terminal. segno draws it; light modules are the blocks, which
    phones read on a dark terminal (and on a light one, most of them)."""
    import segno

    out = io.StringIO()
    segno.make(data, error="l", micro=False).terminal(out=out, compact=True, border=border)
    return out.getvalue()


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
