"""The CLI's two output forms: Rich tables like Prefect's own (or one record per row when a table
would not fit the terminal), or ``--json`` for scripts; errors on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

# Columns of free text (errors, what is missing): they wrap. Every other column holds a name, a
# fingerprint, a time or a URL, which a person copies or compares: those are never cut.
PROSE_COLUMNS = frozenset({"error", "last_error", "needs"})
PROSE_MIN_WIDTH = 24


def show(
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    *,
    as_json: bool,
    title: str = "",
    target: Console | None = None,
) -> None:
    """A listing as a Rich table, or as a JSON list of objects with ``--json``. When the table
    does not fit the terminal with its names whole, each row is printed as a record instead."""
    if as_json:
        print(json.dumps(rows, default=str))
        return
    out = target or console
    table = _table(rows, columns, title)
    wide = out.options.update(max_width=1 << 16)
    if not rows or Measurement.get(out, wide, table).minimum <= out.width:
        out.print(table)
    else:
        out.print(_records(rows, columns, title))


def show_record(
    row: dict[str, Any], *, as_json: bool, title: str = "", target: Console | None = None
) -> None:
    """One record as a two-column table (field, value), or a JSON object with ``--json``."""
    if as_json:
        print(json.dumps(row, default=str))
        return
    table = Table(title=title or None, show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in row.items():
        table.add_row(_label(key), _cell(value))
    (target or console).print(table)


def show_commands(lines: Iterable[tuple[str, str]], target: Console | None = None) -> None:
    """What to run next: each command on a line of its own, never wrapped (a terminal may fold
    a long one, but no line break is put into it, so it pastes whole)."""
    out = target or console
    for what, command in lines:
        out.print(f"{what}:", soft_wrap=True)
        out.print(f"  {command}", soft_wrap=True, markup=False)


def fail(message: str, code: int, *, as_json: bool) -> int:
    """An error for a person (stderr) or a script (a JSON object on stdout); the exit code."""
    if as_json:
        print(json.dumps({"error": message, "exit_code": code}))
    else:
        errors.print("[red]error:[/red] ", end="", markup=True)
        errors.print(message, markup=False, soft_wrap=True)
    return code


def expires_in(at: datetime) -> str:
    """How long until ``at`` (``1:02:03``), or how long ago it passed."""
    seconds = int((at - datetime.now(UTC)).total_seconds())
    return str(timedelta(seconds=seconds)) if seconds >= 0 else f"expired {timedelta(seconds=-seconds)} ago"


def _table(rows: list[dict[str, Any]], columns: Sequence[str], title: str) -> Table:
    table = Table(title=title or None)
    for column in columns:
        if column in PROSE_COLUMNS:
            longest = max((len(_text(row.get(column))) for row in rows), default=0)
            table.add_column(_label(column), overflow="fold", min_width=min(longest, PROSE_MIN_WIDTH))
        else:
            table.add_column(_label(column), no_wrap=True)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    return table


def _records(rows: list[dict[str, Any]], columns: Sequence[str], title: str) -> Group:
    """Each row as its first column's value on a line, then its other fields indented below."""
    first, *rest = columns
    parts: list[RenderableType] = [Text(title, style="italic")] if title else []
    for number, row in enumerate(rows):
        if number:
            parts.append(Text(""))
        fields = Table.grid(padding=(0, 2))
        fields.add_column(no_wrap=True)
        fields.add_column(overflow="fold")
        for column in rest:
            fields.add_row(f"  {_label(column)}", _cell(row.get(column)))
        parts += [Text(_text(row.get(first)), style="bold"), fields]
    return Group(*parts)


def _label(column: str) -> str:
    return column.replace("_", " ")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _cell(value: Any) -> Text:
    """A cell as plain text: a vendor's message in brackets is not Rich markup."""
    return Text(_text(value))
