"""A person's consent, run once (``authorize``): the authorization-code grant, or the device
authorization grant for a machine with no browser.

Code grant: PKCE S256 always (RFC 7636; RFC 9700 wants it for confidential clients too), a
fresh ``state`` checked in constant time, the redirect received on loopback, the code exchanged
at once. Device grant (RFC 8628): the user code and verification URI shown, the token endpoint
polled as ``core.device``'s state machine says (interval, slow_down, expiry, denial). Either
way the result is an ``AccessToken`` with the grant's refresh token, installed in the shared
store by the manager (what the block's ``authorize()`` and the CLI run).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from ..core.device import DeviceAuthorization, DevicePoll, qr_text
from ..core.errors import AuthorizationError, DeviceCodeExpiredError, DialectError, secret_forms
from ..core.pkce import Pkce
from ..core.token import AccessToken
from ..transport.client import TokenClient
from ..transport.loopback import LoopbackRedirect
from .manager import TokenManager

logger = logging.getLogger("prefect_vendortokens")

CONSENT_TIMEOUT = 300.0


def run_consent(
    client: TokenClient,
    *,
    show_url: Callable[[str], None],
    port: int = 0,
    path: str = "/callback",
    scopes: Iterable[str] | None = None,
    extra_params: Mapping[str, str] | None = None,
    timeout: float = CONSENT_TIMEOUT,
) -> AccessToken:
    """Send the person to the vendor (``show_url`` prints or opens the URL), wait for the
    redirect, check it, exchange the code."""
    pkce, state = Pkce.generate(), secrets.token_urlsafe(32)
    with LoopbackRedirect(port, path) as redirect:
        url = client.authorization_url(
            redirect.redirect_uri, state=state, pkce=pkce, scopes=scopes, extra_params=extra_params
        )
        show_url(url)
        answer = redirect.wait(timeout)
        redirect_uri = redirect.redirect_uri
    vendor = client.dialect.name
    if not hmac.compare_digest(answer.get("state", ""), state):
        raise AuthorizationError(
            "the redirect's state does not match this authorization (a stale or forged redirect); "
            "nothing was exchanged",
            vendor=vendor,
        )
    if "error" in answer or not answer.get("code"):
        code = answer.get("error") or "no code"
        raise AuthorizationError(
            "the authorization server did not grant access",
            vendor=vendor,
            vendor_code=code,
            vendor_message=answer.get("error_description"),
            secrets=secret_forms([state]),
        )
    return client.exchange_code(answer["code"], redirect_uri, pkce.verifier)


def authorize(
    manager: TokenManager,
    *,
    show_url: Callable[[str], None],
    port: int = 0,
    path: str = "/callback",
    extra_params: Mapping[str, str] | None = None,
    timeout: float = CONSENT_TIMEOUT,
) -> AccessToken:
    """The whole consent of a user-authorized account: its client with freshly read
    credentials, the consent, and the token with its refresh token installed in the shared
    store under the refresh lock (``TokenManager.install``)."""
    if not manager.account.user_grant:
        raise DialectError(
            f"{manager.label}: its grant is the app's own; authorize is for grant authorization_code "
            "(a user's consent)",
        )
    client = manager.source.client(True)
    if not client.authorization_url_base:
        raise DialectError(
            f"{manager.label}: no authorization endpoint (set authorization.authorization_url, or an "
            "issuer whose metadata has one)",
            vendor=client.dialect.name,
        )
    token = run_consent(
        client, show_url=show_url, port=port, path=path, extra_params=extra_params, timeout=timeout
    )
    if token.refresh_token is None:
        logger.warning(
            "%s: the vendor issued no refresh token; the grant ends when this token expires (ask for "
            "offline access, e.g. scope offline_access with prompt=consent)",
            manager.label,
        )
    return manager.install(token)


def print_device_authorization(authorization: DeviceAuthorization) -> None:
    """The default ``show`` of the device flow: what the person needs, on stdout."""
    print(device_instructions(authorization), flush=True)


def device_instructions(authorization: DeviceAuthorization, *, qr: bool = True) -> str:
    """The device flow's instructions for the person: the URI, the user code, the complete URI
    and its QR code (no secret: the device code stays with the client)."""
    lines = [
        f"On a phone or another computer, open {authorization.verification_uri}",
        f"and enter the code {authorization.user_code}",
    ]
    if authorization.verification_uri_complete:
        lines.append(f"or open {authorization.verification_uri_complete}")
    if qr:
        lines.append(qr_text(authorization.link).rstrip("\n"))
    lines.append(f"(the code expires in {authorization.expires_in:.0f} s)")
    return "\n".join(lines)


def run_device_consent(
    client: TokenClient,
    *,
    show: Callable[[DeviceAuthorization], None],
    scopes: Iterable[str] | None = None,
    timeout: float = CONSENT_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> AccessToken:
    """The device flow (RFC 8628): start it, ``show`` the person what to open and type, then
    poll at the server's interval until they approve, deny, or the code (or ``timeout``)
    runs out, each a typed error. Bounded: every poll is an answer or a lost one, and the
    deadline is the earlier of the code's ``expires_in`` and ``timeout``."""
    authorization = client.device_authorization(scopes)
    start = clock()
    poll = DevicePoll.start(authorization, now=start, vendor=client.dialect.name)
    poll = replace(poll, deadline=min(poll.deadline, start + timeout))
    show(authorization)
    for _ in range(int(timeout / 0.5) + 2):  # bounded: each round waits >= MIN_INTERVAL (1 s)
        sleep(poll.delay(now=clock()))  # DeviceCodeExpiredError once no poll can be in time
        outcome = client.poll_device(authorization, poll, clock=clock)
        if isinstance(outcome, AccessToken):
            return outcome
        poll = outcome
    raise DeviceCodeExpiredError(  # pragma: no cover - delay() stops first
        "the device code expired before the person approved it", vendor=client.dialect.name
    )


def authorize_device(
    manager: TokenManager,
    *,
    show: Callable[[DeviceAuthorization], None],
    timeout: float = CONSENT_TIMEOUT,
) -> AccessToken:
    """The device flow's consent for a user-authorized account (grant device_code, or an
    authorization_code account whose server offers device authorization), installed in the
    shared store under the refresh lock, as ``authorize`` does."""
    if not manager.account.user_grant:
        raise DialectError(
            f"{manager.label}: its grant is the app's own; authorize is for grants authorization_code "
            "and device_code (a user's consent)",
        )
    client = manager.source.client(True)
    if not client.device_authorization_url:
        raise DialectError(
            f"{manager.label}: no device authorization endpoint (set "
            "authorization.device_authorization_url, or an issuer whose metadata has one)",
            vendor=client.dialect.name,
        )
    token = run_device_consent(client, show=show, timeout=timeout)
    if token.refresh_token is None:
        logger.warning(
            "%s: the vendor issued no refresh token; the grant ends when this token expires (ask for "
            "offline access, e.g. scope offline_access)",
            manager.label,
        )
    return manager.install(token)
