"""The loopback redirect listener of a native app's consent (RFC 8252 section 7.3).

A one-shot HTTP server on 127.0.0.1 receives the browser's redirect with the authorization code
(or the server's error). It answers the browser with a short page and nothing else; it never
logs the query (the code is a credential until it is exchanged).
"""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from ..core.errors import AuthorizationError


class LoopbackRedirect:
    """Listens on ``127.0.0.1:port`` (0: any free port) for one redirect to ``path``."""

    def __init__(self, port: int = 0, path: str = "/callback") -> None:
        self.path = "/" + path.lstrip("/")
        self._answer: dict[str, str] | None = None
        self._taken = threading.Lock()  # the first redirect wins; a second one is refused
        self._arrived = threading.Event()  # set once the browser has its answer page
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        except OSError as exc:
            raise AuthorizationError(
                f"cannot listen on 127.0.0.1:{port} for the redirect ({exc.strerror or exc}); "
                "choose another port with --port (and register that redirect URI with the vendor)"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="vendortokens-redirect", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def __enter__(self) -> LoopbackRedirect:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> dict[str, str]:
        """The redirect's query parameters (``code`` and ``state``, or ``error``)."""
        if not self._arrived.wait(timeout):
            raise AuthorizationError(f"no redirect reached {self.redirect_uri} within {timeout:g} s")
        assert self._answer is not None  # noqa: S101 - set before the event
        return self._answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != receiver.path:
                    self._reply(404, "Not the redirect path.")
                    return
                params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                if not receiver._taken.acquire(blocking=False):
                    self._reply(409, "This authorization was already answered; close this tab.")
                    return
                receiver._answer = params
                try:
                    if "error" in params:
                        self._reply(400, f"Authorization failed: {params['error']}. Close this tab.")
                    else:
                        self._reply(200, "Authorized. You can close this tab and go back to the terminal.")
                finally:
                    receiver._arrived.set()

            def _reply(self, status: int, text: str) -> None:
                body = (
                    f"<!doctype html><title>prefect-vendortokens</title><p>{html.escape(text)}</p>".encode()
                )
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Silent: the request line carries the authorization code."""

        return Handler
