"""``make crash``: run the crash matrix and print it as a table (the one in docs/crash-safety.md)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "build" / "crash.jsonl"


def table(rows: list[dict]) -> list[str]:
    header = (
        "store",
        "killed at",
        "vendor grace",
        "next process got",
        "its call (s)",
        "since the kill (s)",
        "grant kept",
        "reuse",
    )
    cells = [
        header,
        *[
            (
                r["store"],
                r["point"],
                r["grace"],
                r["next"],
                f"{r['seconds']:.1f}",
                f"{r['since_kill']:.1f}",
                "yes" if r["kept"] else "no",
                str(r["reused"]),
            )
            for r in rows
        ],
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = []
    for i, line in enumerate(cells):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def main() -> int:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.unlink(missing_ok=True)
    os.environ["VENDORTOKENS_CRASH_REPORT"] = str(REPORT)
    code = pytest.main([str(ROOT / "tests/crash/test_matrix.py"), "-q", "-p", "no:cacheprovider"])
    rows = [json.loads(line) for line in REPORT.read_text().splitlines()] if REPORT.exists() else []
    print()
    print("\n".join(table(rows)))
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
