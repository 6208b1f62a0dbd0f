"""The importer's pure core on small documents: one decision per test, no socket, no file."""

from __future__ import annotations

import pytest

from prefect_vendortokens import ExpiresAtFormat, import_openapi
from prefect_vendortokens.importer.names import lifetime_in
from prefect_vendortokens.importer.request_side import template_name


def token_op(request: dict | None = None, answer: dict | None = None, **op) -> dict:
    """An operation with a JSON request body and a JSON answer."""
    out: dict = {"responses": {"200": {"description": "ok"}}, **op}
    if request is not None:
        out["requestBody"] = {"content": {"application/json": {"schema": request}}}
    if answer is not None:
        out["responses"]["200"]["content"] = {"application/json": {"schema": answer}}
    return out


def doc(paths: dict, **extra) -> dict:
    return {
        "openapi": "3.0.0",
        "info": {"title": "T"},
        "servers": [{"url": "https://t.example"}],
        "paths": paths,
        **extra,
    }


CREDS = {
    "type": "object",
    "required": ["client_id", "client_secret"],
    "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string"}},
}
TOKEN = {
    "type": "object",
    "properties": {"access_token": {"type": "string"}, "expires_in": {"type": "integer"}},
}


def test_an_oauth2_token_url_serves_a_document_without_servers() -> None:
    """A form endpoint without an enum for its grant: the grants its fields serve; Basic, as an
    oauth2 scheme names the URL, form-encoded (RFC 6749 2.3.1)."""
    body = {
        "type": "object",
        "required": ["grant_type"],
        "properties": {"grant_type": {"type": "string"}, "refresh_token": {}, "code": {}, "redirect_uri": {}},
    }
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "IdP"},
        "paths": {
            "/oauth2/token": {
                "post": {
                    "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": body}}},
                    "security": [{"basic": []}],
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": TOKEN}}}
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "oauth2": {
                    "type": "oauth2",
                    "flows": {
                        "authorizationCode": {
                            "tokenUrl": "https://idp.example/oauth2/token",
                            "authorizationUrl": "https://idp.example/auth",
                            "scopes": {},
                        }
                    },
                },
            }
        },
    }
    result = import_openapi(spec)
    d = result.dialect
    assert result.token_url == "https://idp.example/oauth2/token"
    assert (d.refresh_grant, d.authorization_code_grant, d.client_credentials_grant) == (
        "refresh_token",
        "authorization_code",
        "client_credentials",
    )
    assert d.client_auth.value == "basic" and d.basic_auth_urlencode and d.client_id_in_code_grant is False
    assert "client_credentials_grant" in result.guessed


def test_an_authorization_code_only_scheme_offers_no_client_credentials_grant() -> None:
    flows = {
        "authorizationCode": {
            "tokenUrl": "https://auth.t.example/api/token",
            "authorizationUrl": "https://auth.t.example/authorize",
            "scopes": {"read": ""},
        }
    }
    result = import_openapi(
        doc({}, components={"securitySchemes": {"o": {"type": "oauth2", "flows": flows}}})
    )
    d = result.dialect
    assert d.client_credentials_grant == "" and d.authorization_code_grant == "authorization_code"
    assert any("use grant authorization_code in the block" in n for n in result.notes)


def test_values_deeper_than_the_token_are_not_its_scope_or_type() -> None:
    answer = {
        "type": "object",
        "properties": {
            "access_token": {"type": "string"},
            "restricted_to": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"scope": {"type": "string"}, "type": {"type": "string"}},
                },
            },
        },
    }
    d = import_openapi(doc({"/oauth/token": {"post": token_op(CREDS, answer)}})).dialect
    assert d.scope_path == ["scope"] and d.token_type_path == ["token_type"]  # the defaults, untouched


@pytest.mark.parametrize(
    ("leaf", "path", "fmt"),
    [
        ({"type": "string", "format": "date-time"}, "expires_at_path", ExpiresAtFormat.ISO8601),
        (
            {"type": "integer", "description": "Expiry as a unix timestamp in milliseconds"},
            "expires_at_path",
            ExpiresAtFormat.EPOCH_MILLISECONDS,
        ),
        ({"type": "integer", "example": 1735689600}, "expires_at_path", ExpiresAtFormat.EPOCH_SECONDS),
        (
            {"type": "integer", "description": "Number of seconds until the token expires"},
            "expires_in_path",
            None,
        ),
        ({"type": "string", "example": "2026-01-01T00:00:00Z"}, "expires_at_path", ExpiresAtFormat.ISO8601),
    ],
)
def test_the_expiry_and_its_format_come_from_type_format_description_or_example(leaf, path, fmt) -> None:
    answer = {"type": "object", "properties": {"token": {"type": "string"}, "expires": leaf}}
    d = import_openapi(doc({"/login": {"post": token_op(CREDS, answer)}})).dialect
    assert getattr(d, path) == ["expires"]
    if fmt is not None:
        assert d.expires_at_format is fmt


def test_a_stated_lifetime_becomes_the_default_lifetime() -> None:
    op = token_op(CREDS, {"type": "object", "properties": {"token": {"type": "string"}}})
    op["description"] = "Tokens are valid for 24 hours."
    result = import_openapi(doc({"/auth": {"post": op}}))
    assert result.dialect.default_lifetime == 86400
    assert (
        lifetime_in("the token expires after 15 minutes") == 900 and lifetime_in("no lifetime here") is None
    )


def test_fixed_and_required_fields_become_literals_and_needs() -> None:
    request = {
        "type": "object",
        "required": ["client_id", "client_secret", "audience", "version", "tenantId"],
        "properties": {
            **CREDS["properties"],
            "audience": {"type": "string", "description": "The API you want a token for"},
            "version": {"type": "integer", "enum": [2]},
            "tenantId": {"type": "integer"},
            "locale": {"type": "string"},
        },
    }
    params = [
        {
            "name": "X-Api-Version",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "default": "2024-01"},
        }
    ]
    result = import_openapi(doc({"/oauth/token": {"post": token_op(request, TOKEN, parameters=params)}}))
    d = result.dialect
    assert d.extra_fields == {"audience": "{audience}", "version": 2, "tenantId": "{tenant_id}"}
    assert d.extra_headers == {"X-Api-Version": "2024-01"}
    assert [(n.name, n.field, n.location, n.type) for n in result.needs] == [
        ("audience", "audience", "body", "string"),
        ("tenant_id", "tenantId", "body", "integer"),
    ]
    assert template_name("X-Tenant-Id") == "x_tenant_id" and template_name("2fa") == "value_2fa"


def test_basic_with_a_required_body_client_id_repeats_it_as_a_template() -> None:
    request = {
        "type": "object",
        "required": ["client_id", "grant_type"],
        "properties": {"client_id": {"type": "string"}, "grant_type": {"enum": ["client_credentials"]}},
    }
    op = token_op(request, TOKEN, security=[{"b": []}])
    spec = doc(
        {"/token": {"post": op}}, components={"securitySchemes": {"b": {"type": "http", "scheme": "basic"}}}
    )
    d = import_openapi(spec).dialect
    assert d.client_auth.value == "basic" and not d.basic_auth_urlencode
    assert d.extra_fields == {"client_id": "{client_id}"}


def test_the_document_is_never_echoed_with_a_secret_example() -> None:
    """An example secret in the document stays out of the dialect, the notes and the needs."""
    request = {**CREDS, "example": {"client_id": "abc", "client_secret": "s3cr3t-example-value"}}
    result = import_openapi(doc({"/oauth/token": {"post": token_op(request, TOKEN)}}))
    assert "s3cr3t-example-value" not in repr(result.to_json())


def test_code_grant_fields_marked_required_are_not_needs_and_deep_error_details_are_not_codes() -> None:
    request = {
        "type": "object",
        "required": ["grant_type", "client_id", "client_secret", "code", "redirect_uri"],
        "properties": {
            "grant_type": {"type": "string"},
            **CREDS["properties"],
            "code": {"type": "string"},
            "redirect_uri": {"type": "string"},
        },
    }
    error = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "details": {
                "type": "object",
                "properties": {
                    "password": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"error": {"type": "string"}}},
                    }
                },
            },
        },
    }
    op = token_op(request, TOKEN)
    op["responses"]["400"] = {"description": "bad", "content": {"application/json": {"schema": error}}}
    result = import_openapi(doc({"/oauth/token": {"post": op}}))
    assert result.needs == () and result.dialect.extra_fields == {}
    assert result.dialect.authorization_code_grant == "authorization_code"
    assert result.dialect.error_code_path == ["error"]


def test_the_importer_and_its_probe_load_no_prefect() -> None:
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from prefect_vendortokens import import_openapi\n"
        "from prefect_vendortokens.importer.probe import probe\n"
        "import_openapi({'openapi': '3.0.0', 'components': {'securitySchemes': {'o': {'type': 'oauth2', "
        "'flows': {'clientCredentials': {'tokenUrl': 'https://t.example/token', 'scopes': {}}}}}}})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert {"yaml", "referencing", "httpx"} <= loaded and not loaded & {"prefect", "hvac"}


def test_review_fixes_the_token_and_expiry_paths_from_the_actual_answer() -> None:
    import json
    from datetime import UTC, datetime

    from prefect_vendortokens import ExpirySource, TokenDialect, TokenRejectedError
    from prefect_vendortokens.importer.review import review

    dialect = TokenDialect(access_token_path=["token"], expires_in_path=[])
    answer = {"result": {"authToken": "tok-1234567890", "ttl": 3600}}
    now = datetime.now(UTC)
    report = review(
        dialect,
        status=200,
        headers={},
        body=json.dumps(answer).encode(),
        sent_at=now,
        token_url="https://t/x",
    )
    assert report.ok and report.token.expiry_source is ExpirySource.EXPIRES_IN
    assert report.dialect.access_token_path == ["result.authToken"] and report.dialect.expires_in_path == [
        "result.ttl"
    ]
    assert len(report.fixes) == 2 and "tok-1234567890" not in json.dumps(report.fixes + report.confirmed)

    refused = {"fault": {"code": "E42", "msg": "bad grant"}}
    report = review(
        TokenDialect(),
        status=400,
        headers={},
        body=json.dumps(refused).encode(),
        sent_at=now,
        token_url="https://t/x",
    )
    assert isinstance(report.error, TokenRejectedError) and not report.ok
    assert (report.error.vendor_code, report.error.vendor_message) == ("E42", "bad grant")
    assert (
        report.dialect.error_code_path[0] == "fault.code" and "refused the request itself" in report.doubts[0]
    )
