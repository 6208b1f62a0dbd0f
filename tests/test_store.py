"""Shared token stores: tokens shared by processes and flow runs, one refresh at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from prefect_vendortokens import TokenManager, VaultCredentials
from prefect_vendortokens.blocks import account
from prefect_vendortokens.stores.codec import dump_token, load_token
from prefect_vendortokens.stores.prefect_block import PrefectTokenStore, StoredVendorToken
from prefect_vendortokens.stores.vault_kv import VaultTokenStore
from prefect_vendortokens.testing import OpenBao

from .conftest import block_for

ROOT = Path(__file__).resolve().parents[1]


def separate_managers(block, n: int) -> list[TokenManager]:
    """``n`` managers of one account that share nothing but the store: ``n`` processes."""
    return [
        TokenManager(
            account.cache_key(block), account.client_source(block), store=account.store(block), label=f"p{i}"
        )
        for i in range(n)
    ]


def test_stored_form_round_trips() -> None:
    from datetime import UTC, datetime, timedelta

    from pydantic import SecretStr

    from prefect_vendortokens import AccessToken, ExpirySource

    now = datetime.now(UTC)
    token = AccessToken(
        access_token=SecretStr("a"),
        refresh_token=SecretStr("r"),
        scope="x y",
        issued_at=now,
        expires_at=now + timedelta(seconds=5),
        expiry_source=ExpirySource.EXPIRES_IN,
        vendor="slashid",
    )
    back = load_token(dump_token(token))
    assert back == token and back.refresh_token.get_secret_value() == "r"
    assert load_token("not json") is None


def test_prefect_store_shares_tokens_between_processes(prefect_server, sandbox) -> None:
    block = block_for(sandbox, "sqr", token_store="prefect")
    first, second = separate_managers(block, 2)
    token = first.get_token()
    assert second.get_token().fingerprint == token.fingerprint
    assert sandbox.token_requests("sqr") == 1 and second.requests == 0
    # stored encrypted: the token is in the database only as ciphertext
    assert prefect_server.scan([token.secret()]) == []


def test_prefect_store_updates_in_place(prefect_server, sandbox, monkeypatch) -> None:
    """The second write of a process takes the one-call update path; it must round-trip."""
    block = block_for(sandbox, "sqr")
    first, second = block.get_token(), block.get_token(force_refresh=True)
    writer = PrefectTokenStore()
    writer.write("in-place", first)

    def no_second_save(*args, **kwargs):
        raise AssertionError("the second write must be the one-call update, not a save")

    monkeypatch.setattr(StoredVendorToken, "save", no_second_save)
    writer.write("in-place", second)  # the fast path; a failed update would fall back to save
    assert PrefectTokenStore().read("in-place").fingerprint == second.fingerprint


async def test_prefect_store_async(prefect_server, sandbox) -> None:
    block = block_for(sandbox, "cobee", token_store="prefect")
    first, second = separate_managers(block, 2)
    token = await first.aget_token()
    assert (await second.aget_token()).fingerprint == token.fingerprint
    assert sandbox.token_requests("cobee") == 1


def test_four_processes_one_token_request(prefect_server, sandbox, tmp_path) -> None:
    from prefect.settings import PREFECT_API_URL

    sandbox.set_delay(1.0, "sqod")  # all four are waiting while the one request is in flight
    block_for(sandbox, "sqod", token_store="prefect").save("xproc-sqod", overwrite=True)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, str(ROOT / "tests/workers/need_token.py"), "xproc-sqod", str(tmp_path), "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    assert sandbox.token_requests("sqod") == 1
    assert len({o["fingerprint"] for o in outputs}) == 1
    assert sorted(o["requests"] for o in outputs) == [0, 0, 0, 1]


@pytest.mark.parametrize("store", ["prefect", "vault"])
def test_rotated_refresh_token_is_never_sent_twice(prefect_server, sandbox, store) -> None:
    """Four processes refused the same token at once (a revocation, or its expiry): one of them
    refreshes and rotates the refresh token, the others take the stored result.

    Each round is triggered by the refused token, not by waiting for it to expire, so a slow
    machine cannot turn a waiter's late read of a short-lived token into a second refresh."""
    with OpenBao() as bao:
        kwargs = {"token_store": store}
        if store == "vault":
            kwargs["token_store_vault"] = VaultCredentials(address=bao.address, token="root")
        block = block_for(sandbox, "slashid", **kwargs)
        refused = separate_managers(block, 1)[0].get_token()  # warm-up: block type, lock, first token
        assert refused.refresh_token is not None
        processes = separate_managers(block, 4)
        rounds = 3
        for _ in range(rounds):
            sandbox.revoke_all("slashid")
            with ThreadPoolExecutor(max_workers=4) as pool:
                tokens = list(pool.map(lambda m, r=refused: m.get_token(rejected=r), processes))
            assert len({t.fingerprint for t in tokens}) == 1
            assert tokens[0].fingerprint != refused.fingerprint
            refused = tokens[0]
        assert sandbox.token_requests("slashid") == 1 + rounds  # one fetch, then one refresh per round
        assert sandbox.refresh_reuse("slashid") == 0
        assert sum(m.requests for m in processes) == rounds


def test_vault_store_check_and_set(sandbox) -> None:
    with OpenBao() as bao:
        vault = VaultCredentials(address=bao.address, token="root")
        writer, stale = VaultTokenStore(vault.session()), VaultTokenStore(vault.session())
        token = block_for(sandbox, "sqr", token_store="memory").get_token()
        assert writer.read("acct") is None and stale.read("acct") is None
        writer.write("acct", token)
        newer = block_for(sandbox, "sqr", token_store="memory", scopes=["x"]).get_token()
        stale.write("acct", newer)  # based on version 0: check-and-set refuses it
        assert writer.read("acct").fingerprint == token.fingerprint
        data = bao.root().secrets.kv.v2.read_secret_version(
            "prefect-vendortokens/tokens/acct", mount_point="secret", raise_on_deleted_version=True
        )["data"]
        assert data["metadata"]["version"] == 1 and data["data"]["fingerprint"] == token.fingerprint


def test_unreadable_store_degrades_to_own_token(sandbox, caplog) -> None:
    """A store that fails every read and write: the manager still gets a token (its own), warns
    without echoing the store's error text, and releases the lock it took."""
    released: list[str] = []

    class Lease:
        def release(self) -> None:
            released.append("released")

    class BrokenStore:
        name = "broken"

        def __init__(self) -> None:
            self.lock = self

        def try_acquire(self, key: str) -> Lease:
            return Lease()

        def read(self, key: str) -> None:
            raise ConnectionError("store down at https://user:pw-canary@store")

        def write(self, key: str, token: object) -> None:
            raise ConnectionError("store down at https://user:pw-canary@store")

    block = block_for(sandbox, "oauth2")
    manager = TokenManager(
        account.cache_key(block), account.client_source(block), store=BrokenStore(), label="broken"
    )
    assert manager.get_token().is_valid()
    assert manager.requests == 1 and released == ["released"]
    assert "broken store failed (reading the token: ConnectionError); using this process's own" in caplog.text
    assert (
        "broken store failed (writing the token: ConnectionError); the new token is not shared" in caplog.text
    )
    assert "pw-canary" not in caplog.text


def test_a_token_whose_write_failed_is_shared_again_or_reported(sandbox) -> None:
    """A flow goes on with a token its store write lost (it still has it), but for the rotation
    that token is the point: ``share()`` writes it once more under the lock, or raises."""
    from prefect_vendortokens.core.errors import TokenStoreError

    class Lease:
        def release(self) -> None:
            pass

    class FlakyStore:
        name = "flaky"

        def __init__(self, failures: int) -> None:
            self.lock, self.failures, self.stored = self, failures, None

        def try_acquire(self, key: str) -> Lease:
            return Lease()

        def read(self, key: str) -> object:
            return self.stored

        def write(self, key: str, token: object) -> None:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("store down")
            self.stored = token

    block = block_for(sandbox, "oauth2")
    once = FlakyStore(failures=1)
    manager = TokenManager(account.cache_key(block), account.client_source(block), store=once, label="flaky")
    token = manager.get_token()
    assert once.stored is None and manager.unshared is token  # the flow went on without it
    manager.share()
    assert once.stored is token and manager.unshared is None and manager.requests == 1

    down = FlakyStore(failures=99)
    manager = TokenManager(account.cache_key(block), account.client_source(block), store=down, label="down")
    manager.get_token()
    with pytest.raises(TokenStoreError, match="flaky store failed"):
        manager.share()
    assert manager.unshared is not None  # the next share() tries again


def test_the_vault_store_brings_its_own_lock_no_prefect_server(sandbox) -> None:
    """Four processes refused the same token, with the Vault store and no Prefect API reachable:
    the Vault lock alone lets one of them refresh; the others take what it wrote."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with OpenBao() as bao, temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        vault = VaultCredentials(address=bao.address, token="root")
        block = block_for(sandbox, "slashid", token_store="vault", token_store_vault=vault)
        refused = separate_managers(block, 1)[0].get_token()
        sandbox.revoke_all("slashid")
        processes = separate_managers(block, 4)
        with ThreadPoolExecutor(max_workers=4) as pool:
            tokens = list(pool.map(lambda m: m.get_token(rejected=refused), processes))
        assert len({t.fingerprint for t in tokens}) == 1 and tokens[0].fingerprint != refused.fingerprint
        assert sum(m.requests for m in processes) == 1 and sandbox.refresh_reuse("slashid") == 0
        lock = bao.root().secrets.kv.v2.read_secret_version(
            path=f"prefect-vendortokens/tokens/locks/{processes[0].store_key[:40]}",
            mount_point="secret",
            raise_on_deleted_version=True,
        )
        assert lock["data"]["data"]["holder"] == ""  # released


def test_a_vault_lock_whose_lease_ended_can_be_taken_over() -> None:
    """The lease is the only way a crashed holder's lock frees itself; a fake clock moves it."""
    from prefect_vendortokens.stores.base import LOCK_LEASE
    from prefect_vendortokens.stores.vault_kv import VaultLock

    with OpenBao() as bao:
        vault = VaultCredentials(address=bao.address, token="root")
        now = [1_000_000.0]
        lock = VaultLock(vault.session(), "secret", "vt-test", clock=lambda: now[0])
        crashed = lock.try_acquire("acct")
        assert crashed is not None and lock.try_acquire("acct") is None  # held
        now[0] += LOCK_LEASE + 1
        taker = lock.try_acquire("acct")
        assert taker is not None  # the lease ended
        crashed.release()  # late: refused by check-and-set, so the taker still holds it
        assert lock.try_acquire("acct") is None
        taker.release()
        assert lock.try_acquire("acct") is not None


def test_a_lock_taken_after_we_stopped_waiting_is_released(sandbox, monkeypatch) -> None:
    """A lock call that outlives its bound (a stalled server that answers later) must not leave
    the lock taken: nobody would release it, and every process would wait out its lease."""
    import threading

    from prefect_vendortokens.engine import manager as manager_module

    monkeypatch.setattr(manager_module, "STORE_CALL_TIMEOUT", 0.3)
    released = threading.Event()

    class Lease:
        def release(self) -> None:
            released.set()

    class StallingStore:
        name = "stalling"

        def __init__(self) -> None:
            self.lock = self

        def try_acquire(self, key: str) -> Lease:
            threading.Event().wait(1.0)  # answers, but after the bound
            return Lease()

        def read(self, key: str) -> None:
            return None

        def write(self, key: str, token: object) -> None:
            pass

    block = block_for(sandbox, "oauth2")
    manager = TokenManager(
        account.cache_key(block), account.client_source(block), store=StallingStore(), label="stalling"
    )
    assert manager.get_token().is_valid()  # a new grant without the lock
    assert released.wait(10), "the late lock was never released"


def test_a_dead_holders_prefect_lock_frees_itself_after_the_lease(prefect_server, monkeypatch) -> None:
    """The slot decays by itself one lease after it was taken (its row, not Prefect's in-memory
    lease storage, keeps the lease), and waiters that peek meanwhile do not prolong it."""
    import time

    from prefect_vendortokens.stores.prefect_lock import PrefectLock

    monkeypatch.setenv("VENDORTOKENS_LOCK_LEASE", "2")
    lock = PrefectLock()
    dead = lock.try_acquire("decaying-lock")  # its holder never releases it
    assert dead is not None
    started = time.monotonic()
    taken = None
    while taken is None and time.monotonic() - started < 10:
        taken = lock.try_acquire("decaying-lock")  # peeks at the limit, never bumps its row
        if taken is None:
            time.sleep(0.1)
    waited = time.monotonic() - started
    assert taken is not None and 1.0 < waited < 4.0, waited
    assert lock.try_acquire("decaying-lock") is None  # the new holder has it
    taken.release()
    assert lock.try_acquire("decaying-lock") is not None


def test_a_batch_holds_many_prefect_locks_in_one_call_all_or_none(prefect_server) -> None:
    """``hold``: every lock of a group in one call, its accounts' own takes answered by the
    batch, one release for all. One lock held elsewhere: nothing is held (and nothing taken
    is left behind), so each account takes its own lock as usual."""
    from prefect_vendortokens.stores.prefect_lock import HeldLease, HeldLocks, PrefectLease, PrefectLock

    lock = PrefectLock()
    elsewhere = lock.try_acquire("batch-b")
    assert isinstance(elsewhere, PrefectLease)
    assert PrefectLock.hold(["batch-a", "batch-b"]) is None
    free = lock.try_acquire("batch-a")
    assert isinstance(free, PrefectLease)  # the refused batch left batch-a free
    free.release()
    elsewhere.release()

    PrefectLock.list_limits(["batch-a", "batch-c"])  # one listing: batch-c's limit is made by hold
    held = PrefectLock.hold(["batch-a", "batch-c"])
    assert isinstance(held, HeldLocks)
    assert isinstance(lock.try_acquire("batch-c"), HeldLease)  # the batch's, released with it
    held.release()
    again = lock.try_acquire("batch-c")  # held by nobody now: this process's own lease
    assert isinstance(again, PrefectLease)
    assert PrefectLock.hold(["batch-a", "batch-c"]) is None  # held elsewhere (by `again`)
    again.release()
