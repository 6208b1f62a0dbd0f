"""docs/import.md, run as a user would: its sandbox command in the background, each console
block in a shell (its output must be what the page shows), each Python block in a process."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from prefect_vendortokens.testing.openbao import free_port

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "import.md"
DOC_PORT = "48765"
BASH = shutil.which("bash") or "/bin/bash"


def blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w+)\n(.*?)^```", text, re.M | re.S)


def console(block: str) -> tuple[str, str]:
    """(the commands as one script, the output the page shows)."""
    commands, output = [], []
    for line in block.splitlines():
        (commands if line.startswith("$ ") else output).append(line.removeprefix("$ "))
    return "\n".join(commands), "\n".join(output)


def normal(text: str, port: str) -> str:
    text = text.replace(port, DOC_PORT)
    text = re.sub(r"sha256:[0-9a-f]{12}", "sha256:…", text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def test_the_import_page_runs_as_written(prefect_server, tmp_path) -> None:
    from prefect.settings import PREFECT_API_URL

    port = str(free_port())
    while len(port) != len(DOC_PORT):  # the tables' widths follow the URL's
        port = str(free_port())
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "COLUMNS": "80",
        "PREFECT_API_URL": PREFECT_API_URL.value(),
    }
    for name in ("VENDORTOKENS_CLIENT_ID", "VENDORTOKENS_CLIENT_SECRET"):
        env.pop(name, None)
    found = blocks(PAGE.read_text())
    kinds = [kind for kind, _ in found]
    assert kinds.count("bash") == 1 and kinds.count("console") >= 3 and kinds.count("python") >= 2
    sandbox_command = next(body for kind, body in found if kind == "bash").strip().replace(DOC_PORT, port)
    sandbox = subprocess.Popen(  # noqa: S602 - the page's own command
        sandbox_command, shell=True, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_control/counts", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            raise AssertionError("the sandbox did not start within 120 s")
        sandbox_env = dict(
            line.split("=", 1) for line in (tmp_path / ".vendortokens-sandbox.env").read_text().split()
        )
        script_prefix = ""
        for kind, body in found:
            body = body.replace(DOC_PORT, port)
            if kind == "console":
                commands, expected = console(body)
                script = script_prefix + commands
                done = subprocess.run(  # noqa: S603 - the page's commands
                    [BASH, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
                )
                assert normal(done.stdout, port) == normal(expected, port), done.stderr[-3000:]
                # Later blocks run in the same shell state the page builds up (the exports).
                script_prefix += "".join(
                    c + "\n" for c in commands.splitlines() if c.startswith(("set ", "export "))
                )
            elif kind == "python":
                done = subprocess.run(  # noqa: S603 - the page's code
                    [sys.executable, "-c", body],
                    cwd=tmp_path,
                    env={**env, **sandbox_env},
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert done.returncode == 0, done.stderr[-3000:]
                said = re.search(r"# (.+)$", body.strip().splitlines()[-1])
                assert said and normal(done.stdout, port).splitlines()[-1] == said.group(1), done.stdout
    finally:
        os.killpg(sandbox.pid, signal.SIGTERM)
        sandbox.wait(timeout=30)
