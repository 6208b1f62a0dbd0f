"""The measures: token requests under concurrency and over time (counts from the emulation), the
cached-token path per call, and the auth's overhead per API call against a static header.
Timings are medians of interleaved repetitions, in microseconds."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from prefect_vendortokens import clear_token_cache
from prefect_vendortokens.testing import VendorSandbox

from .peers import Account, authlib_atoken, authlib_client, authlib_token, block, httpx_auth, static_headers


def _requests(sandbox: VendorSandbox, run: Callable[[], object]) -> int:
    clear_token_cache()
    before = sandbox.token_requests("oauth2")
    run()
    return sandbox.token_requests("oauth2") - before


def cold_single_flight(
    sandbox: VendorSandbox, account: Account, threads: int = 32, coroutines: int = 256
) -> dict:
    """Token requests when ``threads`` threads and ``coroutines`` coroutines all need a token
    at once from a cold cache (the token endpoint answers in 0.5 s, so they all overlap)."""
    sandbox.set_delay(0.5, "oauth2")

    def together(sync_call: Callable[[], object], async_call: Callable[[], object]) -> None:
        gate = threading.Barrier(threads + 1)

        def thread() -> None:
            gate.wait(30)
            sync_call()

        async def crowd() -> None:
            await asyncio.to_thread(gate.wait, 30)
            await asyncio.gather(*(async_call() for _ in range(coroutines)))  # type: ignore[misc]

        with ThreadPoolExecutor(threads + 1) as pool:
            futures = [pool.submit(thread) for _ in range(threads)]
            futures.append(pool.submit(asyncio.run, crowd()))
            for f in futures:
                f.result(timeout=120)

    def ours() -> None:
        together(lambda: block(account).get_token(), lambda: block(account).aget_token())

    def authlib() -> None:
        sync, asynchronous = authlib_client(account), authlib_client(account, asynchronous=True)
        together(lambda: authlib_token(sync), lambda: authlib_atoken(asynchronous))

    def httpx_auth_peer() -> None:
        auth = httpx_auth(account)
        with httpx.Client(auth=auth) as client:

            async def one() -> None:
                async with httpx.AsyncClient(auth=auth) as aclient:
                    await aclient.get(account.api_url)

            together(lambda: client.get(account.api_url), one)

    try:
        return {
            "ours": _requests(sandbox, ours),
            "authlib": _requests(sandbox, authlib),
            "httpx-auth": _requests(sandbox, httpx_auth_peer),
        }
    finally:
        sandbox.set_delay(0, "oauth2")


def tokens_over_time(sandbox: VendorSandbox, account: Account, seconds: float, threads: int = 16) -> dict:
    """Token requests while ``threads`` threads make API calls for ``seconds`` with 4 s tokens,
    each library used the way its documentation shows (authlib: client.get; httpx-auth: auth=)."""
    sandbox.set_token_lifetime(4, "oauth2")

    def hammer(call: Callable[[], httpx.Response]) -> int:
        deadline = time.monotonic() + seconds
        statuses: list[int] = []

        def loop() -> None:
            while time.monotonic() < deadline:
                statuses.append(call().status_code)

        with ThreadPoolExecutor(threads) as pool:
            for f in [pool.submit(loop) for _ in range(threads)]:
                f.result(timeout=seconds + 60)
        return sum(s != 200 for s in statuses)

    results: dict[str, dict] = {}
    try:
        ours = block(account)
        with ours.get_client() as client:
            failed = {"n": 0}
            results["ours"] = {
                "token_requests": _requests(
                    sandbox, lambda: failed.update(n=hammer(lambda: client.get(account.api_url)))
                )
            }
            results["ours"]["non_200"] = failed["n"]
        client = authlib_client(account)
        client.fetch_token()
        results["authlib"] = {
            "token_requests": 1 + _requests(sandbox, lambda: hammer(lambda: client.get(account.api_url)))
        }
        with httpx.Client(auth=httpx_auth(account)) as plain:
            results["httpx-auth"] = {
                "token_requests": _requests(sandbox, lambda: hammer(lambda: plain.get(account.api_url)))
            }
    finally:
        sandbox.set_token_lifetime(3600, "oauth2")
    return results


def _median_us(call: Callable[[], object], number: int, repeat: int) -> float:
    import timeit

    return statistics.median(t / number * 1e6 for t in timeit.repeat(call, number=number, repeat=repeat))


def cached_per_call(account: Account, number: int = 50_000, repeat: int = 7) -> dict:
    """Microseconds per call when the token is cached and valid."""
    import httpx_auth as ha

    ours = block(account)
    ours.get_token()
    manager = ours.manager()
    client = authlib_client(account)
    client.fetch_token()
    auth = httpx_auth(account)
    with httpx.Client(auth=auth) as plain:
        plain.get(account.api_url)  # fills its cache

    async def manager_async() -> float:
        loop = asyncio.get_running_loop()
        samples = []
        for _ in range(repeat):
            started = loop.time()
            for _ in range(number):
                await manager.aget_token()
            samples.append((loop.time() - started) / number * 1e6)
        return statistics.median(samples)

    return {
        "ours block.get_token": _median_us(ours.get_token, number, repeat),
        "ours manager.get_token": _median_us(manager.get_token, number, repeat),
        "ours manager.aget_token": asyncio.run(manager_async()),
        "authlib ensure_active_token": _median_us(
            lambda: client.ensure_active_token(client.token), number, repeat
        ),
        "httpx-auth token_cache.get_token": _median_us(
            lambda: ha.OAuth2.token_cache.get_token(auth.state, early_expiry=auth.early_expiry),
            number,
            repeat,
        ),
    }


def overhead_per_request(account: Account, requests: int = 300, repeat: int = 7) -> dict:
    """Per loopback API call, microseconds: a static header, then each auth; interleaved
    repetitions on kept-alive connections, medians."""
    ours = block(account)
    token = ours.get_token().secret()
    alib = authlib_client(account)
    alib.fetch_token()
    clients = {
        "static header": httpx.Client(headers=static_headers(token)),
        "ours": ours.get_client(),
        "authlib": alib,
        "httpx-auth": httpx.Client(auth=httpx_auth(account)),
    }
    samples: dict[str, list[float]] = {name: [] for name in clients}
    try:
        for client in clients.values():
            client.get(account.api_url)  # connect and fill caches
        for _ in range(repeat):
            for name, client in clients.items():
                started = time.perf_counter()
                for _ in range(requests):
                    client.get(account.api_url)
                samples[name].append((time.perf_counter() - started) / requests * 1e6)
    finally:
        for client in clients.values():
            client.close()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["static header"]
    return {
        name: {"us_per_request": value, "overhead_us": value - base, "ratio": value / base}
        for name, value in medians.items()
    }


async def overhead_per_request_async(account: Account, requests: int = 300, repeat: int = 7) -> dict:
    ours = block(account)
    token = (await ours.aget_token()).secret()
    alib = authlib_client(account, asynchronous=True)
    await alib.fetch_token()
    clients = {
        "static header": httpx.AsyncClient(headers=static_headers(token)),
        "ours": ours.get_async_client(),
        "authlib": alib,
    }
    samples: dict[str, list[float]] = {name: [] for name in clients}
    try:
        for client in clients.values():
            await client.get(account.api_url)
        for _ in range(repeat):
            for name, client in clients.items():
                started = time.perf_counter()
                for _ in range(requests):
                    await client.get(account.api_url)
                samples[name].append((time.perf_counter() - started) / requests * 1e6)
    finally:
        for client in clients.values():
            await client.aclose()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["static header"]
    return {
        name: {"us_per_request": value, "overhead_us": value - base, "ratio": value / base}
        for name, value in medians.items()
    }


def _flow_cost(
    auth: httpx.Auth, url: str, number: int, repeat: int, before: Callable[[], object] = lambda: None
) -> float:
    """Microseconds for one request through ``auth``'s flow: build the request, take the header,
    answer 200. No network, so what remains is the auth's own cost."""
    ok = httpx.Response(200)

    def one() -> None:
        before()
        request = httpx.Request("GET", url)
        flow = auth.sync_auth_flow(request)
        next(flow)
        with contextlib.suppress(StopIteration):
            flow.send(ok)

    return _median_us(one, number, repeat)


def auth_flow_overhead(account: Account, number: int = 20_000, repeat: int = 7) -> dict:
    """The auth's own cost per request, without the network that drowns it end to end (a
    loopback call takes ~700 us here, its noise is tens of microseconds)."""
    ours = block(account)
    ours.get_token()
    alib = authlib_client(account)
    alib.fetch_token()
    ha_auth = httpx_auth(account)
    with httpx.Client(auth=ha_auth) as plain:
        plain.get(account.api_url)
    token = ours.get_token().secret()

    class Static(httpx.Auth):
        def auth_flow(self, request: httpx.Request):  # type: ignore[override]
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    costs = {
        "static header": _flow_cost(Static(), account.api_url, number, repeat),
        "ours": _flow_cost(ours.auth(), account.api_url, number, repeat),
        # what OAuth2Client.request does per call: keep the token active, then its OAuth2Auth
        "authlib": _flow_cost(
            alib.token_auth, account.api_url, number, repeat, lambda: alib.ensure_active_token(alib.token)
        ),
        "httpx-auth": _flow_cost(ha_auth, account.api_url, number, repeat),
    }
    base = costs["static header"]
    return {name: {"us_per_request": value, "overhead_us": value - base} for name, value in costs.items()}
