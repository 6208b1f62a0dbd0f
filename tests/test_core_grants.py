"""The pure core of the new grants and methods (issue 20): the device grant and its polling on a
fake clock, the JWT bearer grant, service-account key files, the password grant, mTLS client
authentication and DPoP proofs. No sockets: tests/interop drives real servers with the same core."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from pydantic import SecretStr

from prefect_vendortokens import (
    DIALECT_NAMES,
    AccessToken,
    AuthorizationError,
    CredentialsRejectedError,
    DialectError,
    TokenDialect,
    TokenResponseError,
    get_dialect,
)
from prefect_vendortokens.core.device import (
    DeviceAuthorization,
    DevicePoll,
    parse_device_authorization,
    qr_text,
)
from prefect_vendortokens.core.dpop import (
    DPoPKey,
    ath,
    htu,
    resource_nonce_challenge,
    token_nonce_challenge,
    with_dpop,
    www_authenticate,
)
from prefect_vendortokens.core.errors import DeviceAuthorizationDeniedError, DeviceCodeExpiredError
from prefect_vendortokens.core.presets import GRANT_PRESET_NAMES
from prefect_vendortokens.core.request import (
    ClientCredentials,
    ClientCredentialsGrant,
    DeviceCodeGrant,
    JwtBearerGrant,
    PasswordGrant,
    build_device_authorization_request,
    build_token_request,
)
from prefect_vendortokens.core.response import parse_token_response
from prefect_vendortokens.core.service_account import ServiceAccountKeyError, parse_service_account_key

RSA = RSAKey.generate_key(2048, parameters={"kid": "k1"})
RSA_PEM = RSA.as_pem(private=True).decode()
NOW = 1_760_000_000
SENT = datetime(2026, 1, 1, tzinfo=UTC)
CREDS = ClientCredentials("https://idp.test/token", "app-1", SecretStr("the-client-secret"), ("a", "b"))
PUBLIC = get_dialect("oauth2", client_auth="none")

# sha256 of json.dumps(model_dump(mode="json")) of every dialect before issue 20: the blocks hash
# that dump into the account key (the stored token's name), so it must not move.
DUMPS_BEFORE = {
    "sqod": "900a96a888807f03277435f635f7db66fbc8b94e898b3ba70bbd719b5aa32682",
    "cobee": "355a2e4d39ff4b2e50b3f7c50f73087bc351cd253e856918b6c362b15018cbf3",
    "slashid": "169d514344cb22981e7d073e11428ef1bda8625431e08d50bebbb2b7bbb70e17",
    "sqr": "8cf12dd21af075be16bc6d4fbd76d1c9452ca4606809a326f46625b9106ea3b2",
    "resales_online": "1519136869e98d548368cf1e3f2829568cc59e2b14c5cb26a5c95244ccf87fe1",
    "oauth2": "4519b54855dba8d4156a4dc87499963a4315b5b4964f99a946831528647019b2",
    "custom": "781eecfeb4c00cd7a3eae611a01cfc945633216ebc1306256b2b441bf330c353",
}


def form(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def claims_of(assertion: str, key=RSA) -> dict:
    return dict(jwt.decode(assertion, key).claims)


# --- the dialect ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", DUMPS_BEFORE)
def test_existing_dialects_dump_byte_for_byte_as_before(name: str) -> None:
    dialect = TokenDialect() if name == "custom" else get_dialect(name)
    dumped = json.dumps(dialect.model_dump(mode="json")).encode()
    assert hashlib.sha256(dumped).hexdigest() == DUMPS_BEFORE[name]


def test_new_fields_show_in_the_dump_once_set_and_round_trip() -> None:
    dialect = get_dialect("oauth2", assertion_scope="claim", password_field="pass")
    dumped = dialect.model_dump()
    assert dumped["assertion_scope"] == "claim" and dumped["password_field"] == "pass"
    assert "jwt_bearer_grant" not in dumped  # still at its default
    assert TokenDialect.model_validate(dumped) == dialect
    assert TokenDialect.model_validate_json(dialect.model_dump_json()) == dialect
    assert TokenDialect.model_json_schema()["properties"]["assertion_lifetime"]["maximum"] == 3600


def test_grant_presets_are_known_to_get_dialect_but_not_yet_a_block_choice() -> None:
    assert GRANT_PRESET_NAMES == ("google", "salesforce")
    assert not set(GRANT_PRESET_NAMES) & set(DIALECT_NAMES)
    assert get_dialect("google").default_token_url == "https://oauth2.googleapis.com/token"
    assert get_dialect("salesforce", assertion_audience="https://test.salesforce.com").assertion_audience == (
        "https://test.salesforce.com"
    )
    with pytest.raises(DialectError, match="google, salesforce"):
        get_dialect("gogle")


# --- device authorization (RFC 8628) --------------------------------------------------------


def test_device_authorization_request_of_a_public_and_a_confidential_client() -> None:
    public = build_device_authorization_request(PUBLIC, CREDS, url="https://idp.test/device")
    assert public.url == "https://idp.test/device" and public.grant == "device_authorization"
    assert form(public) == {"client_id": "app-1", "scope": "a b"}  # no grant_type, no secret
    basic = build_device_authorization_request(
        get_dialect("oauth2"), CREDS, url="https://idp.test/d", scopes=()
    )
    assert form(basic) == {} and basic.headers["Authorization"].startswith("Basic ")
    assert "the-client-secret" in basic.secrets
    google = build_device_authorization_request(get_dialect("google"), CREDS)
    assert google.url == "https://oauth2.googleapis.com/device/code"
    with pytest.raises(DialectError, match="no device authorization endpoint"):
        build_device_authorization_request(PUBLIC, CREDS)


ANSWER = {
    "device_code": "dev-code-SECRET-1234",
    "user_code": "WDJB-MJHT",
    "verification_uri": "https://idp.test/device",
    "verification_uri_complete": "https://idp.test/device?user_code=WDJB-MJHT",
    "expires_in": 600,
}


def parse(body: dict | bytes, status: int = 200) -> DeviceAuthorization:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_device_authorization(
        PUBLIC,
        status=status,
        headers={},
        body=raw,
        url="https://idp.test/device",
        secrets=["the-client-secret"],
    )


def test_device_authorization_answer() -> None:
    auth = parse(ANSWER)
    assert auth.device_code.get_secret_value() == "dev-code-SECRET-1234"
    assert (auth.user_code, auth.expires_in, auth.interval) == ("WDJB-MJHT", 600, 5)  # interval defaults to 5
    assert auth.link == ANSWER["verification_uri_complete"]
    assert "dev-code" not in repr(auth) and "WDJB-MJHT" in repr(auth)
    google = parse(
        {**ANSWER, "verification_url": "https://www.google.com/device", "interval": 0}
        | {"verification_uri": None, "verification_uri_complete": None}
    )
    assert (
        google.verification_uri == "https://www.google.com/device" and google.link == google.verification_uri
    )
    assert google.interval == 1  # "interval": 0 does not make us hammer the server


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device_code": None}, "no device_code"),
        ({"user_code": ""}, "no user_code"),
        ({"verification_uri": None}, "no verification_uri"),
        ({"expires_in": "soon"}, "no positive expires_in"),
        ({"user_code": "AB\x1b[2JCD"}, "user_code is not printable"),
        ({"verification_uri_complete": "javascript:alert(1)"}, "not an http"),
    ],
)
def test_device_authorization_answer_without_what_the_rfc_requires(change: dict, message: str) -> None:
    with pytest.raises(TokenResponseError, match=message):
        parse({**ANSWER, **change})


def test_device_authorization_errors_are_classified_and_scrubbed() -> None:
    with pytest.raises(CredentialsRejectedError, match="invalid_client") as refused:
        parse({"error": "invalid_client", "error_description": "bad secret the-client-secret"}, status=401)
    assert "the-client-secret" not in str(refused.value)
    with pytest.raises(TokenResponseError, match="text/html"):
        parse_device_authorization(
            PUBLIC, status=200, headers={"content-type": "text/html"}, body=b"<html>", url="https://i/d"
        )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def poll_answer(poll: DevicePoll, clock: FakeClock, status: int, body: dict):
    return poll.answer(
        PUBLIC,
        status=status,
        headers={},
        body=json.dumps(body).encode(),
        sent_at=SENT,
        now=clock.now,
        token_url="https://idp.test/token",
        secrets=["dev-code-SECRET-1234"],
    )


def test_polling_waits_the_interval_slows_down_for_good_and_returns_the_token() -> None:
    clock, auth = FakeClock(), parse({**ANSWER, "interval": 2})
    poll = DevicePoll.start(auth, now=clock.now)
    waits = []
    answers = iter(
        [
            (400, {"error": "authorization_pending"}),
            (400, {"error": "slow_down"}),
            (400, {"error": "authorization_pending"}),
            (200, {"access_token": "tok", "token_type": "Bearer", "expires_in": 60, "refresh_token": "r"}),
        ]
    )
    for _ in range(10):
        waits.append(poll.delay(now=clock.now))
        clock.sleep(waits[-1])
        outcome = poll_answer(poll, clock, *next(answers))
        if isinstance(outcome, AccessToken):
            break
        poll = outcome
    assert waits == [2, 2, 7, 7]  # slow_down adds 5 s to every later wait (RFC 8628 3.5)
    assert outcome.secret() == "tok" and outcome.refresh_token is not None
    assert clock.now == 1018


def test_polling_stops_at_the_deadline_access_denied_and_expired_token() -> None:
    clock, auth = FakeClock(), parse({**ANSWER, "expires_in": 12, "interval": 5})
    poll = DevicePoll.start(auth, now=clock.now, vendor="oauth2")
    clock.sleep(poll.delay(now=clock.now))
    poll = poll_answer(poll, clock, 400, {"error": "authorization_pending"})  # next poll at 10 s
    clock.sleep(poll.delay(now=clock.now))
    poll = poll_answer(poll, clock, 400, {"error": "authorization_pending"})  # next at 15 s > 12 s
    with pytest.raises(DeviceCodeExpiredError, match="expired") as expired:
        poll.delay(now=clock.now)
    assert isinstance(expired.value, AuthorizationError) and expired.value.vendor == "oauth2"

    fresh = DevicePoll.start(auth, now=clock.now)
    with pytest.raises(DeviceAuthorizationDeniedError, match="denied") as denied:
        poll_answer(fresh, clock, 400, {"error": "access_denied"})
    assert isinstance(denied.value, AuthorizationError) and denied.value.vendor_code == "access_denied"
    with pytest.raises(DeviceCodeExpiredError, match="expired_token"):
        poll_answer(fresh, clock, 400, {"error": "expired_token"})
    with pytest.raises(CredentialsRejectedError, match="invalid_grant") as other:
        poll_answer(
            fresh, clock, 400, {"error": "invalid_grant", "error_description": "dev-code-SECRET-1234"}
        )
    assert "dev-code-SECRET-1234" not in str(other.value)


def test_polling_backs_off_on_server_errors_and_lost_answers() -> None:
    clock, auth = FakeClock(), parse({**ANSWER, "interval": 5})
    poll = DevicePoll.start(auth, now=clock.now)
    waits = []
    for step in range(6):
        clock.sleep(poll.delay(now=clock.now))
        poll = poll_answer(poll, clock, 503, {}) if step % 2 else poll.failed(now=clock.now)
        waits.append(poll.next_at - clock.now)
    assert waits == [5, 10, 20, 40, 60, 60]
    clock.sleep(poll.delay(now=clock.now))
    poll = poll_answer(poll, clock, 400, {"error": "authorization_pending"})
    assert poll.next_at - clock.now == 5 and poll.interval == 5  # an answer ends the back-off


def test_device_code_grant_request() -> None:
    request = build_token_request(PUBLIC, CREDS, DeviceCodeGrant(SecretStr("dev-code-SECRET-1234")))
    assert form(request) == {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": "dev-code-SECRET-1234",
        "client_id": "app-1",
    }
    assert request.grant == "device_code" and "dev-code-SECRET-1234" in request.secrets


def test_qr_code_of_the_verification_uri() -> None:
    link = ANSWER["verification_uri_complete"]
    text = qr_text(link, border=2)
    rows = text.splitlines()
    expected = [
        [bool(m) for m in row] for row in segno.make(link, error="l", micro=False).matrix_iter(border=2)
    ]
    assert len(rows) == (len(expected) + 1) // 2 and {len(r) for r in rows} == {len(expected)}
    # Back from half blocks to modules: a light module is drawn, a dark one left blank.
    top = {"█": True, "▀": True, "▄": False, " ": False}
    bottom = {"█": True, "▄": True, "▀": False, " ": False}
    for y, row in enumerate(rows):
        for x, char in enumerate(row):
            assert top[char] is not expected[2 * y][x]
            if 2 * y + 1 < len(expected):
                assert bottom[char] is not expected[2 * y + 1][x]
    assert qr_text(link + "x") != text


# --- JWT bearer grant (RFC 7523 2.1) and service accounts ----------------------------------


def test_jwt_bearer_grant_rfc_form_with_scope_field_and_client_id() -> None:
    creds = ClientCredentials(
        "https://idp.test/token?x=1", "app-1", SecretStr(""), ("a", "b"), private_key=SecretStr(RSA_PEM)
    )
    request = build_token_request(PUBLIC, creds, JwtBearerGrant(subject="alice"), now=NOW)
    fields = form(request)
    assert fields["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert fields["scope"] == "a b" and fields["client_id"] == "app-1"
    claims = claims_of(fields["assertion"])
    assert claims["iss"] == "app-1" and claims["sub"] == "alice"
    assert claims["aud"] == "https://idp.test/token"  # the token URL without its query
    assert (claims["iat"], claims["exp"]) == (NOW, NOW + 300) and len(claims["jti"]) >= 20
    assert "kid" not in jwt.decode(fields["assertion"], RSA).header  # a PEM key has none; key_id sets it
    assert fields["assertion"] in request.secrets
    again = claims_of(
        form(build_token_request(PUBLIC, creds, JwtBearerGrant(subject="alice"), now=NOW))["assertion"]
    )
    assert again["jti"] != claims["jti"]


def test_jwt_bearer_google_and_salesforce_shapes() -> None:
    creds = ClientCredentials(
        "https://oauth2.googleapis.com/token",
        "sa@p.iam.gserviceaccount.com",
        SecretStr(""),
        ("s1", "s2"),
        private_key=SecretStr(RSA_PEM),
        key_id="pk-id-1",
    )
    google = form(build_token_request(get_dialect("google"), creds, JwtBearerGrant(), now=NOW))
    assert set(google) == {"grant_type", "assertion"}
    claims = claims_of(google["assertion"])
    assert claims["scope"] == "s1 s2" and claims["aud"] == "https://oauth2.googleapis.com/token"
    assert "sub" not in claims and claims["exp"] - claims["iat"] == 3600
    assert jwt.decode(google["assertion"], RSA).header == {"alg": "RS256", "typ": "JWT", "kid": "pk-id-1"}

    sf = get_dialect("salesforce")
    creds = ClientCredentials(
        sf.default_token_url, "3MVG9consumerkey", SecretStr(""), ("api",), private_key=SecretStr(RSA_PEM)
    )
    fields = form(build_token_request(sf, creds, JwtBearerGrant(subject="etl@example.com"), now=NOW))
    assert set(fields) == {"grant_type", "assertion"}  # no scope anywhere: the connected app's
    claims = claims_of(fields["assertion"])
    assert (claims["iss"], claims["sub"], claims["aud"]) == (
        "3MVG9consumerkey",
        "etl@example.com",
        "https://login.salesforce.com",
    )
    assert "scope" not in claims and 0 < claims["exp"] - claims["iat"] <= 180


def test_jwt_bearer_extra_claims_and_errors() -> None:
    dialect = get_dialect("oauth2", assertion_claims={"box_subject_type": "enterprise", "tenant": "{tenant}"})
    creds = ClientCredentials(
        "https://i/t", "app", SecretStr("s"), private_key=SecretStr(RSA_PEM), extra={"tenant": "t-9"}
    )
    claims = claims_of(
        form(build_token_request(dialect, creds, JwtBearerGrant(audience="https://aud"), now=NOW))[
            "assertion"
        ]
    )
    assert (
        claims["box_subject_type"] == "enterprise"
        and claims["tenant"] == "t-9"
        and claims["aud"] == "https://aud"
    )
    with pytest.raises(DialectError, match="may not set iss"):
        build_token_request(get_dialect("oauth2", assertion_claims={"iss": "x"}), creds, JwtBearerGrant())
    with pytest.raises(DialectError, match="needs a private key"):
        build_token_request(PUBLIC, CREDS, JwtBearerGrant())
    broken = ClientCredentials("https://i/t", "app", SecretStr(""), private_key=SecretStr("CANARY-not-a-key"))
    with pytest.raises(DialectError, match="JWT bearer grant is neither") as bad:
        build_token_request(PUBLIC, broken, JwtBearerGrant())
    assert "CANARY" not in str(bad.value)
    nameless = ClientCredentials("https://i/t", "", SecretStr(""), private_key=SecretStr(RSA_PEM))
    fields = form(
        build_token_request(get_dialect("google"), nameless, JwtBearerGrant(issuer="sa@x"), now=NOW)
    )
    assert claims_of(fields["assertion"])["iss"] == "sa@x"  # no client id needed: the assertion names it
    with pytest.raises(DialectError, match="client id is empty"):
        build_token_request(PUBLIC, nameless, JwtBearerGrant(issuer="sa@x"))


def key_file(**changes) -> str:
    data = {
        "type": "service_account",
        "project_id": "proj",
        "private_key_id": "a1b2c3",
        "private_key": RSA_PEM,
        "client_email": "etl@proj.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None})


def test_service_account_key_file_fills_the_jwt_bearer_account() -> None:
    key = parse_service_account_key(SecretStr(key_file()), where="block 'gcp'")
    assert (key.issuer, key.key_id, key.token_uri) == (
        "etl@proj.iam.gserviceaccount.com",
        "a1b2c3",
        "https://oauth2.googleapis.com/token",
    )
    assert "PRIVATE" not in repr(key)
    request = build_token_request(get_dialect("google"), key.credentials(("scope-1",)), key.grant(), now=NOW)
    assert request.url == "https://oauth2.googleapis.com/token"
    assertion = form(request)["assertion"]
    assert claims_of(assertion)["iss"] == "etl@proj.iam.gserviceaccount.com"
    assert jwt.decode(assertion, RSA).header["kid"] == "a1b2c3"
    assert parse_service_account_key(json.loads(key_file())).issuer == key.issuer  # a dict from Vault


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json " + RSA_PEM, "is not JSON"),
        ("[1]", "not a JSON object"),
        (key_file(type="authorized_user"), "type 'authorized_user'"),
        (key_file(private_key=None, client_email=None), "has no client_email, private_key"),
        (key_file(private_key_id=""), "'private_key_id' is empty"),
        (key_file(token_uri="ftp://x"), "token_uri"),
        (key_file(private_key="-----BEGIN PRIVATE KEY-----\nCANARY\n-----END PRIVATE KEY-----"), "not a PEM"),
    ],
)
def test_service_account_key_file_errors_name_the_field_never_the_key(text: str, message: str) -> None:
    with pytest.raises(ServiceAccountKeyError, match=message) as bad:
        parse_service_account_key(text, where="Vault path secret/gcp")
    assert isinstance(bad.value, DialectError) and "Vault path secret/gcp" in str(bad.value)
    assert "PRIVATE KEY" not in str(bad.value) and "CANARY" not in str(bad.value)
    assert RSA_PEM[40:80] not in str(bad.value)


# --- password grant (RFC 6749 4.3) ----------------------------------------------------------


def test_password_grant_with_and_without_client_auth() -> None:
    grant = PasswordGrant("alice", SecretStr("pa55-CANARY-word"))
    assert "pa55" not in repr(grant)
    basic = build_token_request(get_dialect("oauth2"), CREDS, grant)
    assert form(basic) == {
        "grant_type": "password",
        "username": "alice",
        "password": "pa55-CANARY-word",
        "scope": "a b",
    }
    assert basic.headers["Authorization"].startswith("Basic ") and basic.grant == "password"
    public = build_token_request(PUBLIC, CREDS, PasswordGrant("alice", SecretStr("pa55-CANARY-word"), ()))
    assert form(public) == {
        "grant_type": "password",
        "username": "alice",
        "password": "pa55-CANARY-word",
        "client_id": "app-1",
    }
    echo = json.dumps(
        {"error": "invalid_grant", "error_description": "bad password pa55-CANARY-word"}
    ).encode()
    with pytest.raises(CredentialsRejectedError) as refused:
        parse_token_response(
            PUBLIC,
            status=400,
            headers={},
            body=echo,
            sent_at=SENT,
            token_url=CREDS.token_url,
            secrets=public.secrets,
        )
    assert "CANARY" not in str(refused.value)
    with pytest.raises(DialectError, match="needs a user name"):
        build_token_request(PUBLIC, CREDS, PasswordGrant("", SecretStr("x")))


# --- mutual TLS (RFC 8705) ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["tls_client_auth", "self_signed_tls_client_auth"])
def test_mtls_client_auth_sends_only_the_client_id(method: str) -> None:
    request = build_token_request(get_dialect("oauth2", client_auth=method), CREDS, ClientCredentialsGrant())
    assert form(request) == {"grant_type": "client_credentials", "scope": "a b", "client_id": "app-1"}
    assert "Authorization" not in request.headers and b"the-client-secret" not in request.content
    with pytest.raises(ValueError, match="needs a body"):
        get_dialect("oauth2", client_auth=method, body_encoding="none")


# --- DPoP (RFC 9449) ------------------------------------------------------------------------


def test_dpop_key_round_trips_through_the_store_and_hides_itself() -> None:
    key = DPoPKey.generate()
    again = DPoPKey.from_json(key.to_json())
    assert again.thumbprint == key.thumbprint and again.public_jwk == key.public_jwk
    assert "d" not in key.public_jwk and key.private_jwk.get_secret_value() not in repr(key)
    # RFC 7638 by hand: the required members in lexicographic order, no spaces.
    pub = key.public_jwk
    canonical = json.dumps({k: pub[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    digest = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert key.thumbprint == digest
    for bad in ('{"kty":"EC","crv":"P-256","x":"CANARY"}', "CANARY", json.dumps(RSA.as_dict(private=True))):
        with pytest.raises(DialectError, match="not a private EC P-256 JWK") as refused:
            DPoPKey.from_json(bad)
        assert "CANARY" not in str(refused.value)


def test_dpop_proof_header_and_claims() -> None:
    key = DPoPKey.generate()
    proof = key.proof(
        method="post", url="https://api.test/r/1?q=2#frag", now=NOW, access_token="tok-1", nonce="n-1"
    )
    public = ECKey.import_key(key.public_jwk)
    decoded = jwt.decode(proof, public)
    assert decoded.header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk}
    claims = decoded.claims
    assert (claims["htm"], claims["htu"], claims["iat"], claims["nonce"]) == (
        "POST",
        "https://api.test/r/1",
        NOW,
        "n-1",
    )
    expected_ath = base64.urlsafe_b64encode(hashlib.sha256(b"tok-1").digest()).rstrip(b"=").decode()
    assert claims["ath"] == ath("tok-1") == expected_ath
    bare = jwt.decode(key.proof(method="GET", url="https://a/t", now=NOW), public).claims
    assert set(bare) == {"jti", "htm", "htu", "iat"} and bare["jti"] != claims["jti"]
    assert htu("https://a.test:8443/p?x#y") == "https://a.test:8443/p"
    request = with_dpop(build_token_request(PUBLIC, CREDS, ClientCredentialsGrant()), proof)
    assert request.headers["DPoP"] == proof and request.headers["Accept"] == "application/json"


def test_dpop_nonce_challenges() -> None:
    body = json.dumps({"error": "use_dpop_nonce", "error_description": "nonce required"}).encode()
    assert (
        token_nonce_challenge(400, {"DPoP-Nonce": "eyJ7S_zG.eyJH0-Z.HX4w-7v"}, body)
        == "eyJ7S_zG.eyJH0-Z.HX4w-7v"
    )
    assert token_nonce_challenge(400, {}, body) is None
    assert token_nonce_challenge(400, {"dpop-nonce": "n"}, b'{"error":"invalid_grant"}') is None
    assert token_nonce_challenge(401, {"dpop-nonce": "n"}, body) is None
    assert token_nonce_challenge(400, {"dpop-nonce": 'bad"nonce'}, body) is None  # not NQCHAR
    challenge = (
        'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"'
    )
    assert resource_nonce_challenge(401, {"WWW-Authenticate": challenge, "DPoP-Nonce": "n-2"}) == "n-2"
    both = 'Bearer realm="api", DPoP realm="api", algs="ES256 PS256", error=use_dpop_nonce'
    assert resource_nonce_challenge(401, {"www-authenticate": both, "dpop-nonce": "n-3"}) == "n-3"
    assert (
        resource_nonce_challenge(401, {"www-authenticate": 'DPoP error="invalid_token"', "dpop-nonce": "n"})
        is None
    )
    assert resource_nonce_challenge(403, {"www-authenticate": challenge, "dpop-nonce": "n"}) is None
    assert www_authenticate('Basic abc==, DPoP error="a\\"b", algs=ES256') == {
        "basic": {},
        "dpop": {"error": 'a"b', "algs": "ES256"},
    }


def test_mtls_context_presents_the_certificate_in_a_real_handshake(tmp_path) -> None:
    import socket
    import ssl
    import threading

    from cryptography.hazmat.primitives import serialization

    from prefect_vendortokens.core.mtls import certificate_thumbprint, client_tls_context

    from .interop.certs import TestCA

    ca = TestCA()
    server, client = ca.server(), ca.client("mtls-client")
    (tmp_path / "server.pem").write_text(server.certificate + server.private_key)
    accept = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    accept.load_cert_chain(tmp_path / "server.pem")
    accept.verify_mode = ssl.CERT_REQUIRED
    accept.load_verify_locations(cadata=ca.certificate)
    seen: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def serve() -> None:
            conn, _ = listener.accept()
            with accept.wrap_socket(conn, server_side=True) as tls:
                seen.append(tls.getpeercert(binary_form=True) or b"")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        context = client_tls_context(client.certificate, SecretStr(client.private_key), ca_pem=ca.certificate)
        with (
            socket.create_connection(listener.getsockname(), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.do_handshake()
        thread.join(10)
    der = seen[0]
    digest = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert certificate_thumbprint(client.certificate) == digest  # the certificate the server saw

    # An encrypted key with its password works; the wrong password, a key of another
    # certificate or text that is no PEM are typed errors that never quote the key.
    key = serialization.load_pem_private_key(client.private_key.encode(), None)
    locked = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw-123"),
    ).decode()
    client_tls_context(client.certificate, locked, key_password=SecretStr("pw-123"))
    other = ca.client("someone-else")
    for cert, private, password, message in (
        (client.certificate, locked, SecretStr("wrong"), "not a PEM private key"),
        (client.certificate, other.private_key, None, "do not belong together"),
        ("CANARY", client.private_key, None, "not a PEM certificate"),
        (client.certificate, "CANARY", None, "not a PEM private key"),
    ):
        with pytest.raises(DialectError, match=message) as bad:
            client_tls_context(cert, private, key_password=password, vendor="bank")
        assert "CANARY" not in str(bad.value) and "PRIVATE KEY" not in str(bad.value)
        assert bad.value.vendor == "bank"


def test_mtls_context_writes_nothing_to_the_temp_dir(tmp_path, monkeypatch) -> None:
    import tempfile

    from prefect_vendortokens.core.mtls import client_tls_context

    from .interop.certs import self_signed

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    issued = self_signed("self-signed-client")
    client_tls_context(issued.certificate, issued.private_key)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.delattr("os.memfd_create")  # where there is no memfd: a 0600 file, gone at once
    client_tls_context(issued.certificate, issued.private_key)
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='DPoP Bearer,="\\ abc=error_-', max_size=80))
def test_www_authenticate_parses_any_header_without_looping(value: str) -> None:
    parsed = www_authenticate(value)
    assert all(isinstance(params, dict) for params in parsed.values())
