"""The fault matrix's bookkeeping: every row records the fault, the error it gave, how long it took
and whether a secret leaked, so ``make faults`` can print the matrix as a table."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

REPORT = Path(
    os.environ.get(
        "VENDORTOKENS_FAULTS_REPORT", Path(__file__).resolve().parents[2] / "build" / "faults.jsonl"
    )
)


class Row:
    """One row: ``with row.timed():`` around the fault, then ``row.done(error, texts, secrets)``."""

    def __init__(self, fault: str) -> None:
        self.fault, self.seconds = fault, 0.0

    def timed(self) -> _Timer:
        return _Timer(self)

    def done(
        self, error: BaseException | str | None, texts: Iterable[str], secrets: Iterable[str]
    ) -> list[str]:
        secrets = [s for s in secrets if s]
        assert secrets, "a leak check needs canaries"
        leaks = sorted({s[:6] + "…" for s in secrets for t in texts if s in t})
        name = error if isinstance(error, str) else type(error).__name__ if error is not None else "none"
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        with REPORT.open("a") as out:
            out.write(
                json.dumps(
                    {"fault": self.fault, "error": name, "seconds": round(self.seconds, 2), "leaks": leaks}
                )
                + "\n"
            )
        return leaks


class _Timer:
    def __init__(self, row: Row) -> None:
        self.row = row

    def __enter__(self) -> Row:
        self.started = time.monotonic()
        return self.row

    def __exit__(self, *exc: object) -> None:
        self.row.seconds = time.monotonic() - self.started


@pytest.fixture
def row(request) -> Iterator[Row]:
    doc = (request.node.function.__doc__ or request.node.name).strip().splitlines()[0].rstrip(".")
    param = f" [{request.node.callspec.id}]" if hasattr(request.node, "callspec") else ""
    yield Row(doc + param)
