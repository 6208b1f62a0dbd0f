"""The package as a user installs it: the wheel in a fresh virtualenv outside the checkout (the
locked versions), a real `prefect server start`, the sandbox service, and every CLI command;
the rotation deployed by module path runs to Completed on a process worker started in another
directory, with its artifact and events on the server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from prefect_vendortokens.testing.openbao import free_port
from prefect_vendortokens.testing.prefect_server import prefect_server, stop_group

from .snippets import commands, named

ROOT = Path(__file__).resolve().parents[1]


def uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools/bin/uv")
    assert Path(found).exists(), "uv is installed by make setup"
    return found


@dataclass
class Installed:
    venv: Path
    work: Path  # a directory outside the checkout: every command runs here
    env: dict[str, str]
    api: str

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return self.run("prefect-vendortokens", *args, timeout=timeout)

    def run(self, program: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """A program of the installed venv, in the work directory, with the server's env."""
        return subprocess.run(  # noqa: S603 - the installed venv's own programs
            [self.bin(program), *args],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def shell(self, command: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """A command line as a reader types it (the venv's programs first on PATH)."""
        return subprocess.run(  # noqa: S603
            ["bash", "-e", "-o", "pipefail", "-c", command],  # noqa: S607
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def spawn(self, *cmd: str, log: str) -> subprocess.Popen[bytes]:
        out = open(self.work / log, "wb")  # noqa: SIM115 - closed with the process group
        return subprocess.Popen(  # noqa: S603
            list(cmd),
            cwd=self.work,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(check, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{what} not within {timeout:g} s"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("install")
    dist, venv, work = base / "dist", base / "venv", base / "work"
    work.mkdir()
    run = {"capture_output": True, "text": True, "timeout": 600, "check": True}
    subprocess.run([uv(), "build", "--wheel", "--out-dir", str(dist), str(ROOT)], cwd=ROOT, **run)  # noqa: S603
    constraints = base / "constraints.txt"
    constraints.write_text(resolution())
    prefect = next(line for line in constraints.read_text().splitlines() if line.startswith("prefect=="))
    python = str(venv / "bin/python")
    subprocess.run([uv(), "venv", "--seed", "--python", sys.executable, str(venv)], cwd=base, **run)  # noqa: S603
    # A user's environment first: the Prefect under test (and what it needs), as they would have it.
    subprocess.run(  # noqa: S603
        [uv(), "pip", "install", "--python", python, "-c", str(constraints), prefect, "hvac", "joserfc"],
        cwd=base,
        **run,
    )
    before = installed_versions(python)
    # Then the wheel with the user's own pip, no constraints: it must keep their Prefect.
    wheel = next(dist.glob("prefect_vendortokens-*.whl"))
    pip = subprocess.run(  # noqa: S603
        [python, "-m", "pip", "install", "--disable-pip-version-check", str(wheel)], cwd=base, **run
    )
    after = installed_versions(python)
    changed = {k: (before[k], after.get(k)) for k in before if after.get(k) != before[k]}
    assert changed == {}, f"installing the wheel changed the user's packages: {changed}\n{pip.stdout}"
    assert after["prefect"] == prefect.split("==")[1]
    checked = subprocess.run([python, "-m", "pip", "check"], cwd=base, capture_output=True, text=True)  # noqa: S603
    assert checked.returncode == 0, checked.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VIRTUAL_ENV", "PYTHON"))}
    env |= {"PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "PREFECT_HOME": str(base / "prefect-home")}
    with prefect_server(env, prefect=str(venv / "bin/prefect"), cwd=work, log=work / "server.log") as (
        api,
        env,
    ):
        yield Installed(venv=venv, work=work, env=env, api=api)


def resolution() -> str:
    """The pinned set under test: the lock (`make test`), or the file named by
    VENDORTOKENS_TEST_RESOLUTION (`make test-prefect-min`: ci/prefect-3.8.8.txt)."""
    named = os.environ.get("VENDORTOKENS_TEST_RESOLUTION")
    if named:
        return (ROOT / named).read_text()
    exported = subprocess.run(  # noqa: S603
        [uv(), "export", "--locked", "--no-dev", "--no-hashes", "--no-emit-project"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return exported.stdout


def installed_versions(python: str) -> dict[str, str]:
    listed = subprocess.run(  # noqa: S603
        [python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}


def test_from_a_wheel_outside_the_checkout(installed: Installed) -> None:
    it = installed
    assert not (it.work / "prefect_vendortokens").exists() and not (it.work / "flows").exists()
    help_ = it.cli("--help")
    assert help_.returncode == 0 and "deploy-rotation" in help_.stdout

    port = free_port()
    sandbox = it.spawn(
        it.bin("prefect-vendortokens"),
        "sandbox",
        "--port",
        str(port),
        "--env-file",
        "sandbox.env",
        log="sb.log",
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{base}/_control/counts", timeout=1).status_code == 200, "sandbox", 60)
        saved = it.cli("save-blocks", "--env-file", "sandbox.env", "--json")
        assert saved.returncode == 0, saved.stderr
        assert all(row["saved"] for row in json.loads(saved.stdout))

        checked = it.cli("check", "sqr", "--json")
        assert checked.returncode == 0, checked.stderr
        assert json.loads(checked.stdout)["fingerprint"].startswith("sha256:")
        rotated = it.cli("rotate", "--horizon", "60", "--json")
        assert rotated.returncode == 0, rotated.stderr
        assert {r["block"] for r in json.loads(rotated.stdout)} == {
            "sqod",
            "cobee",
            "slashid",
            "sqr",
            "resales-online",
        }
        status = it.cli("status", "--json")
        assert status.returncode == 0, status.stderr
        rows = json.loads(status.stdout)
        assert all(r["fingerprint"].startswith("sha256:") for r in rows), rows

        # The scheduled rotation: deployed by module path, run by a process worker elsewhere.
        deployed = it.cli("deploy-rotation", "--pool", "vendortokens", "--horizon", "86400", "--json")
        assert deployed.returncode == 0, deployed.stderr
        assert (
            json.loads(deployed.stdout)["entrypoint"] == "prefect_vendortokens.flows.rotation:rotate_tokens"
        )
        worker = it.spawn(it.bin("prefect"), "worker", "start", "--pool", "vendortokens", log="worker.log")
        try:
            started = it.run("prefect", "deployment", "run", "rotate-vendor-tokens/rotate-vendor-tokens")
            assert started.returncode == 0, started.stderr
            run_id = started.stdout.split("UUID:")[1].split()[0]

            def state() -> str:
                return httpx.get(f"{it.api}/flow_runs/{run_id}", timeout=5).json()["state"]["type"]

            wait_for(lambda: state() in ("COMPLETED", "FAILED", "CRASHED"), "the deployed rotation run", 240)
            assert state() == "COMPLETED", (it.work / "worker.log").read_text()[-3000:]
        finally:
            stop_group(worker)
        # The repository's prefect.yaml deploys the same module path with Prefect's own CLI: the
        # commands of docs/rotation.md, as written.
        shutil.copy(ROOT / "prefect.yaml", it.work / "prefect.yaml")
        for command in commands(named("deploy-prefect-yaml")):
            done = it.shell(command)
            assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        artifacts = httpx.post(
            f"{it.api}/artifacts/filter",
            json={"artifacts": {"flow_run_id": {"any_": [run_id]}}, "limit": 5, "offset": 0},
            timeout=10,
        ).json()
        assert artifacts and "| sqr | sqr |" in artifacts[0]["data"] and "refreshed" in artifacts[0]["data"]

        events = httpx.post(
            f"{it.api}/events/filter",
            json={"filter": {"event": {"prefix": ["prefect-vendortokens."]}}, "limit": 50},
            timeout=10,
        ).json()["events"]
        names = {e["event"] for e in events}
        assert {"prefect-vendortokens.token.refreshed", "prefect-vendortokens.rotation.completed"} <= names
        secrets = [v for k, v in _env(it.work / "sandbox.env").items() if k.endswith("_CLIENT_SECRET")]
        assert secrets and [s for s in secrets if s in json.dumps(events)] == []
    finally:
        stop_group(sandbox)


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_readme_as_written(installed: Installed, tmp_path: Path) -> None:
    """The README's five commands and its flow, then the deployment commands of
    docs/rotation.md, typed as written into a shell: in a new directory outside the checkout,
    with a new Prefect profile (no PREFECT_* variable), the wheel's venv on PATH, Prefect's
    default port 4200 and the sandbox's 8765. Only when one of those ports is already taken on
    this machine do the same commands get a free one instead."""
    prefect_port = free_port() if _port_taken(4200) else 4200
    sandbox_port = free_port() if _port_taken(8765) else 8765
    print(f"the README's commands on port {prefect_port} (Prefect) and {sandbox_port} (sandbox)")

    def on_free_ports(command: str) -> str:
        if prefect_port != 4200:
            command = command.replace("127.0.0.1:4200", f"127.0.0.1:{prefect_port}")
            command = command.replace("prefect server start", f"prefect server start --port {prefect_port}")
        if sandbox_port != 8765:
            sandbox = "prefect-vendortokens sandbox"
            command = command.replace(sandbox, f"{sandbox} --port {sandbox_port}")
        return command

    work = tmp_path / "reader"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VIRTUAL_ENV", "PYTHON"))}
    env |= {
        "PATH": f"{installed.venv / 'bin'}:{os.environ['PATH']}",
        "PREFECT_HOME": str(tmp_path / "prefect-home"),  # a new profile, as on a new machine
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    reader = Installed(venv=installed.venv, work=work, env=env, api=f"http://127.0.0.1:{prefect_port}/api")
    services: list[subprocess.Popen[bytes]] = []
    waits: list = []

    def ready() -> None:
        for check, what in waits:
            wait_for(check, what, 150)
        waits.clear()

    def sandbox_answers() -> bool:
        written = work / ".vendortokens-sandbox.env"
        url = _env(written).get("VENDORTOKENS_SANDBOX_URL") if written.exists() else None
        return bool(url) and httpx.get(f"{url}/_control/counts", timeout=2).status_code == 200

    def prefect_answers() -> bool:
        return httpx.get(f"{reader.api}/health", timeout=2).status_code == 200

    outputs: dict[str, str] = {}
    try:
        for written in commands(named("five-commands")):
            command = on_free_ports(written)
            if written.startswith("prefect server start"):  # "terminal 1, left running"
                services.append(reader.spawn("bash", "-c", f"exec {command}", log="server.log"))
                waits.append((prefect_answers, "prefect server start"))
                continue
            if written.startswith("prefect-vendortokens sandbox"):  # "terminal 2, left running"
                services.append(reader.spawn("bash", "-c", f"exec {command}", log="sandbox.log"))
                waits.append((sandbox_answers, "the sandbox"))
                continue
            ready()
            done = reader.shell(command)
            assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
            outputs[written] = done.stdout
        ready()
        saved = outputs["prefect-vendortokens save-blocks --env-file .vendortokens-sandbox.env"]
        for block in ("sqod", "cobee", "slashid", "sqr", "resales-online"):  # the names the README gives
            assert block in saved
        assert "token OK" in outputs["prefect-vendortokens check sqr"]

        # "Save it as count_sqr_users.py in the same directory and run python count_sqr_users.py"
        (work / "count_sqr_users.py").write_text(named("readme-flow").code)
        flow = reader.shell("python count_sqr_users.py", timeout=240)
        assert flow.returncode == 0, flow.stdout + flow.stderr
        assert "10 users" in flow.stdout + flow.stderr  # the first page of the sandbox's 25

        # docs/rotation.md: deploy, a worker "in another terminal", one run now, to Completed.
        run_id = ""
        for command in commands(named("deploy-rotation")):
            if command.startswith("prefect worker start"):
                services.append(reader.spawn("bash", "-c", f"exec {command}", log="worker.log"))
                continue
            done = reader.shell(command)
            assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
            if "UUID:" in done.stdout:
                run_id = done.stdout.split("UUID:")[1].split()[0]
        assert run_id, "prefect deployment run printed no flow run id"

        def state() -> str:
            return httpx.get(f"{reader.api}/flow_runs/{run_id}", timeout=5).json()["state"]["type"]

        wait_for(lambda: state() in ("COMPLETED", "FAILED", "CRASHED"), "the deployed rotation run", 240)
        assert state() == "COMPLETED", (work / "worker.log").read_text()[-3000:]
    finally:
        for service in reversed(services):
            stop_group(service)
