"""Checks of the URLs a person configures (sans-IO): their form, and no user-info.

A URL with user-info (``https://user:password@host/token``) would send that password on every
request and put it in httpx's INFO log line of each request; the package's own errors strip it,
other loggers do not. So it is refused where the URL is configured, never sent.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .errors import DialectError


def has_user_info(url: str) -> bool:
    """``url`` carries a user name or password before its host (``user:pass@host``)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unparseable URL is someone else's error to report
        return False
    return parts.username is not None or parts.password is not None


def refuse_user_info(url: str, what: str, *, vendor: str | None = None, label: str = "") -> None:
    """A ``DialectError`` for a URL with user-info. The message names the field (``what``) and
    never the URL, which holds the password."""
    if has_user_info(url):
        prefix = f"{label}: " if label else ""
        raise DialectError(
            f"{prefix}the {what} has a user name or password in it (user:password@host); put the "
            "credentials in the client id and client secret instead, and remove them from the URL",
            vendor=vendor,
        )


def check_url(*, url: str, what: str, label: str, allow_http: bool = False) -> None:
    """A ``ValueError`` naming ``what`` for a URL a person configured that is not an http(s)
    URL, has user-info or an invalid port, or uses plain http off loopback (unless allowed)."""
    refuse_user_info(url, what, label=label)  # before anything that could echo the URL
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{label}: {what} has an invalid port") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{label}: {what} must be an http(s) URL, got {parts.scheme or 'no'} scheme")
    if parts.scheme == "http" and not (allow_http or is_loopback(parts.hostname)):
        raise ValueError(
            f"{label}: {what} uses plain http on {parts.hostname}; use https, a loopback host, "
            "or set allow_insecure_http"
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
