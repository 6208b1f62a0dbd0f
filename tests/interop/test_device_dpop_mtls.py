"""The pure core against a real third-party server (panva/oidc-provider), driven only by the core
and plain httpx, as the engine will drive it: the device authorization grant (the test plays the
person on the provider's pages), DPoP-bound tokens with the server's nonces at the token endpoint
and at userinfo, and certificate-bound tokens over mutual TLS (a test CA made in the test)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from prefect_vendortokens import AccessToken, CredentialsRejectedError, get_dialect
from prefect_vendortokens.core.device import (
    DeviceAuthorization,
    DevicePoll,
    parse_device_authorization,
    qr_text,
)
from prefect_vendortokens.core.dialect import TokenDialect
from prefect_vendortokens.core.dpop import (
    DPoPKey,
    dpop_nonce,
    resource_nonce_challenge,
    token_nonce_challenge,
    with_dpop,
)
from prefect_vendortokens.core.errors import DeviceAuthorizationDeniedError, DeviceCodeExpiredError
from prefect_vendortokens.core.mtls import certificate_thumbprint, client_tls_context
from prefect_vendortokens.core.request import (
    ClientCredentials,
    ClientCredentialsGrant,
    DeviceCodeGrant,
    RefreshGrant,
    TokenRequest,
    build_device_authorization_request,
    build_token_request,
)
from prefect_vendortokens.core.response import parse_token_response

from .conftest import Interop

BASIC = get_dialect("oauth2")
PUBLIC = get_dialect("oauth2", client_auth="none")
MTLS = get_dialect("oauth2", client_auth="tls_client_auth")
SELF_SIGNED = get_dialect("oauth2", client_auth="self_signed_tls_client_auth")


class Nonces:
    """The last DPoP-Nonce the server gave (what the engine keeps per server)."""

    value: str | None = None


def metadata(interop: Interop) -> dict:
    return httpx.get(interop.issuer + "/.well-known/openid-configuration", timeout=10).json()


def send(
    http: httpx.Client,
    dialect: TokenDialect,
    request: TokenRequest,
    *,
    dpop: DPoPKey | None = None,
    nonces: Nonces | None = None,
) -> tuple[httpx.Response, datetime, TokenRequest]:
    """One token request; with DPoP, a fresh proof, and one retry when the server asks for a
    nonce (RFC 9449 8)."""
    for _ in range(2):
        sending = request
        if dpop is not None:
            nonce = nonces.value if nonces else None
            proof = dpop.proof(method=request.method, url=request.url, now=int(time.time()), nonce=nonce)
            sending = with_dpop(request, proof)
        sent_at = datetime.now(UTC)
        answer = http.request(sending.method, sending.url, headers=sending.headers, content=sending.content)
        if dpop is not None and nonces is not None:
            challenge = token_nonce_challenge(answer.status_code, answer.headers, answer.content)
            nonces.value = challenge or dpop_nonce(answer.headers) or nonces.value
            if challenge:
                continue
        return answer, sent_at, sending
    raise AssertionError("the server asked for a DPoP nonce twice")


def fetch(
    http: httpx.Client, dialect: TokenDialect, request: TokenRequest, token_url: str, **dpop
) -> AccessToken:
    answer, sent_at, sent = send(http, dialect, request, **dpop)
    return parse_token_response(
        dialect,
        status=answer.status_code,
        headers=answer.headers,
        body=answer.content,
        sent_at=sent_at,
        token_url=token_url,
        secrets=sent.secrets,
    )


def authorize_device(
    http: httpx.Client, dialect: TokenDialect, creds: ClientCredentials, url: str
) -> DeviceAuthorization:
    request = build_device_authorization_request(dialect, creds, url=url)
    answer = http.request(request.method, request.url, headers=request.headers, content=request.content)
    return parse_device_authorization(
        dialect,
        status=answer.status_code,
        headers=answer.headers,
        body=answer.content,
        url=url,
        secrets=request.secrets,
    )


def poll_for_token(
    http: httpx.Client,
    dialect: TokenDialect,
    creds: ClientCredentials,
    authorization: DeviceAuthorization,
    *,
    on_pending: Callable[[], None],
    check: Callable[[], None] = lambda: None,
    **dpop,
) -> tuple[AccessToken, DevicePoll]:
    """The engine's loop from core/device.py: sleep as the state says, poll, decide. The person
    is called in (``on_pending``) at the first authorization_pending, so at least one is real."""
    poll = DevicePoll.start(authorization, now=time.monotonic(), vendor=dialect.name)
    called = False
    for _ in range(60):  # bounded: the code lives 10 minutes, the interval is 1 s
        time.sleep(poll.delay(now=time.monotonic()))
        check()
        request = build_token_request(dialect, creds, DeviceCodeGrant(authorization.device_code))
        answer, sent_at, sent = send(http, dialect, request, **dpop)
        outcome = poll.answer(
            dialect,
            status=answer.status_code,
            headers=answer.headers,
            body=answer.content,
            sent_at=sent_at,
            now=time.monotonic(),
            token_url=creds.token_url,
            secrets=sent.secrets,
        )
        if isinstance(outcome, AccessToken):
            return outcome, poll
        poll = outcome
        if not called:
            called = True
            on_pending()
    raise AssertionError("no token after 60 polls")


class Person:
    """The person, on a phone: opens the complete verification URI and approves (or denies), in
    a thread while the device keeps polling. ``pages`` holds the last page, ``errors`` what
    went wrong (the polling loop stops on it)."""

    def __init__(self, interop: Interop, authorization: DeviceAuthorization, **kwargs) -> None:
        self.pages: list[str] = []
        self.errors: list[BaseException] = []

        def play() -> None:
            try:
                self.pages.append(interop.server.play_device(authorization.link, **kwargs))
            except BaseException as exc:  # reported by check()
                self.errors.append(exc)

        self._thread = threading.Thread(target=play, daemon=True)

    def __call__(self) -> None:
        self._thread.start()

    def check(self) -> None:
        if self.errors:
            raise AssertionError("the person could not finish the pages") from self.errors[0]


def server_said(interop: Interop, text: str, wait: float = 5.0) -> bool:
    """The provider logged ``text`` (its stderr, read by a thread: a bounded wait)."""
    deadline = time.monotonic() + wait
    while text not in interop.server.log():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def userinfo(http: httpx.Client, url: str, headers: dict[str, str]) -> httpx.Response:
    return http.get(url, headers=headers)


def test_discovery_publishes_the_device_endpoint_dpop_and_mtls_aliases(interop: Interop) -> None:
    doc = metadata(interop)
    assert doc["device_authorization_endpoint"] == interop.issuer + "/device/auth"
    assert "ES256" in doc["dpop_signing_alg_values_supported"]
    assert doc["tls_client_certificate_bound_access_tokens"] is True
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(
        doc["token_endpoint_auth_methods_supported"]
    )
    assert doc["mtls_endpoint_aliases"]["token_endpoint"] == interop.server.mtls + "/token"


def test_device_flow_of_a_confidential_client_then_userinfo_and_refresh(interop: Interop) -> None:
    doc = metadata(interop)
    creds = ClientCredentials(
        doc["token_endpoint"], "device-client", SecretStr("device-secret"), ("openid", "offline_access")
    )
    with httpx.Client(timeout=10) as http:
        authorization = authorize_device(http, BASIC, creds, doc["device_authorization_endpoint"])
        assert authorization.verification_uri == interop.issuer + "/device"
        assert authorization.user_code in authorization.link and authorization.interval == 1
        assert len(qr_text(authorization.link).splitlines()) > 10
        phone = Person(interop, authorization)
        token, poll = poll_for_token(http, BASIC, creds, authorization, on_pending=phone, check=phone.check)
        assert "Sign-in Success" in phone.pages[0]
        assert poll.polls >= 1  # the server said authorization_pending at least once
        me = userinfo(http, doc["userinfo_endpoint"], {"Authorization": token.authorization_value()})
        assert me.status_code == 200 and me.json()["sub"] == "alice"
        assert token.refresh_token is not None
        request = build_token_request(BASIC, creds, RefreshGrant(token.refresh_token))
        renewed = fetch(http, BASIC, request, creds.token_url)
        assert renewed.secret() != token.secret()


def test_device_flow_denied_by_the_person(interop: Interop) -> None:
    doc = metadata(interop)
    creds = ClientCredentials(doc["token_endpoint"], "device-public", SecretStr(""), ("openid",))
    with httpx.Client(timeout=10) as http:
        authorization = authorize_device(http, PUBLIC, creds, doc["device_authorization_endpoint"])
        phone = Person(interop, authorization, deny=True)
        with pytest.raises(DeviceAuthorizationDeniedError, match="denied") as denied:
            poll_for_token(http, PUBLIC, creds, authorization, on_pending=phone, check=phone.check)
    assert denied.value.vendor_code == "access_denied"
    assert authorization.device_code.get_secret_value() not in str(denied.value)


def test_device_code_expires_on_our_clock_and_on_the_server(interop: Interop) -> None:
    doc = metadata(interop)
    creds = ClientCredentials(doc["token_endpoint"], "device-short", SecretStr(""), ("openid",))
    with httpx.Client(timeout=10) as http:
        authorization = authorize_device(http, PUBLIC, creds, doc["device_authorization_endpoint"])
        answered = time.monotonic()
        assert authorization.expires_in == 3
        with pytest.raises(DeviceCodeExpiredError, match="expired"):
            poll_for_token(http, PUBLIC, creds, authorization, on_pending=lambda: None)
        assert time.monotonic() - answered < 3  # stopped before the code lapsed: no poll was in time
        # Past its lifetime the server itself says expired_token.
        time.sleep(max(0.0, answered + authorization.expires_in + 0.5 - time.monotonic()))
        poll = DevicePoll.start(authorization, now=time.monotonic())
        request = build_token_request(PUBLIC, creds, DeviceCodeGrant(authorization.device_code))
        answer = http.request(request.method, request.url, headers=request.headers, content=request.content)
        with pytest.raises(DeviceCodeExpiredError) as expired:
            poll.answer(
                PUBLIC,
                status=answer.status_code,
                headers=answer.headers,
                body=answer.content,
                sent_at=datetime.now(UTC),
                now=time.monotonic(),
                token_url=creds.token_url,
            )
    assert expired.value.vendor_code == "expired_token"


def test_dpop_client_credentials_with_the_nonce_retry(interop: Interop) -> None:
    key, nonces = DPoPKey.generate(), Nonces()
    creds = ClientCredentials(
        interop.server.token_endpoint, "dpop-client", SecretStr("dpop-secret"), ("api:read",)
    )
    request = build_token_request(BASIC, creds, ClientCredentialsGrant())
    with httpx.Client(timeout=10) as http:
        first, _, _ = send(http, BASIC, request, dpop=key)  # no nonce yet: the server demands one
        assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce"
        assert token_nonce_challenge(first.status_code, first.headers, first.content)
        token = fetch(http, BASIC, request, creds.token_url, dpop=key, nonces=nonces)
        assert token.token_type == "DPoP" and token.authorization_value().startswith("DPoP ")
        assert nonces.value  # kept for the next request
        # A client registered for DPoP (dpop_bound_access_tokens) gets nothing without a proof.
        with pytest.raises(CredentialsRejectedError, match="invalid_grant"):
            fetch(http, BASIC, request, creds.token_url)
    assert interop.server.introspect(token.secret())["cnf"] == {"jkt": key.thumbprint}


def test_dpop_bound_user_token_at_userinfo_with_the_nonce_challenge(interop: Interop) -> None:
    doc = metadata(interop)
    key, nonces = DPoPKey.generate(), Nonces()
    creds = ClientCredentials(doc["token_endpoint"], "dpop-client", SecretStr("dpop-secret"), ("openid",))
    with httpx.Client(timeout=10) as http:
        authorization = authorize_device(http, BASIC, creds, doc["device_authorization_endpoint"])
        phone = Person(interop, authorization)
        token, _ = poll_for_token(
            http,
            BASIC,
            creds,
            authorization,
            on_pending=phone,
            check=phone.check,
            dpop=key,
            nonces=nonces,
        )
        assert token.token_type == "DPoP"
        url = doc["userinfo_endpoint"]

        def call(proof_key: DPoPKey, nonce: str | None) -> httpx.Response:
            proof = proof_key.proof(
                method="GET", url=url, now=int(time.time()), access_token=token.secret(), nonce=nonce
            )
            return userinfo(http, url, {"Authorization": token.authorization_value(), "DPoP": proof})

        challenged = call(key, None)  # the API wants a nonce too: 401 use_dpop_nonce, then one replay
        api_nonce = resource_nonce_challenge(challenged.status_code, challenged.headers)
        assert challenged.status_code == 401 and api_nonce
        me = call(key, api_nonce)
        assert me.status_code == 200 and me.json()["sub"] == "alice"
        stranger = call(DPoPKey.generate(), dpop_nonce(me.headers) or api_nonce)
        assert stranger.status_code == 401 and 'error="invalid_token"' in stranger.headers["www-authenticate"]
        assert server_said(interop, "failed jkt verification")
        bearer = userinfo(http, url, {"Authorization": f"Bearer {token.secret()}"})
        assert bearer.status_code == 401


def tls(interop: Interop, certificate: str | None, key: str | None) -> httpx.Client:
    """A client that trusts the test CA and presents ``certificate`` (when given)."""
    import ssl

    context = (
        client_tls_context(certificate, SecretStr(key), ca_pem=interop.ca.certificate)
        if certificate and key
        else ssl.create_default_context(cadata=interop.ca.certificate)
    )
    return httpx.Client(verify=context, timeout=10)


def test_mtls_client_credentials_bound_to_the_certificate(interop: Interop) -> None:
    aliases = metadata(interop)["mtls_endpoint_aliases"]
    creds = ClientCredentials(aliases["token_endpoint"], "mtls-client", SecretStr(""), ("api:read",))
    request = build_token_request(MTLS, creds, ClientCredentialsGrant())
    cert = interop.mtls_client
    with tls(interop, cert.certificate, cert.private_key) as http:
        token = fetch(http, MTLS, request, creds.token_url)
    assert interop.server.introspect(token.secret())["cnf"] == {
        "x5t#S256": certificate_thumbprint(cert.certificate)
    }
    for certificate, key in (
        (None, None),
        (interop.self_signed_client.certificate, interop.self_signed_client.private_key),
    ):
        with (
            tls(interop, certificate, key) as http,
            pytest.raises(CredentialsRejectedError, match="invalid_client"),
        ):
            fetch(http, MTLS, request, creds.token_url)


def test_mtls_bound_user_token_at_userinfo(interop: Interop) -> None:
    aliases = metadata(interop)["mtls_endpoint_aliases"]
    creds = ClientCredentials(aliases["token_endpoint"], "mtls-client", SecretStr(""), ("openid",))
    cert = interop.mtls_client
    with tls(interop, cert.certificate, cert.private_key) as http:
        authorization = authorize_device(http, MTLS, creds, aliases["device_authorization_endpoint"])
        assert authorization.verification_uri == interop.server.mtls + "/device"  # the host asked
        phone = Person(interop, authorization, ca=interop.ca.certificate)
        token, _ = poll_for_token(http, MTLS, creds, authorization, on_pending=phone, check=phone.check)
        me = userinfo(http, aliases["userinfo_endpoint"], {"Authorization": token.authorization_value()})
        assert me.status_code == 200 and me.json()["sub"] == "alice"
    other = interop.ca.client("mtls-client")  # the same name, another key: not the bound certificate
    with tls(interop, other.certificate, other.private_key) as http:
        refused = userinfo(http, aliases["userinfo_endpoint"], {"Authorization": token.authorization_value()})
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert server_said(interop, "failed x5t#S256 verification")
    plain = httpx.get(
        metadata(interop)["userinfo_endpoint"], headers={"Authorization": token.authorization_value()}
    )
    assert plain.status_code == 401


def test_self_signed_tls_client_auth(interop: Interop) -> None:
    aliases = metadata(interop)["mtls_endpoint_aliases"]
    creds = ClientCredentials(aliases["token_endpoint"], "self-signed-client", SecretStr(""), ("api:read",))
    request = build_token_request(SELF_SIGNED, creds, ClientCredentialsGrant())
    own = interop.self_signed_client
    with tls(interop, own.certificate, own.private_key) as http:
        token = fetch(http, SELF_SIGNED, request, creds.token_url)
    assert interop.server.introspect(token.secret())["cnf"] == {
        "x5t#S256": certificate_thumbprint(own.certificate)
    }
    from .certs import self_signed

    stranger = self_signed("self-signed-client")  # the same name, not the registered certificate
    with (
        tls(interop, stranger.certificate, stranger.private_key) as http,
        pytest.raises(CredentialsRejectedError),
    ):
        fetch(http, SELF_SIGNED, request, creds.token_url)
