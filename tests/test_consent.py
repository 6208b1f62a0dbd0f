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
