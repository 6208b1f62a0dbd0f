"""panva/oidc-provider on 127.0.0.1 for the interop tests: installed from the committed
package-lock.json (``npm ci``) when missing, started with our clients, driven over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from prefect_vendortokens.testing.openbao import free_port
from prefect_vendortokens.testing.prefect_server import stop_group

PROVIDER = Path(__file__).parent / "provider"
START_TIMEOUT = 60.0
NPM_TIMEOUT = 600.0


def install() -> None:
    """``npm ci`` from the lock file, once (``make test`` also does it)."""
    if (PROVIDER / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    assert npm, "Node.js and npm are needed for the oidc-provider interop tests"
    subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
        [npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER, check=True, timeout=NPM_TIMEOUT
    )


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen
    stderr: list[str] = field(default_factory=list)

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/token"

    def log(self) -> str:
        return "\n".join(self.stderr)

    def reuse_revocations(self, wait: float = 0.0) -> list[str]:
        """Lines where the server saw a used refresh token again (and revoked the grant);
        ``wait`` bounds how long to wait for one (its stderr is read by a thread)."""
        deadline = time.monotonic() + wait
        while True:
            found = [line for line in self.stderr if "REUSE-REVOKED" in line]
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def introspect(self, token: str) -> dict:
        """RFC 7662 introspection, as the resource server would (basic-client's credentials)."""
        answer = httpx.post(
            self.issuer + "/token/introspection",
            data={"token": token, "client_id": "post-client", "client_secret": "post-secret-value"},
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()

    def consent(self, authorization_url: str, *, login: str = "alice", deliver: bool = True) -> str:
        """Play the person: follow the authorization URL through the provider's development
        login and consent pages, then (``deliver``) open the redirect as the browser would.
        Returns the redirect URL (with code and state)."""
        with httpx.Client(timeout=10, follow_redirects=False) as browser:
            url = authorization_url
            for _ in range(12):  # bounded: the dance is 7 steps
                if not url.startswith(self.issuer):
                    if deliver:
                        httpx.get(url, timeout=10)
                    return url
                answer = browser.get(url)
                if answer.status_code in (302, 303):
                    url = urljoin(url, answer.headers["location"])
                    continue
                assert answer.status_code == 200, f"{answer.status_code} at {url}: {answer.text[:300]}"
                prompt = "login" if 'name="login"' in answer.text else "consent"
                form = {"prompt": prompt}
                if prompt == "login":
                    form |= {"login": login, "password": "x"}
                posted = browser.post(url, data=form)
                assert posted.status_code in (302, 303), f"{posted.status_code}: {posted.text[:300]}"
                url = urljoin(url, posted.headers["location"])
        raise AssertionError("the consent did not end in a redirect")


def redirect_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@contextlib.contextmanager
def provider(clients: list[dict]) -> Iterator[Provider]:
    install()
    node = shutil.which("node")
    assert node, "Node.js is needed for the oidc-provider interop tests"
    clients_file = PROVIDER.parent / f".clients-{os.getpid()}.json"
    clients_file.write_text(json.dumps({"clients": clients}))
    process = subprocess.Popen(  # noqa: S603 - node from PATH, our own script
        [node, str(PROVIDER / "server.mjs"), "0", str(clients_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        ready: dict[str, str] = {}
        got = threading.Event()

        def read_stdout() -> None:
            line = process.stdout.readline()  # type: ignore[union-attr]
            with contextlib.suppress(ValueError):
                ready.update(json.loads(line))
            got.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        started = Provider(issuer="", process=process)

        def read_stderr() -> None:
            for line in process.stderr:  # type: ignore[union-attr]
                started.stderr.append(line.rstrip())

        threading.Thread(target=read_stderr, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not got.wait(0.2):
            assert process.poll() is None, f"oidc-provider exited: {started.log()[-2000:]}"
            assert time.monotonic() < deadline, "oidc-provider did not start"
        assert "issuer" in ready, f"oidc-provider said no issuer: {started.log()[-2000:]}"
        started.issuer = ready["issuer"]
        yield started
    finally:
        stop_group(process)
        clients_file.unlink(missing_ok=True)


@contextlib.contextmanager
def authorize_command(block: str, issuer: str, env: dict[str, str]) -> Iterator[AuthorizeRun]:
    """``prefect-vendortokens authorize BLOCK --no-browser --json`` running; yields once it has
    printed the authorization URL (the person's part is the caller's), stopped at the end."""
    port = free_port()
    command = subprocess.Popen(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "prefect_vendortokens",
            "authorize",
            block,
            "--no-browser",
            "--port",
            str(port),
            "--timeout",
            "120",
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = AuthorizeRun(command, port)

    def read_stderr() -> None:
        for line in command.stderr:  # type: ignore[union-attr]
            run.printed.append(line)
            if line.startswith(issuer):
                run.url = line.strip()
                run.shown.set()

    threading.Thread(target=read_stderr, daemon=True).start()
    try:
        assert run.shown.wait(120), f"no authorization URL printed: {''.join(run.printed)[-2000:]}"
        yield run
    finally:
        if command.poll() is None:
            command.kill()


@dataclass
class AuthorizeRun:
    command: subprocess.Popen
    port: int
    url: str = ""
    printed: list[str] = field(default_factory=list)
    shown: threading.Event = field(default_factory=threading.Event)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def result(self) -> dict:
        """The command's JSON result once it has exited 0."""
        out, _ = self.command.communicate(timeout=60)
        assert self.command.returncode == 0, f"authorize failed: {out} {''.join(self.printed)[-2000:]}"
        return json.loads(out)
