"""The consent's own checks, with a real loopback listener and no server behind the
authorization URL: the "browser" here answers the redirect itself."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from prefect_vendortokens import AuthorizationError, TokenClient
from prefect_vendortokens.engine.consent import run_consent


def client() -> TokenClient:
    return TokenClient(
        "oauth2", "https://idp.test/token", "app", "secret", authorization_url="https://idp.test/authorize"
    )


def answering(**params: str):
    """A browser that comes back to the redirect URI with ``params`` ("{state}" = the real one)."""

    def show(url: str) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        sent = {k: query["state"] if v == "{state}" else v for k, v in params.items()}
        answer = httpx.get(f"{query['redirect_uri']}?{urlencode(sent)}", timeout=5)
        assert answer.status_code in (200, 400)
        assert "no-store" in answer.headers["cache-control"]

    return show


def test_a_forged_state_is_refused_before_any_exchange() -> None:
    with pytest.raises(AuthorizationError, match="state does not match"):
        run_consent(client(), show_url=answering(code="c", state="forged"), timeout=10)


def test_the_servers_refusal_is_typed_with_its_code() -> None:
    with pytest.raises(AuthorizationError, match="access_denied: the user said no") as refused:
        run_consent(
            client(),
            show_url=answering(error="access_denied", error_description="the user said no", state="{state}"),
            timeout=10,
        )
    assert refused.value.vendor_code == "access_denied"


def test_no_redirect_within_the_deadline() -> None:
    with pytest.raises(AuthorizationError, match="no redirect reached"):
        run_consent(client(), show_url=lambda url: None, timeout=0.5)


def test_a_busy_port_says_to_choose_another() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(AuthorizationError, match="choose another port"):
            run_consent(client(), show_url=lambda url: None, port=busy.getsockname()[1], timeout=1)


def test_the_url_carries_pkce_state_and_extra_parameters() -> None:
    seen: list[str] = []

    def show(url: str) -> None:
        seen.append(url)
        answering(code="c", state="wrong")(url)

    with pytest.raises(AuthorizationError):
        run_consent(
            client(), show_url=show, extra_params={"prompt": "consent", "audience": "api"}, timeout=10
        )
    query = {k: v[0] for k, v in parse_qs(urlsplit(seen[0]).query).items()}
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and query["prompt"] == "consent" and query["audience"] == "api"
    assert query["redirect_uri"].startswith("http://127.0.0.1:") and query["redirect_uri"].endswith(
        "/callback"
    )


# --- the device flow's driver (RFC 8628) on a fake clock ---------------------------------------


def _device_server(answers: list[tuple[int, dict]]) -> tuple[httpx.MockTransport, list[str]]:
    """A device endpoint and a token endpoint that answers ``answers`` in turn."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/device":
            return httpx.Response(
                200,
                json={
                    "device_code": "dev-CANARY-code",
                    "user_code": "WDJB-MJHT",
                    "verification_uri": "https://idp.test/device",
                    "expires_in": 60,
                    "interval": 2,
                },
            )
        status, body = answers.pop(0)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle), seen


def _device_client(transport: httpx.MockTransport) -> TokenClient:
    return TokenClient(
        "oauth2",
        "https://idp.test/token",
        "cli",
        "sec",
        grant="device_code",
        device_authorization_url="https://idp.test/device",
        transport=transport,
    )


def test_device_consent_polls_at_the_interval_and_slows_down() -> None:
    from prefect_vendortokens.engine.consent import run_device_consent

    pending, slow = (400, {"error": "authorization_pending"}), (400, {"error": "slow_down"})
    token = (200, {"access_token": "at", "token_type": "Bearer", "expires_in": 60, "refresh_token": "rt"})
    transport, seen = _device_server([pending, slow, pending, token])
    now, waits, shown = [0.0], [], []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    got = run_device_consent(
        _device_client(transport), show=shown.append, clock=lambda: now[0], sleep=sleep, timeout=300
    )
    assert got.refresh_token is not None and shown[0].user_code == "WDJB-MJHT"
    assert waits == [2.0, 2.0, 7.0, 7.0]  # the interval, then +5 s for good after slow_down
    assert seen == ["/device", "/token", "/token", "/token", "/token"]
    assert "CANARY" not in repr(shown[0])


def test_device_consent_stops_on_denial_and_at_its_timeout() -> None:
    from prefect_vendortokens.core.errors import DeviceAuthorizationDeniedError, DeviceCodeExpiredError
    from prefect_vendortokens.engine.consent import run_device_consent

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    transport, _ = _device_server([(400, {"error": "access_denied"})])
    with pytest.raises(DeviceAuthorizationDeniedError) as denied:
        run_device_consent(_device_client(transport), show=lambda a: None, clock=lambda: now[0], sleep=sleep)
    assert "CANARY" not in str(denied.value)
    transport, seen = _device_server([(400, {"error": "authorization_pending"})] * 100)
    with pytest.raises(DeviceCodeExpiredError):  # --timeout 9 beats the code's 60 s
        run_device_consent(
            _device_client(transport), show=lambda a: None, clock=lambda: now[0], sleep=sleep, timeout=9
        )
    assert seen.count("/token") == 4  # at 2, 4, 6 and 8 s; the one at 10 s would be past 9 s
