"""``make faults``: run the fault matrix and print it as a table (fault, error, seconds, leaks)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "build" / "faults.jsonl"


def main() -> int:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.unlink(missing_ok=True)
    os.environ["VENDORTOKENS_FAULTS_REPORT"] = str(REPORT)
    code = pytest.main([str(ROOT / "tests/faults"), "-q", "-p", "no:cacheprovider"])
    rows = [json.loads(line) for line in REPORT.read_text().splitlines()] if REPORT.exists() else []
    header = ("fault", "error", "seconds", "leaks")
    table = [
        header,
        *[(r["fault"], r["error"], f"{r['seconds']:.2f}", ", ".join(r["leaks"]) or "none") for r in rows],
    ]
    widths = [max(len(t[i]) for t in table) for i in range(len(header))]
    print()
    for i, line in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
