"""The crash matrix's bookkeeping: each case appends its row to ``build/crash.jsonl`` so
``make crash`` (``tests/crash/report.py``) prints the matrix as a table."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPORT = Path(
    os.environ.get("VENDORTOKENS_CRASH_REPORT", Path(__file__).resolve().parents[2] / "build" / "crash.jsonl")
)


def record(row: dict) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with REPORT.open("a") as out:
        out.write(json.dumps(row) + "\n")
