"""The fenced code blocks of README.md and docs/, for the tests that run them.

A ```python block runs as a script and a ```bash (or ``sh``, ``shell``, ``console``) block runs
in bash with ``-e -o pipefail``, unless an HTML comment on the line before the fence says
otherwise (docs/contributing.md explains the markers):

    <!-- docs-test: not-run: REASON -->              never run (a server, a worker, `make test`)
    <!-- docs-test: run-by tests/test_x.py; id NAME --> run by that test, which finds it by NAME
    <!-- docs-test: exit 3 -->                       a shell block expected to exit 3
    <!-- docs-test: id NAME -->                      a name, so another test can run it too
    <!-- docs-test: requires-cli --OPTION -->        skipped until the CLI's --help lists it

Any other language (text, yaml, json, toml) is shown, never run; a fence with no language is an
error, so nothing can slip through unmarked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = {"python", "py"}
SHELL = {"bash", "sh", "shell", "console"}
SHOWN = {"text", "yaml", "json", "toml", "ini", "markdown", "md"}

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")


class SnippetError(ValueError):
    """A Markdown file whose code blocks or markers the tests cannot read."""


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    not_run: str = ""  # the reason, when the block is never run
    run_by: str = ""  # the test file that runs it instead
    name: str = ""
    exit_code: int = 0
    requires_cli: str = ""  # a CLI option the block needs (skipped until --help lists it)
    directives: tuple[str, ...] = field(default=(), compare=False)

    @property
    def where(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"

    @property
    def kind(self) -> str:
        if self.language in PYTHON:
            return "python"
        if self.language in SHELL:
            return "shell"
        return "shown"

    @property
    def runs_here(self) -> bool:
        """Run by tests/test_docs.py: Python or shell, not marked not-run or run-by."""
        return self.kind != "shown" and not self.not_run and not self.run_by


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def parse(path: Path, text: str | None = None) -> list[Snippet]:
    """Every fenced block of one Markdown file, with the marker before it."""
    lines = (path.read_text() if text is None else text).splitlines()
    snippets: list[Snippet] = []
    i = 0
    while i < len(lines):
        opened = _FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        fence, indent = opened["fence"], len(opened["indent"])
        language = (opened["info"].split() or [""])[0].lower()
        start, body = i, []
        i += 1
        while i < len(lines) and not re.match(rf"^ {{0,{indent + 3}}}{re.escape(fence)}\s*$", lines[i]):
            line = lines[i]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            i += 1
        if i == len(lines):
            raise SnippetError(f"{path}:{start + 1}: a code fence is never closed")
        i += 1
        where = f"{path}:{start + 1}"
        if not language:
            raise SnippetError(f"{where}: a code block needs a language (python, bash, text, ...)")
        if language not in PYTHON | SHELL | SHOWN:
            raise SnippetError(f"{where}: unknown code block language {language!r}")
        marker = _MARKER.match(lines[start - 1]) if start else None
        snippets.append(_snippet(path, start + 1, language, "\n".join(body) + "\n", marker, where))
    return snippets


def _snippet(path: Path, line: int, language: str, code: str, marker, where: str) -> Snippet:
    values: dict = {}
    directives: list[str] = []
    body = marker["body"] if marker else ""
    # A reason is free text (it may hold a ';'); the other directives are separated by ';'.
    parts = [body] if body.startswith("not-run:") else body.split(";") if body else []
    for part in parts:
        word, _, rest = part.strip().partition(" ")
        rest = rest.strip()
        directives.append(word)
        if word == "not-run:":
            values["not_run"] = rest
        elif word == "run-by":
            values["run_by"] = rest
        elif word == "id":
            values["name"] = rest
        elif word == "exit" and rest.isdigit():
            values["exit_code"] = int(rest)
        elif word == "requires-cli" and rest.startswith("--"):
            values["requires_cli"] = rest
        else:
            raise SnippetError(f"{where}: unknown docs-test marker {part.strip()!r}")
        if not rest:
            raise SnippetError(f"{where}: docs-test marker {word!r} needs a value")
    snippet = Snippet(path, line, language, code, directives=tuple(directives), **values)
    if snippet.run_by and not snippet.name:
        raise SnippetError(f"{where}: run-by needs an id the other test finds the block by")
    if snippet.kind == "shown" and marker:
        raise SnippetError(f"{where}: a {language} block is never run; it needs no marker")
    return snippet


def all_snippets() -> list[Snippet]:
    return [s for path in markdown_files() for s in parse(path)]


def named(name: str) -> Snippet:
    """The one block marked ``id NAME`` (for tests that run a block their own way)."""
    found = [s for s in all_snippets() if s.name == name]
    if len(found) != 1:
        raise SnippetError(f"{len(found)} code blocks have the id {name!r}")
    return found[0]


def commands(snippet: Snippet) -> list[str]:
    """A shell block's commands, one per line, without comments."""
    found = []
    for line in snippet.code.splitlines():
        command = re.sub(r"(^|\s+)#.*$", "", line).strip()
        if command:
            found.append(command)
    return found
