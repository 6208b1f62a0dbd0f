"""Hostile HTTP servers on 127.0.0.1: raw sockets, so they can misbehave in ways a well-behaved
server library would not let them (trickle, hang, endless bodies, bad bytes)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

Behaviour = Callable[[socket.socket, bytes], None]


def _read_request(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        data = head + b"\r\n\r\n" + body
    return data


@contextlib.contextmanager
def hostile(behaviour: Behaviour, seconds: float = 60) -> Iterator[str]:
    """Serve ``behaviour(connection, request_bytes)`` on 127.0.0.1; yields the base URL. Stops
    (closing every connection) at the end or after ``seconds``."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    stop = threading.Event()
    deadline = time.monotonic() + seconds
    connections: list[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            behaviour(conn, _read_request(conn))

    def accept() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connections.append(conn)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.close()
        server.close()


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Behaviour:
    def send(conn: socket.socket, request: bytes) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        conn.sendall(head.encode("latin-1") + b"\r\n" + body)
        conn.close()

    return send


def trickle(part: str, every: float = 0.5, seconds: float = 30) -> Behaviour:
    """One byte every ``every`` seconds of the headers (``part="headers"``) or of the body."""

    def send(conn: socket.socket, request: bytes) -> None:
        body = b'{"access_token": "never", "expires_in": 60}' + b" " * 10_000
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        raw = head.encode() + body
        start = 0 if part == "headers" else len(head)
        if start:
            conn.sendall(raw[:start])
        end = time.monotonic() + seconds
        for i in range(start, len(raw)):
            if time.monotonic() > end:
                return
            conn.sendall(raw[i : i + 1])
            time.sleep(every)

    return send


def hang(seconds: float = 60) -> Behaviour:
    """Accept, read the request, never answer."""

    def send(conn: socket.socket, request: bytes) -> None:
        time.sleep(seconds)

    return send


def endless(seconds: float = 30) -> Behaviour:
    """A fast chunked body that never ends."""

    def send(conn: socket.socket, request: bytes) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"a" * 65536
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            conn.sendall(frame)

    return send


def echo(status: int = 400) -> Behaviour:
    """An error body that quotes the whole request back (headers and body), as some servers do."""

    def send(conn: socket.socket, request: bytes) -> None:
        import json

        text = request.decode("utf-8", "replace")
        body = json.dumps({"error": "invalid_request", "error_description": f"got: {text}"}).encode()
        answer(status, body, {"Content-Type": "application/json"})(conn, request)

    return send
