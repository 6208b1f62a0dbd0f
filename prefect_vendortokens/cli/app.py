"""The CLI application, its exit codes and its session options (``--profile``, ``--ephemeral``,
before or after the command, as Prefect's own CLI takes ``--profile``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

from cyclopts import App, Group, Parameter

from .exits import EXIT_BLOCK, EXIT_OK, EXIT_PREFECT, EXIT_TOKEN
from .output import console, errors, fail, show, show_commands, show_record
from .prefect_api import Stop, session

__all__ = [
    "EXIT_BLOCK",
    "EXIT_OK",
    "EXIT_PREFECT",
    "EXIT_TOKEN",
    "JsonFlag",
    "app",
    "console",
    "entry",
    "errors",
    "fail",
    "main",
    "show",
    "show_commands",
    "show_record",
]


JsonFlag = Annotated[
    bool,
    Parameter(
        name="--json", negative=(), show_default=False, help="Print JSON instead of a table (errors too)."
    ),
]

app = App(
    name="prefect-vendortokens",
    help=(
        "Vendor API tokens for Prefect flows. Every command but sandbox uses the Prefect API "
        "of PREFECT_API_URL (environment, active profile, .env or prefect.toml). Exit codes: 0 ok; "
        "1 a token could not be had or a rotation failed; 2 a block is missing or invalid, a "
        "variable is missing, or the command line is wrong; 3 no Prefect API is configured or "
        "none answered."
    ),
)
app.meta.group_parameters = Group("Prefect API (every command but sandbox)", sort_key=0)


@app.meta.default
def _launch(
    *tokens: Annotated[str, Parameter(show=False, allow_leading_hyphen=True)],
    profile: Annotated[
        str | None,
        Parameter(
            name="--profile",
            help="Use this Prefect profile for this run (as `prefect --profile NAME`); its settings "
            "win over the environment's. `prefect profile ls` lists them.",
        ),
    ] = None,
    ephemeral: Annotated[
        bool,
        Parameter(
            name="--ephemeral",
            negative=(),
            show_default=False,
            help="No Prefect server? Start a throwaway temporary one for this command alone "
            "(it takes 20 s or more to start and stops when the command ends; its data lands in "
            "the local database under PREFECT_HOME, not on your server). For trying things out.",
        ),
    ] = False,
) -> int:
    try:
        with session(profile, ephemeral):
            result = app(tokens, result_action="return_value")
    except Stop as stop:
        return fail(stop.message, stop.code, as_json="--json" in tokens)
    return result if isinstance(result, int) else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    try:
        result = app.meta(list(argv) if argv is not None else sys.argv[1:], result_action="return_value")
    except SystemExit as exc:  # cyclopts' own exit (usage errors, --help)
        code = exc.code if isinstance(exc.code, int) else EXIT_OK
        return EXIT_BLOCK if code not in (EXIT_OK, None) else EXIT_OK
    return result if isinstance(result, int) else EXIT_OK


def entry() -> None:
    sys.exit(main())
