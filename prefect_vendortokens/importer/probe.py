"""``--probe``: one real token request with the imported dialect (the I/O around ``review``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import httpx
from pydantic import JsonValue, SecretStr

from ..core.errors import DialectError, TokenResponseError, TokenTransportError, secret_forms
from ..core.request import ClientCredentials, ClientCredentialsGrant, build_token_request
from ..core.response import safe_url
from ..io.deadline import run_bounded
from ..io.http import MAX_RESPONSE_BYTES, _TooLarge, bounded_exchange
from .result import ImportResult
from .review import ProbeReport, review

__all__ = ["ProbeReport", "probe", "review"]


def probe(
    result: ImportResult,
    client_id: str,
    client_secret: SecretStr,
    *,
    extra: Mapping[str, JsonValue] | None = None,
    scopes: Iterable[str] = (),
    timeout: float = 30.0,
    verify: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ProbeReport:
    """One client-credentials token request to ``result.token_url`` with ``result.dialect``."""
    dialect, url = result.dialect, result.token_url
    if not url.startswith(("http://", "https://")):
        raise DialectError("the token URL is not an http(s) URL; pass --server", vendor=dialect.name)
    creds = ClientCredentials(url, client_id, client_secret, tuple(scopes), dict(extra or {}))
    request = build_token_request(dialect, creds, ClientCredentialsGrant())
    body_text = request.content.decode("utf-8", "replace") if request.content else ""
    secrets = (*secret_forms(request.secrets), request.headers.get("Authorization", ""), body_text)
    sent_at = datetime.now(UTC)
    try:
        status, headers, body = run_bounded(
            bounded_exchange(
                request.method,
                request.url,
                headers=request.headers,
                content=request.content,
                timeout=timeout,
                verify=verify,
                transport=transport,
            ),
            timeout,
        )
    except _TooLarge:
        too_large = TokenResponseError(
            f"token endpoint answered more than {MAX_RESPONSE_BYTES} bytes; stopped reading",
            vendor=dialect.name,
            token_url=safe_url(url),
        )
        return ProbeReport(
            dialect=dialect, error=too_large, doubts=["the answer is far too large for a token"]
        )
    except (httpx.HTTPError, TimeoutError) as exc:
        no_answer = TokenTransportError(
            f"token request failed before an answer: {type(exc).__name__}",
            vendor=dialect.name,
            token_url=safe_url(url),
            vendor_message=str(exc) or None,
            secrets=secrets,
        )
        return ProbeReport(
            dialect=dialect, error=no_answer, doubts=["no answer: check the token URL (--server)"]
        )
    return review(
        dialect,
        status=status,
        headers=headers,
        body=body,
        sent_at=sent_at,
        token_url=url,
        secrets=secrets,
        guessed=result.guessed,
    )
