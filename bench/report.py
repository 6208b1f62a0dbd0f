"""What every benchmark prints: the machine it ran on and plain-text tables (pasted as is into
docs/benchmarks.md)."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("prefect-vendortokens", "prefect", "httpx", "authlib", "httpx-auth")


def machine(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """CPUs, CPU model, Python and the versions of ``packages`` that are installed."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return {"cpus": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(), **found}


def describe(m: dict[str, str]) -> str:
    return f"machine: {m['cpus']} x {m['cpu']}, Python {m['python']}; " + ", ".join(
        f"{k} {v}" for k, v in m.items() if k not in ("cpus", "cpu", "python")
    )


def table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]], right: int = 0) -> None:
    """Columns from ``right`` on are right-aligned (figures)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def cell(i: int, text: str) -> str:
        return text.rjust(widths[i]) if right and i >= right else text.ljust(widths[i])

    print(f"\n{title}")
    for n, row in enumerate([header, *rows]):
        print("  " + "  ".join(cell(i, c) for i, c in enumerate(row)).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
