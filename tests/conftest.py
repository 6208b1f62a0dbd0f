"""Shared fixtures: the real vendor emulation on 127.0.0.1, one Prefect test server for the
session, and canary checks over text, the Prefect database and result storage."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before Prefect is imported: a private home, result storage and no analytics, so tests never
# touch (or read) a developer's ~/.prefect, and CI starts from nothing.
_HOME = Path(tempfile.mkdtemp(prefix="pvt-prefect-"))
os.environ["PREFECT_HOME"] = str(_HOME)
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(_HOME / "storage")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_TO_API_BATCH_INTERVAL"] = "0.3"
# This host's token journal (user grants), never the developer's ~/.local/state.
os.environ["VENDORTOKENS_JOURNAL_DIR"] = str(_HOME / "journal")
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_API_KEY", None)

import base64  # noqa: E402
import binascii  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sqlite3  # noqa: E402
from collections.abc import Iterable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import pytest  # noqa: E402

from prefect_vendortokens import TokenClient  # noqa: E402
from prefect_vendortokens.testing import VendorSandbox, vendor_sandbox  # noqa: E402

SCOPES = {"slashid": ("openid", "offline_access"), "oauth2": ("openid", "offline_access")}


@dataclass
class PrefectServer:
    db_path: Path
    storage: Path

    def flush(self) -> None:
        """Push buffered logs and events to the server before a scan."""
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)

    def scan(self, secrets: Iterable[str]) -> list[str]:
        """Where any secret appears: every table and column of the database, the raw database
        files, and every file in result storage, each also decoded the way Prefect stores
        things (base64 of pickles or JSON inside JSON documents), in raw and JSON-escaped form."""
        self.flush()
        secrets = [s for s in secrets if s]
        assert secrets, "a canary scan needs canaries"
        forms = {s: [f.encode() for f in {s, json.dumps(s)[1:-1]}] for s in secrets}
        hits: list[str] = []

        def look(where: str, raw: bytes) -> None:
            views = decoded_views(raw)
            hits.extend(
                f"{where}: {s[:6]}…" for s, fs in forms.items() if any(f in v for f in fs for v in views)
            )

        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as db:
            tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
            assert "block_document" in tables and "log" in tables
            for table in tables:
                for row in db.execute(f'select * from "{table}"'):  # noqa: S608 - table names from sqlite
                    look(table, " ".join(str(v) for v in row).encode())
        for path in [*self.db_path.parent.glob(self.db_path.name + "*"), *self.storage.rglob("*")]:
            if path.is_file():
                look(path.name, path.read_bytes())
        return sorted(set(hits))

    def log_text(self) -> str:
        self.flush()
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as db:
            return "\n".join(r[0] for r in db.execute("select message from log"))


_BASE64 = re.compile(rb"[A-Za-z0-9+/_-]{20,}={0,2}")


def decoded_views(raw: bytes) -> list[bytes]:
    """``raw`` and every base64 run in it decoded (Prefect's result files are JSON around a
    base64 pickle), two levels deep; a pickle keeps its strings as UTF-8 bytes."""
    views, frontier = [raw], [raw]
    for _ in range(2):
        found = []
        for view in frontier:
            for match in _BASE64.finditer(view):
                token = match.group()
                try:
                    decoded = base64.b64decode(
                        token + b"=" * (-len(token) % 4),
                        altchars=b"-_" if b"-" in token or b"_" in token else None,
                    )
                except (binascii.Error, ValueError):
                    continue
                found.append(decoded)
        views += found
        frontier = found
    return views


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    """One Prefect test server for the whole session (it takes ~20 s to start here)."""
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
        db_path = Path(url.split("///", 1)[1])
        yield PrefectServer(db_path=db_path, storage=Path(os.environ["PREFECT_LOCAL_STORAGE_PATH"]))


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    """Each test starts with an empty process-wide token cache."""
    from prefect_vendortokens import clear_token_cache

    clear_token_cache()
    yield
    clear_token_cache()


@pytest.fixture
def sandbox() -> Iterator[VendorSandbox]:
    with vendor_sandbox() as sb:
        yield sb


def block_for(sb: VendorSandbox, vendor: str, **kwargs):
    """A VendorCredentials block for the sandbox's account of ``vendor``."""
    from prefect_vendortokens import VendorCredentials

    creds = sb.credentials(vendor)
    kwargs.setdefault("scopes", list(SCOPES.get(vendor, ())))
    kwargs.setdefault("client_secret", creds.client_secret)
    kwargs.setdefault("token_store", "memory")  # tests of the shared stores ask for them
    return VendorCredentials(
        vendor=vendor, token_url=sb.token_url(vendor), client_id=creds.client_id, **kwargs
    )


def api_call(vendor: str) -> tuple[str, str, dict | None]:
    """One downstream call per vendor: method, path below api_url, JSON body."""
    return {
        "sqod": ("GET", "/api/v1/appointments?page=1&per_page=5", None),
        "cobee": ("GET", "/companies/{company}/employees", None),
        "slashid": ("GET", "/oauth2/userinfo", None),
        "sqr": (
            "POST",
            "/v1/user-status",
            {"filters": {}, "result_keys": [], "pagination": {"limit": 10, "offset": 0}},
        ),
        "resales_online": (
            "POST",
            "/v1/developments/7/units/update-by-name",
            {"UntName": "A1", "UntStatus": "sold", "UntPrice": 1, "UntDirections": ""},
        ),
        "oauth2": ("GET", "/resource", None),
    }[vendor]


def client_for(sb: VendorSandbox, vendor: str, **kwargs) -> TokenClient:
    creds = sb.credentials(vendor)
    kwargs.setdefault("scopes", SCOPES.get(vendor, ()))
    return TokenClient(
        kwargs.pop("dialect", vendor), sb.token_url(vendor), creds.client_id, creds.client_secret, **kwargs
    )


def assert_no_secret(texts: Iterable[str], secrets: Iterable[str]) -> None:
    """No text contains any secret (client secrets, access and refresh tokens)."""
    secrets = [s for s in secrets if s]
    assert secrets, "a canary check needs canaries"
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into: {text[:200]!r}"
