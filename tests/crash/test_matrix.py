"""The crash matrix: a real worker process refreshing a user's grant is SIGKILLed at each step
of the plan (the refresh lock taken; the request sent, the vendor answering after the kill; the
answer received; the store write starting; the write done, the lock not yet released), on the
Prefect store and on the Vault store (OpenBao), against the emulation's rotating refresh tokens
with and without a reuse grace. Then the next process refreshes.

Each row: what the next process got, how long it took (at most the lease plus one refresh), whether the
grant is kept (this test process can refresh after it), and that no refresh token was sent
again outside the grace (the emulation counts those; each revokes the whole grant). Only one
case may lose the grant: killed after the request left, with a vendor without grace; there the
next process must say so at once (AuthorizationRequiredError, the authorization.required
event), without resending the spent refresh token. ``make crash`` prints the table."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prefect_vendortokens import AuthorizationRequiredError, TokenError, clear_token_cache
from prefect_vendortokens.testing import OpenBao

from .accounts import block, consent, spec
from .conftest import record

ROOT = Path(__file__).resolve().parents[2]
LEASE = 3.0  # the refresh lock's lease in this matrix (60 s by default)
GRACE = 30.0  # the vendor's reuse grace where it has one
SENT_DELAY = 1.5  # the vendor answers this long after the request arrived (the kill is before)
POINTS = ["locked", "sent", "answered", "writing", "written"]
POINT_NAMES = {
    "locked": "lock taken",
    "sent": "request sent",
    "answered": "answer received",
    "writing": "store write starting",
    "written": "written, before release",
}


@pytest.fixture(scope="module")
def bao() -> Iterator[OpenBao]:
    with OpenBao() as server:
        yield server


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds:g} s"
        time.sleep(0.02)


def start(
    raw: str,
    env: dict[str, str],
    go: Path | None = None,
    module: str = "tests.crash.worker",
    extra: list[str] | None = None,
) -> tuple[subprocess.Popen, queue.Queue]:
    args = [*([str(go)] if go else []), *(extra or [])]
    worker = subprocess.Popen(  # noqa: S603 - our interpreter, our worker
        [sys.executable, "-m", module, raw, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in worker.stderr], daemon=True).start()  # type: ignore[union-attr]
    return worker, lines


def until_said(lines: queue.Queue, worker: subprocess.Popen, said: str) -> None:
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            assert worker.poll() is None, "the worker ended before its pause point:\n" + "".join(seen)[-3000:]
            continue
        seen.append(line)
        if said in line:
            return
    raise AssertionError(f"the worker never said {said!r}:\n" + "".join(seen)[-3000:])


def kill(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)


# Every point without a grace; with one, the point where it changes the outcome (the answer
# never reached this host) and one it must not change (the journal has the answer).
CASES = [(point, 0.0) for point in POINTS] + [("sent", GRACE), ("answered", GRACE)]


@pytest.mark.parametrize(
    ("point", "grace"), CASES, ids=[f"{p}-{'grace' if g else 'no-grace'}" for p, g in CASES]
)
@pytest.mark.parametrize("store", ["prefect", "vault"])
def test_killed_holder(prefect_server, sandbox, bao, tmp_path, store: str, point: str, grace: float) -> None:
    from prefect.settings import PREFECT_API_URL

    sandbox.set_refresh_reuse_grace(grace, "oauth2")
    case = f"{store}-{point}-{grace:g}"
    raw = json.dumps(spec(sandbox, case, store, grace, bao.address if store == "vault" else None))
    # The person's consent, as `authorize` stores it: a grant whose refresh tokens rotate.
    consented = block(json.loads(raw))
    first = consent(consented)
    clear_token_cache()
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PYTHONPATH": str(ROOT),
        "VENDORTOKENS_LOCK_LEASE": f"{LEASE:g}",
        "VENDORTOKENS_JOURNAL_DIR": str(tmp_path / "journal"),  # this host's, shared by the workers
    }
    env.pop("VENDORTOKENS_PAUSE_AT", None)
    reuse_before = sandbox.refresh_reuse("oauth2")
    go = tmp_path / "go"
    nxt, ready = start(raw, env, go)  # the next process on this host: it asks when told to go

    # 1. The holder, killed at the point.
    if point == "sent":  # killed while its request is at the vendor, which answers after the kill
        sandbox.set_delay(SENT_DELAY, "oauth2")
        until_said(ready, nxt, "ready")  # the kill comes the moment the request arrives
        before = sandbox.token_requests("oauth2")
        holder, _ = start(raw, env)
        wait_for(lambda: sandbox.token_requests("oauth2") > before, "the refresh reached the vendor")
        kill(holder)
        killed = time.time()
        rotated = first.refresh_token.get_secret_value()  # type: ignore[union-attr]
        wait_for(lambda: sandbox.refresh_token_spent("oauth2", rotated), "the vendor rotated it")
        sandbox.set_delay(0, "oauth2")
    else:
        holder, lines = start(raw, {**env, "VENDORTOKENS_PAUSE_AT": point})
        until_said(lines, holder, "vendortokens: paused at")
        until_said(ready, nxt, "ready")
        kill(holder)
        killed = time.time()

    # 2. The next process asks at once.
    go.touch()
    out, _ = nxt.communicate(timeout=180)
    assert nxt.returncode == 0, out
    got = json.loads(out.strip().splitlines()[-1])

    # 3. Is the grant kept? This process (another host: its own journal) refreshes after it.
    clear_token_cache()
    try:
        block(json.loads(raw)).get_token(force_refresh=True)
        kept = True
    except TokenError as exc:
        kept = False
        assert isinstance(exc, AuthorizationRequiredError), exc
    reused = sandbox.refresh_reuse("oauth2") - reuse_before
    record(
        {
            "store": store,
            "point": POINT_NAMES[point],
            "grace": f"{grace:g} s" if grace else "none",
            "next": got["got"],
            "seconds": got["seconds"],
            "since_kill": round(got["finished"] - killed, 2),
            "kept": kept,
            "reused": reused,
        }
    )

    assert reused == 0  # no refresh token sent again outside the grace
    assert got["seconds"] < LEASE + 15, got  # the lease plus one refresh (on a loaded machine)
    if point == "sent" and not grace:
        assert got["got"] == "AuthorizationRequiredError" and "died during a refresh" in got["message"]
        assert "authorize" in got["told"] and got["requests"] == 0  # the event; nothing resent
        assert not kept
    else:
        assert got["got"] == "token", got
        assert kept
