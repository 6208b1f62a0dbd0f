"""The token tasks in flows: retries only where they help, nothing secret persisted."""

from __future__ import annotations

import time

import pytest
from prefect import flow

from prefect_vendortokens import CredentialsRejectedError, RetryPolicy
from prefect_vendortokens.tasks.tokens import afetch_token, aget_token, fetch_token, get_token, refresh_token

from .conftest import block_for


def test_tasks_get_fetch_refresh(prefect_server, sandbox) -> None:
    block_for(sandbox, "slashid").save("task-slashid", overwrite=True)

    @flow
    def tokens() -> list[str]:
        a = get_token("task-slashid")
        b = get_token("task-slashid")  # cached in the process: no new request
        c = refresh_token("task-slashid")  # refresh grant
        d = fetch_token("task-slashid")  # a fresh client-credentials grant
        return [t.fingerprint for t in (a, b, c, d)]

    a, b, c, d = tokens()
    assert a == b and len({a, c, d}) == 3
    assert sandbox.token_requests("slashid") == 3


async def test_async_tasks(prefect_server, sandbox) -> None:
    block = block_for(sandbox, "sqr")

    @flow
    async def tokens() -> tuple[str, str]:
        first = await aget_token(block)
        second = await afetch_token(block)
        return first.fingerprint, second.fingerprint

    first, second = await tokens()
    assert first != second and sandbox.token_requests("sqr") == 2


def test_rate_limited_task_waits_and_succeeds(prefect_server, sandbox) -> None:
    sandbox.fail_next("cobee", 1, status=429, retry_after=1)
    block = block_for(sandbox, "cobee")

    @flow
    def rate_limited() -> str:
        return get_token(block).fingerprint

    assert rate_limited().startswith("sha256:")
    assert sandbox.token_requests("cobee") == 2
    assert "Rate limit exceeded, retry in 1 seconds" in prefect_server.log_text()


def test_unavailable_is_retried_with_backoff(prefect_server, sandbox) -> None:
    sandbox.fail_next("sqod", 2, status=503)
    block = block_for(sandbox, "sqod")

    @flow
    def flaky() -> str:
        # waits over 1 s: within the manager's failure window (1 s) a retry would get the same error
        return get_token(block, retry_policy=RetryPolicy(attempts=3, base=1.05, jitter=0.1)).fingerprint

    assert flaky().startswith("sha256:")
    assert sandbox.token_requests("sqod") == 3


def test_rejected_credentials_fail_at_once_and_leave_no_secret(prefect_server, sandbox) -> None:
    wrong = "sqr-WRONG-secret-CANARY-7f3a9"
    block = block_for(sandbox, "sqr", client_secret=wrong)
    block.save("task-sqr-wrong", overwrite=True)

    @flow
    def rejected() -> str:
        return get_token("task-sqr-wrong").fingerprint

    with pytest.raises(CredentialsRejectedError) as info:
        rejected()
    assert sandbox.token_requests("sqr") == 1  # no retries
    assert "invalid_client" in str(info.value) and wrong not in str(info.value)
    assert "invalid_client" in prefect_server.log_text()  # the failure was recorded…
    assert prefect_server.scan([wrong, *sandbox.issued_secrets()]) == []  # …without any secret


def test_the_scan_finds_a_planted_canary(prefect_server) -> None:
    """The scans above can fail: a canary that does reach the database is found."""
    from prefect import get_run_logger

    canary = "planted-CANARY-5b1e0c"

    @flow
    def leaky() -> None:
        get_run_logger().info("oops %s", canary)

    leaky()
    assert prefect_server.scan([canary]) != []


def test_persist_by_default_stores_no_token(prefect_server, sandbox) -> None:
    from prefect.settings import PREFECT_RESULTS_PERSIST_BY_DEFAULT, temporary_settings

    block = block_for(sandbox, "slashid")
    before = {p for p in prefect_server.storage.rglob("*") if p.is_file()}

    @flow
    def returns_the_token():
        return get_token(block)  # the flow's own result is persisted (pickled) here

    with temporary_settings({PREFECT_RESULTS_PERSIST_BY_DEFAULT: True}):
        token = returns_the_token()
    assert token.redacted is False  # in memory the caller still has the real token
    written = {p for p in prefect_server.storage.rglob("*") if p.is_file()} - before
    assert written, "the flow result should have been persisted"
    assert prefect_server.scan(sandbox.issued_secrets()) == []


def test_the_scan_decodes_persisted_results_and_reads_events(prefect_server) -> None:
    """A canary in a persisted task result (a base64 pickle inside a JSON file, invisible to a
    raw grep) and one in an event payload are both found: the scans above can fail there too."""
    from prefect import task
    from prefect.events import emit_event
    from prefect.settings import PREFECT_RESULTS_PERSIST_BY_DEFAULT, temporary_settings

    in_result, in_event = "result-CANARY-9d1f2e", "event-CANARY-4c7a0b"

    @task(persist_result=True)
    def leak() -> dict:
        return {"value": in_result}

    @flow
    def leaky() -> None:
        leak()
        emit_event(
            event="vendortokens.test.canary",
            resource={"prefect.resource.id": "test"},
            payload={"v": in_event},
        )

    before = {p for p in prefect_server.storage.rglob("*") if p.is_file()}
    with temporary_settings({PREFECT_RESULTS_PERSIST_BY_DEFAULT: True}):
        leaky()
    written = [p for p in prefect_server.storage.rglob("*") if p.is_file() and p not in before]
    assert written and all(in_result.encode() not in p.read_bytes() for p in written)  # encoded on disk
    names = tuple(p.name for p in written)
    assert any(h.startswith(names) for h in prefect_server.scan([in_result])), written
    deadline = time.monotonic() + 30  # the server writes events to its database in batches
    while not [h for h in prefect_server.scan([in_event]) if h.startswith("events")]:
        assert time.monotonic() < deadline, "the event never reached the database"
        time.sleep(0.5)
