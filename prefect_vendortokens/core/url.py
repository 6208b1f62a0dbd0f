"""Checks of the URLs a person configures (sans-IO).

A URL with user-info (``https://user:password@host/token``) would send that password on every
request and put it in httpx's INFO log line of each request; the package's own errors strip it,
other loggers do not. So it is refused where the URL is configured, never sent.
"""

from __future__ import annotations

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
