"""The bounded HTTP exchange: one request under one deadline, its body capped."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

import httpx

MAX_RESPONSE_BYTES = 1 << 20  # a token answer is a few KB; stop reading an endless body at 1 MiB


class ResponseTooLarge(Exception):
    """The answer's body passed ``MAX_RESPONSE_BYTES``; reading stopped there."""


class Progress:
    """How far an exchange got, from httpcore's trace: a request that failed while connecting
    surely never reached the server; once its headers go out, the server may act on it."""

    def __init__(self) -> None:
        self.phase = "start"

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        if event.startswith("connection.connect_tcp") or event.startswith("connection.start_tls"):
            self.phase = "connecting"
        elif event.endswith("send_request_headers.started"):
            self.phase = "sent"

    def may_have_arrived(self, exc: Exception | None = None) -> bool:
        connecting = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) or self.phase == "connecting"
        return not connecting


async def bounded_exchange(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    content: bytes | None = None,
    timeout: float,  # noqa: ASYNC109 - the one deadline is what this function is for
    verify: ssl.SSLContext | bool,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: Progress | None = None,
) -> tuple[int, httpx.Headers, bytes]:
    """One HTTP exchange under one deadline (connect, headers, body), its body capped at
    ``MAX_RESPONSE_BYTES``. An AsyncClient belongs to one event loop, and Prefect runs coroutines
    on several; token requests are rare (once per lifetime), so each has its own client."""
    async with asyncio.timeout(timeout):
        async with (
            httpx.AsyncClient(timeout=timeout, verify=verify, transport=transport) as http,
            http.stream(
                method,
                url,
                headers=dict(headers),
                content=content,
                extensions={"trace": progress.trace} if progress is not None else None,
            ) as response,
        ):
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise ResponseTooLarge
            return response.status_code, response.headers, bytes(body)
