"""The consent of the authorization-code grant, run once by a person (``authorize``).

PKCE S256 always (RFC 7636; RFC 9700 wants it for confidential clients too), a fresh ``state``
checked in constant time, the redirect received on loopback, the code exchanged at once. The
result is an ``AccessToken`` with the grant's refresh token, installed in the shared store by
the manager (``authorize``, what the block's ``authorize()`` and the CLI run).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping

from ..core.errors import AuthorizationError, DialectError, secret_forms
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
