"""Authorization server discovery: an issuer's metadata (OpenID Connect Discovery 1.0, RFC 8414).

Given only an issuer, the token and authorization endpoints come from its metadata document,
read once per process and kept for ``CACHE_SECONDS`` (a failure is not kept: the next caller
asks again). The document must name the same issuer (RFC 8414 section 3.3), so a mistyped or
hijacked issuer cannot point us at another server's endpoints.
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..core.caches import ProcessCache
from ..core.errors import DiscoveryError
from ..core.response import safe_url
from ..io.deadline import run_bounded
from ..io.http import MAX_RESPONSE_BYTES, ResponseTooLarge, bounded_exchange

CACHE_SECONDS = 3600.0
_cache: ProcessCache[tuple[str, str], tuple[ServerMetadata, float]] = ProcessCache("issuer metadata")


@dataclass(frozen=True)
class ServerMetadata:
    """What we use of an authorization server's metadata."""

    issuer: str
    token_endpoint: str
    authorization_endpoint: str = ""
    device_authorization_endpoint: str = ""  # RFC 8628 4
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] = ()
    # RFC 8705 5: the endpoints that ask for client certificates (token_endpoint, ...), by name.
    mtls_endpoint_aliases: dict[str, str] = field(default_factory=dict)


def metadata_urls(issuer: str) -> tuple[str, ...]:
    """Where to look, in order: OpenID Connect's ``{issuer}/.well-known/openid-configuration``,
    then RFC 8414's ``/.well-known/oauth-authorization-server{path}``."""
    parts = urlsplit(issuer.rstrip("/"))
    oidc = issuer.rstrip("/") + "/.well-known/openid-configuration"
    rfc8414 = urlunsplit(parts._replace(path="/.well-known/oauth-authorization-server" + parts.path))
    return (oidc, rfc8414)


async def adiscover(
    issuer: str,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - one deadline per read, as for token requests
    verify: bool | ssl.SSLContext = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ServerMetadata:
    """The issuer's metadata, from the process cache or the server."""
    key = (issuer.rstrip("/"), repr(verify))
    hit = _cache.get(key)
    if hit is not None and time.monotonic() < hit[1]:
        return hit[0]
    metadata = await _fetch(issuer, timeout, verify, transport)
    _cache.put(key, (metadata, time.monotonic() + CACHE_SECONDS))
    return metadata


def discover(
    issuer: str,
    *,
    timeout: float = 30.0,
    verify: bool | ssl.SSLContext = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ServerMetadata:
    """``adiscover`` for sync callers (bounded by ``timeout``)."""
    return run_bounded(adiscover(issuer, timeout=timeout, verify=verify, transport=transport), timeout)


def clear_discovery_cache() -> None:
    _cache.clear()


async def _fetch(
    issuer: str,
    timeout: float,  # noqa: ASYNC109
    verify: bool | ssl.SSLContext,
    transport: httpx.AsyncBaseTransport | None,
) -> ServerMetadata:
    shown = safe_url(issuer)
    if urlsplit(issuer).scheme not in ("http", "https"):
        raise DiscoveryError(f"issuer {shown} is not an http(s) URL")
    tried: list[str] = []
    for url in metadata_urls(issuer):
        try:
            status, _headers, body = await bounded_exchange(
                "GET",
                url,
                headers={"Accept": "application/json"},
                timeout=timeout,
                verify=verify,
                transport=transport,
            )
        except TimeoutError:
            raise DiscoveryError(
                f"issuer {shown}: no metadata within {timeout:g} s ({safe_url(url)})"
            ) from None
        except ResponseTooLarge:
            raise DiscoveryError(
                f"issuer {shown}: metadata larger than {MAX_RESPONSE_BYTES} bytes ({safe_url(url)})"
            ) from None
        except httpx.HTTPError as exc:
            raise DiscoveryError(
                f"issuer {shown} is unreachable ({type(exc).__name__} at {safe_url(url)})"
            ) from None
        if status == 200:
            return _parse(issuer, url, body)
        tried.append(f"{safe_url(url)}: HTTP {status}")
    raise DiscoveryError(f"issuer {shown} publishes no metadata ({'; '.join(tried)})")


def _parse(issuer: str, url: str, body: bytes) -> ServerMetadata:
    shown = safe_url(issuer)
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise DiscoveryError(f"issuer {shown}: the metadata at {safe_url(url)} is not a JSON object")
    if str(doc.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise DiscoveryError(
            f"issuer {shown}: the metadata names another issuer ({str(doc.get('issuer'))[:200]!r}); "
            "refused (RFC 8414 3.3)"
        )
    token_endpoint = doc.get("token_endpoint")
    if not isinstance(token_endpoint, str) or urlsplit(token_endpoint).scheme not in ("http", "https"):
        raise DiscoveryError(f"issuer {shown}: the metadata has no http(s) token_endpoint")
    authorization_endpoint = doc.get("authorization_endpoint")

    def names(key: str) -> tuple[str, ...]:
        value = doc.get(key)
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    aliases = doc.get("mtls_endpoint_aliases")
    mtls = {
        str(name): url
        for name, url in (aliases.items() if isinstance(aliases, dict) else ())
        if isinstance(url, str) and urlsplit(url).scheme == "https"
    }
    return ServerMetadata(
        issuer=str(doc["issuer"]),
        token_endpoint=token_endpoint,
        authorization_endpoint=authorization_endpoint if isinstance(authorization_endpoint, str) else "",
        device_authorization_endpoint=_http_url(doc.get("device_authorization_endpoint")),
        token_endpoint_auth_methods_supported=names("token_endpoint_auth_methods_supported"),
        code_challenge_methods_supported=names("code_challenge_methods_supported"),
        mtls_endpoint_aliases=mtls,
    )


def _http_url(value: object) -> str:
    """An endpoint of the metadata, if it is an http(s) URL ("" otherwise: not offered)."""
    return value if isinstance(value, str) and urlsplit(value).scheme in ("http", "https") else ""
