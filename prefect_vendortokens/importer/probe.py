"""``--probe``: one real token request with the imported dialect (the I/O around ``review``),
sent and its failures typed exactly as ``TokenClient`` sends its own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import httpx
from pydantic import JsonValue, SecretStr

from ..core.errors import DialectError, TokenResponseError, TokenTransportError
from ..core.request import ClientCredentials, ClientCredentialsGrant, build_token_request
from ..io.deadline import run_bounded
from ..transport.client import exchange
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
    sending = exchange(
        request, vendor=dialect.name, token_url=url, timeout=timeout, verify=verify, transport=transport
    )
    try:
        status, headers, body, sent_at = run_bounded(sending, timeout)
    except TokenResponseError as too_large:
        return ProbeReport(
            dialect=dialect, error=too_large, doubts=["the answer is far too large for a token"]
        )
    except TokenTransportError as no_answer:
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
        secrets=request.scrubbed(),
        guessed=result.guessed,
    )
