"""Restarts and seals under load: a real ``prefect server start`` stopped and started again on
the same database while four processes call ``get_token`` in a loop on a user's grant whose
refresh tokens rotate (and a refresh lock held across the restart), and OpenBao sealed then
unsealed under the Vault store. Callers keep their cached tokens, errors are typed and bounded,
no lock outlives its lease, no grant is lost, no refresh token is sent twice."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prefect_vendortokens import VaultSealedError, clear_token_cache
from prefect_vendortokens.core.errors import TokenStoreError
from prefect_vendortokens.testing import OpenBao, vendor_sandbox
from prefect_vendortokens.testing.openbao import free_port
from prefect_vendortokens.testing.prefect_server import prefect_server

from .accounts import block, consent, spec
from .test_matrix import ROOT, start, until_said, wait_for

LIFETIME = 10.0  # tokens renewed every few seconds, so refreshes fall inside the outage


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "INFO",  # its access log, so its 5xx answers can be counted
    }


@pytest.fixture
def server_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="pvt-restart-"))
    yield home


def test_prefect_server_restarts_under_four_looping_processes(server_home, tmp_path, monkeypatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_vendortokens.stores.prefect_lock import PrefectLock

    port, log = free_port(), tmp_path / "server.log"
    lease = 120.0  # longer than the restart (20-70 s on this loaded machine): the locks outlive it
    monkeypatch.setenv("VENDORTOKENS_LOCK_LEASE", f"{lease:g}")
    with vendor_sandbox() as sandbox:
        sandbox.set_token_lifetime(LIFETIME, "oauth2")
        raw = json.dumps(spec(sandbox, "restart", "prefect", 0.0, None))
        with prefect_server(_base_env(server_home), port=port, log=log) as (api, env):
            with temporary_settings({PREFECT_API_URL: api}):
                consented = block(json.loads(raw))
                consented.save("restart-user", overwrite=True)  # for the rotation flow
                consent(consented)
                clear_token_cache()
                lock = PrefectLock()
                alive = lock.try_acquire("restart-alive")  # its holder releases after the restart
                lock.try_acquire("restart-dead")  # its holder dies with the restart
                taken = time.monotonic()
            env = env | {"PYTHONPATH": str(ROOT), "VENDORTOKENS_JOURNAL_DIR": str(tmp_path / "journal")}
            env["VENDORTOKENS_LOCK_LEASE"] = "5"
            stop = tmp_path / "stop"
            workers = [
                start(raw, env, None, module="tests.crash.loop_worker", extra=[str(stop)]) for _ in range(4)
            ]
            rotation = subprocess.Popen(  # noqa: S603 - our interpreter, our worker
                [sys.executable, "-m", "tests.crash.rotation_loop", "restart-user", str(stop)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for worker, lines in workers:
                until_said(lines, worker, "ready")
            time.sleep(8)  # the loop runs, refreshing every few seconds
        down = time.time()
        with prefect_server(_base_env(server_home), port=port, log=log) as (api, env):
            healthy = time.time()
            with temporary_settings({PREFECT_API_URL: api}):
                assert alive is not None
                restarted = time.monotonic() - taken
                if restarted < lease - 5:  # still within its lease (unless the restart took longer)
                    assert lock.try_acquire("restart-dead") is None, restarted
                alive.release()  # a holder that outlived the restart frees its lock at once
                assert lock.try_acquire("restart-alive") is not None
                # the dead holder's lock: free one lease after it was taken, never wedged
                wait_for(
                    lambda: lock.try_acquire("restart-dead") is not None, "the dead holder's lock", lease + 30
                )
                freed = time.monotonic() - taken
                assert lease - 2 < freed < lease + 10, freed
                wait_for(lambda: time.time() > healthy + 15, "15 s of calls after the restart", 30)
                stop.touch()
                outs = []
                for number, (worker, lines) in enumerate(workers):
                    out, _ = worker.communicate(timeout=120)
                    assert worker.returncode == 0, out
                    outs.append(json.loads(out.strip().splitlines()[-1]))
                    said = [lines.get_nowait() for _ in range(lines.qsize())]
                    unusual = [line for line in said if "could not take the refresh lock" not in line]
                    print(f"worker {number} said:", "".join(unusual)[-8000:])  # shown if the test fails
                rotated, _ = rotation.communicate(timeout=300)
                assert rotation.returncode == 0, rotated
                rotations = json.loads(rotated.strip().splitlines()[-1])
                clear_token_cache()
                after = block(json.loads(raw)).get_token(force_refresh=True)  # the grant is alive
        assert after.is_valid()
        assert sandbox.refresh_reuse("oauth2") == 0  # no refresh token sent twice
    for out in outs:
        assert set(out["errors"]) <= {"TokenStoreError"}, out  # typed, and only while it was down
        assert out["slowest"] < 25, out  # bounded: two store calls of 10 s at worst
        assert out["last_ok"] > healthy and out["last_ok"] > out["last_error"], out  # recovered
        assert (out["oks"] > 0 and out["last_error"] == 0) or out["last_error"] > down - 1, out
    # The rotation runs failed while the server was down (bounded) and succeed again after it.
    assert rotations["outcomes"].get("ok", 0) >= 2 and rotations["last_ok"] > healthy, rotations
    assert rotations["slowest"] < 200, rotations
    server_log = log.read_text(errors="replace")
    print(
        "restart:", json.dumps(outs), f"restart took {restarted:.0f} s; dead lock freed after {freed:.0f} s"
    )
    print("rotation:", json.dumps(rotations))
    answers = re.findall(r'"([A-Z]+ /api/\S+) HTTP/[0-9.]+" (\d{3})', server_log)
    failed = sorted(
        {
            f"{status} {request.split('/api/')[1].split('/')[0]}"
            for request, status in answers
            if status >= "500"
        }
    )
    print(f"server: {len(answers)} requests, {sum(s >= '500' for _, s in answers)} answered 5xx: {failed}")


def test_vault_sealed_then_unsealed_under_the_vault_store(tmp_path) -> None:
    """Sealed: cached tokens still served, a refresh is a typed VaultSealedError (also a
    TokenStoreError) at once; unsealed: the next refresh works, no person involved."""
    with vendor_sandbox() as sandbox, OpenBao() as bao:
        raw = json.dumps(spec(sandbox, "sealed", "vault", 0.0, bao.address))
        creds = block(json.loads(raw))
        consent(creds)
        clear_token_cache()
        creds = block(json.loads(raw))
        cached = creds.get_token()
        bao.seal()
        assert creds.get_token().fingerprint == cached.fingerprint  # from the process's cache
        started = time.monotonic()
        with pytest.raises(VaultSealedError) as sealed:
            creds.get_token(force_refresh=True)
        assert isinstance(sealed.value, TokenStoreError) and time.monotonic() - started < 5
        assert "the vault store failed" in str(sealed.value)
        bao.unseal()
        unsealed = time.monotonic()
        token = None
        while token is None and time.monotonic() - unsealed < 30:
            try:
                token = creds.get_token(force_refresh=True)
            except TokenStoreError:
                time.sleep(0.2)
        assert token is not None and token.fingerprint != cached.fingerprint
        print(f"recovered {time.monotonic() - unsealed:.1f} s after the unseal")
        assert sandbox.refresh_reuse("oauth2") == 0
        assert httpx.get(f"{bao.address}/v1/sys/health").json()["sealed"] is False
