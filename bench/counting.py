"""API calls counted where they arrive, since a flow process's own HTTP clients cannot be hooked
from outside: the Prefect server's access log (uvicorn, one line per request with its status)
and OpenBao's audit log (a JSON line per request and per response). A ``Tail`` remembers where a
log ended, so each measure counts only the lines written during it."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ACCESS = re.compile(rb'"(?P<method>[A-Z]+) (?P<path>[^ "?]+)[^ "]* HTTP/[0-9.]+" (?P<status>\d{3})')
WEBSOCKET = re.compile(rb'"WebSocket (?P<path>[^ "?]+)')
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Names that differ per account (blocks, stored tokens, locks, Vault paths) become one route.
NAMES = re.compile(r"/(?:scale|vendortoken|vendortokens-refresh|bench)-[^/]+|/[0-9a-f]{40}(?=/|$)")
CHECKSUM = re.compile(r"/checksum/[^/]+")


def route(path: str) -> str:
    return CHECKSUM.sub("/{checksum}", NAMES.sub("/{name}", UUID.sub("{id}", path)))


@dataclass
class Calls:
    """Requests seen in a window of a log: per route, and how many were answered 5xx."""

    total: int = 0
    server_errors: int = 0  # HTTP 5xx (Prefect)
    refused: int = 0  # answered with an error: 4xx/5xx (Prefect), an error entry (Vault)
    websockets: int = 0
    routes: Counter[str] = field(default_factory=Counter)

    def top(self, n: int = 12) -> dict[str, int]:
        return dict(self.routes.most_common(n))


class Tail:
    """The lines appended to ``path`` since the last ``take``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def take(self, settle: float = 0.3, bound: float = 10.0) -> bytes:
        """New complete lines; waits (bounded) until the file stops growing, since a server may
        log a request a moment after its client saw the answer."""
        deadline = time.monotonic() + bound
        size = self.path.stat().st_size
        while time.monotonic() < deadline:
            time.sleep(settle)
            grown = self.path.stat().st_size
            if grown == size:
                break
            size = grown
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a half-written last line waits for the next window
        self.offset += end
        return data[:end]


def prefect_calls(lines: bytes) -> Calls:
    """Requests in uvicorn access-log lines (``PREFECT_SERVER_LOGGING_LEVEL=INFO``)."""
    calls = Calls()
    for line in lines.splitlines():
        if match := ACCESS.search(line):
            calls.total += 1
            calls.server_errors += match["status"].startswith(b"5")
            calls.refused += match["status"][:1] in (b"4", b"5")
            calls.routes[f"{match['method'].decode()} {route(match['path'].decode())}"] += 1
        elif match := WEBSOCKET.search(line):
            calls.websockets += 1
    return calls


def vault_calls(lines: bytes) -> Calls:
    """Requests in an OpenBao file audit log: each request's response entry, by operation and
    path (the account's key made ``{name}``)."""
    calls = Calls()
    for line in lines.splitlines():
        entry = json.loads(line)
        if entry.get("type") != "response":
            continue
        request = entry.get("request") or {}
        calls.total += 1
        calls.refused += bool(entry.get("error"))
        calls.routes[f"{request.get('operation')} {route('/' + request.get('path', ''))}"] += 1
    return calls
