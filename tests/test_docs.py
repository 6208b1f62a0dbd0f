"""Every Python and shell block of README.md and docs/ runs, so no page can lie.

Each runs as a reader would after the README's five commands: in a fresh directory holding the
vendor sandbox's ``.vendortokens-sandbox.env`` (and links to the checkout's ``flows/``,
``blocks/`` and ``prefect.yaml``), with that file's ``VENDORTOKENS_*`` values exported, a
Prefect API (the session's test server) with the five example blocks saved, and no way out of
the machine (a dead proxy for every host but 127.0.0.1). Python blocks run as ``__main__``
scripts in this process; shell blocks in bash with ``-e -o pipefail``. A block that raises or
exits other than its marker says fails its test; the self-tests below prove it on broken blocks.
docs/contributing.md explains the markers.
"""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from prefect_vendortokens.testing import vendor_sandbox

from .snippets import ROOT, Snippet, SnippetError, all_snippets, markdown_files, parse

SNIPPETS = all_snippets()
# Anything that tries to leave the machine fails at once instead.
NO_NETWORK = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost,::1",
}
EXAMPLE_BLOCKS = ("sqod", "cobee", "slashid", "sqr", "resales-online")


@dataclass
class Reader:
    """Where and with what a reader runs the snippets."""

    cwd: Path
    env: dict[str, str]  # added to the process environment
    api_url: str

    def shell_env(self) -> dict[str, str]:
        path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
        return {**os.environ, **self.env, "PREFECT_API_URL": self.api_url, "PATH": path}


def _block_ids() -> set:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {d.id for d in client.read_block_documents()}


@pytest.fixture(scope="module")
def reader(prefect_server, tmp_path_factory) -> Iterator[Reader]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from prefect_vendortokens.cli import main

    before = _block_ids()
    cwd = tmp_path_factory.mktemp("reader")
    for name in ("flows", "blocks", "prefect.yaml"):
        (cwd / name).symlink_to(ROOT / name)
    with vendor_sandbox(seed="docs") as sandbox:
        values = {"VENDORTOKENS_SANDBOX_SEED": "docs", **sandbox.env()}
        env_file = cwd / ".vendortokens-sandbox.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        assert main(["save-blocks", "--env-file", str(env_file)]) == 0
        try:
            yield Reader(cwd=cwd, env={**values, **NO_NETWORK}, api_url=str(PREFECT_API_URL.value()))
        finally:
            with get_client(sync_client=True) as client:  # later tests see the server as it was
                for block_id in _block_ids() - before:
                    client.delete_block_document(block_id)


def run_snippet(snippet: Snippet, reader: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run one block as a reader would; raises (fails the test) if the block fails."""
    if snippet.kind == "python":
        script = reader.cwd / f"snippet_{snippet.path.stem}_{snippet.line}.py"
        script.write_text(snippet.code)
        monkeypatch.chdir(reader.cwd)
        for key, value in reader.env.items():
            monkeypatch.setenv(key, value)
        runpy.run_path(str(script), run_name="__main__")
        return
    assert snippet.kind == "shell", f"{snippet.where}: a {snippet.language} block is not run"
    done = subprocess.run(  # noqa: S603 - the documentation's own commands
        ["bash", "-e", "-o", "pipefail", "-c", snippet.code],  # noqa: S607
        cwd=reader.cwd,
        env=reader.shell_env(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    print(done.stdout, done.stderr, sep="\n")
    assert done.returncode == snippet.exit_code, (
        f"{snippet.where}: exit {done.returncode}, expected {snippet.exit_code}\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )


def cli_help(capsys: pytest.CaptureFixture[str]) -> str:
    """Every --help text of the CLI: the app's and each command's."""
    from prefect_vendortokens.cli import app, main

    texts = []
    for argv in (["--help"], *([name, "--help"] for name in app if not name.startswith("-"))):
        main(argv)
        texts.append(capsys.readouterr().out)
    return "\n".join(texts)


@pytest.mark.parametrize("snippet", [s for s in SNIPPETS if s.runs_here], ids=lambda s: s.where)
def test_snippet_runs(snippet: Snippet, reader: Reader, monkeypatch, capsys) -> None:
    if snippet.requires_cli and not re.search(rf"{re.escape(snippet.requires_cli)}\b", cli_help(capsys)):
        pytest.skip(f"needs the CLI option {snippet.requires_cli} (issue 17's CLI change)")
    run_snippet(snippet, reader, monkeypatch)


def test_every_block_is_accounted_for() -> None:
    """Each page is read (a bad fence or marker fails here), Python and shell blocks either run
    here or name the test that runs them, and that test really names the block."""
    assert len(markdown_files()) > 10 and sum(s.runs_here for s in SNIPPETS) > 20
    for snippet in SNIPPETS:
        if snippet.run_by:
            test_file = ROOT / snippet.run_by
            assert test_file.is_file(), f"{snippet.where}: no {snippet.run_by}"
            assert f'"{snippet.name}"' in test_file.read_text(), (
                f"{snippet.where}: {snippet.run_by} never asks for the block {snippet.name!r}"
            )
        if snippet.kind != "shown" and not snippet.runs_here:
            assert snippet.not_run or snippet.run_by
    names = [s.name for s in SNIPPETS if s.name]
    assert len(names) == len(set(names)), "two blocks share an id"


# The self-tests: the runner must be able to fail.


def _one(tmp_path: Path, markdown: str) -> Snippet:
    (found,) = parse(tmp_path / "broken.md", markdown)
    return found


def test_a_python_block_that_raises_fails(tmp_path, monkeypatch) -> None:
    reader = Reader(cwd=tmp_path, env={}, api_url="")
    code = "from prefect_vendortokens import get_dialect\nget_dialect('nope')"
    snippet = _one(tmp_path, f"```python\n{code}\n```\n")
    with pytest.raises(Exception, match="nope"):
        run_snippet(snippet, reader, monkeypatch)
    run_snippet(_one(tmp_path, "```python\nassert 1 + 1 == 2\n```\n"), reader, monkeypatch)


def test_a_shell_block_that_fails_fails(tmp_path, monkeypatch) -> None:
    reader = Reader(cwd=tmp_path, env={}, api_url="")
    for code in ("false\necho never", "false | cat", "prefect-vendortokens no-such-command"):
        with pytest.raises(AssertionError, match="exit"):
            run_snippet(_one(tmp_path, f"```bash\n{code}\n```\n"), reader, monkeypatch)
    # A block marked with its exit code passes only with that code.
    run_snippet(_one(tmp_path, "<!-- docs-test: exit 3 -->\n```bash\nexit 3\n```\n"), reader, monkeypatch)
    with pytest.raises(AssertionError, match="expected 3"):
        run_snippet(_one(tmp_path, "<!-- docs-test: exit 3 -->\n```bash\ntrue\n```\n"), reader, monkeypatch)


@pytest.mark.parametrize(
    ("markdown", "error"),
    [
        ("```\nprint(1)\n```\n", "needs a language"),
        ("```pycon\n>>> 1\n```\n", "unknown code block language"),
        ("```python\nprint(1)\n", "never closed"),
        ("<!-- docs-test: maybe -->\n```bash\ntrue\n```\n", "unknown docs-test marker"),
        ("<!-- docs-test: not-run: -->\n```bash\ntrue\n```\n", "needs a value"),
        ("<!-- docs-test: run-by tests/test_install.py -->\n```bash\ntrue\n```\n", "needs an id"),
        ("<!-- docs-test: exit 3 -->\n```text\nout\n```\n", "needs no marker"),
    ],
)
def test_unreadable_blocks_are_refused(tmp_path, markdown: str, error: str) -> None:
    with pytest.raises(SnippetError, match=error):
        parse(tmp_path / "bad.md", markdown)


def test_marked_blocks_are_not_run(tmp_path) -> None:
    marker = "<!-- docs-test: not-run: starts a server -->"
    skipped = _one(tmp_path, f"{marker}\n```bash\nprefect server start\n```\n")
    assert not skipped.runs_here and skipped.not_run == "starts a server"
    shown = _one(tmp_path, "```text\nexit 1\n```\n")
    assert shown.kind == "shown" and not shown.runs_here
