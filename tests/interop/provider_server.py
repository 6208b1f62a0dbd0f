"""panva/oidc-provider on 127.0.0.1 for the interop tests: installed from the committed
package-lock.json (``npm ci``) when missing, started with our clients, driven over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
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
    mtls: str = ""  # the TLS listener's base URL (client certificates), when started with TLS

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

    def play_device(
        self, link: str, *, login: str = "alice", deny: bool = False, user_code: str = "", ca: str = ""
    ) -> str:
        """Play the person on the device flow's pages: open ``link`` (the verification URI,
        complete or not), enter ``user_code`` when the page asks, confirm (or abort, ``deny``),
        then log in and consent on the development pages (``ca``: the PEM the browser trusts for
        the TLS listener's pages). Returns the last page's text."""
        verify = ssl.create_default_context(cadata=ca) if ca else True
        with httpx.Client(timeout=10, follow_redirects=False, verify=verify) as browser:
            answer = browser.get(link)
            aborted = False
            for _ in range(16):  # bounded: the dance is about 10 steps
                if answer.status_code in (302, 303):
                    answer = browser.get(urljoin(str(answer.url), answer.headers["location"]))
                    continue
                assert answer.status_code == 200, f"{answer.status_code} at {answer.url}: {answer.text[:300]}"
                if aborted:
                    return answer.text  # "the sign-in request was interrupted"
                forms = [form for form in Forms.read(answer.text).values() if "xsrf" in form[1]]
                if forms and "confirm" in forms[0][1]:  # "is this the code on your device?"
                    action, fields = forms[0]
                    if deny:
                        fields = {**fields, "abort": "yes"}
                        fields.pop("confirm")
                        aborted = True
                elif forms:  # "enter the code displayed on your device"
                    action, fields = forms[0]
                    fields["user_code"] = user_code or fields.get("user_code", "")
                elif 'name="prompt"' in answer.text:  # devInteractions: login, then consent
                    action, fields = str(answer.url), {"prompt": "consent"}
                    if 'name="login"' in answer.text:
                        fields = {"prompt": "login", "login": login, "password": "x"}
                else:
                    return answer.text  # the success page, or the one saying it was aborted
                answer = browser.post(urljoin(str(answer.url), action), data=fields)
        raise AssertionError("the device flow's pages did not end")


class Forms(HTMLParser):
    """The forms of a page: id -> (action, its inputs' names and values)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, tuple[str, dict[str, str]]] = {}
        self._current: str | None = None

    @classmethod
    def read(cls, html: str) -> dict[str, tuple[str, dict[str, str]]]:
        parser = cls()
        parser.feed(html)
        return parser.forms

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = values.get("id", f"form-{len(self.forms)}")
            self.forms[self._current] = (values.get("action", ""), {})
        elif tag == "input" and self._current is not None and values.get("name"):
            self.forms[self._current][1][values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def redirect_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@contextlib.contextmanager
def provider(clients: list[dict], tls: dict[str, str] | None = None) -> Iterator[Provider]:
    """oidc-provider with ``clients``; with ``tls`` ({"cert", "key", "ca"}, PEM) also its TLS
    listener for mTLS (``Provider.mtls``)."""
    install()
    node = shutil.which("node")
    assert node, "Node.js is needed for the oidc-provider interop tests"
    clients_file = PROVIDER.parent / f".clients-{os.getpid()}.json"
    clients_file.write_text(json.dumps({"clients": clients}))
    tls_file = PROVIDER.parent / f".tls-{os.getpid()}.json"
    if tls is not None:  # the server's key: readable by this user only
        fd = os.open(tls_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(tls, out)
    process = subprocess.Popen(  # noqa: S603 - node from PATH, our own script
        [node, str(PROVIDER / "server.mjs"), "0", str(clients_file), *([str(tls_file)] if tls else [])],
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
        started.mtls = ready.get("mtls") or ""
        yield started
    finally:
        stop_group(process)
        clients_file.unlink(missing_ok=True)
        tls_file.unlink(missing_ok=True)


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
