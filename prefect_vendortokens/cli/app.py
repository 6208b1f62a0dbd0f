"""The CLI application, its exit codes and its two output forms (a Rich table like Prefect's
own, or ``--json`` for scripts)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from cyclopts import App
from rich.console import Console
from rich.table import Table

EXIT_OK = 0
EXIT_TOKEN = 1  # a token could not be had (vendor, Vault, store), or a rotation failed
EXIT_BLOCK = 2  # a block is missing or invalid, a variable is missing, or the command line is wrong
EXIT_PREFECT = 3  # no Prefect API answered

app = App(
    name="prefect-vendortokens",
    help=(
        "Vendor API tokens for Prefect flows. Exit codes: 0 ok; 1 a token could not be had or a "
        "rotation failed; 2 a block is missing or invalid, or a variable is missing; 3 no Prefect API."
    ),
)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    try:
        result = app(list(argv) if argv is not None else sys.argv[1:], result_action="return_value")
    except SystemExit as exc:  # cyclopts' own exit (usage errors, --help)
        code = exc.code if isinstance(exc.code, int) else EXIT_OK
        return EXIT_BLOCK if code not in (EXIT_OK, None) else EXIT_OK
    return result if isinstance(result, int) else EXIT_OK


def entry() -> None:
    sys.exit(main())


def show(rows: list[dict[str, Any]], columns: Sequence[str], *, as_json: bool, title: str = "") -> None:
    """A listing as a Rich table, or as a JSON list of objects with ``--json``."""
    if as_json:
        print(json.dumps(rows, default=str))
        return
    table = Table(title=title or None, show_lines=False)
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*(_text(row.get(column)) for column in columns))
    console.print(table)


def show_record(row: dict[str, Any], *, as_json: bool, title: str = "") -> None:
    """One record as a two-column table (field, value), or a JSON object with ``--json``."""
    if as_json:
        print(json.dumps(row, default=str))
        return
    table = Table(title=title or None, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in row.items():
        table.add_row(key.replace("_", " "), _text(value))
    console.print(table)


def fail(message: str, code: int, *, as_json: bool) -> int:
    """An error for a person (stderr) or a script (a JSON object on stdout); the exit code."""
    if as_json:
        print(json.dumps({"error": message, "exit_code": code}))
    else:
        errors.print(f"[red]error:[/red] {message}", markup=True, soft_wrap=True)
    return code


def _text(value: Any) -> str:
    return "" if value is None else str(value)
