"""``dialect import``: vendors' API documents (OpenAPI 3.0/3.1, Swagger 2.0, Postman) to a
dialect that gets a real token, from the vendor emulation, from tiny token servers of vendors
the project never saw, and the clear errors for documents it cannot use."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prefect_vendortokens import (
    CredentialsRejectedError,
    ExpirySource,
    TokenClient,
    TokenDialect,
    TokenRejectedError,
    get_dialect,
    import_openapi,
)
from prefect_vendortokens.cli import EXIT_BLOCK, EXIT_OK, EXIT_TOKEN, main
from prefect_vendortokens.core.request import ClientCredentials, ClientCredentialsGrant, build_token_request
from prefect_vendortokens.importer import AmbiguousOperationError, NoTokenOperationError, SpecUnreadableError
from prefect_vendortokens.importer.loading import parse_text

from .conftest import SCOPES
from .token_servers import token_servers

SPECS = Path(__file__).parent / "specs"
SEED = {
    "sqod": "sqod.yaml",
    "cobee": "cobee.yaml",
    "slashid": "slashid.yaml",
    "sqr": "sqr.json",
    "resales_online": "resales-online.json",
}
# What each vendor answers a wrong secret with, read through the imported error paths.
WRONG_SECRET_SAYS = {
    "sqod": None,  # a bare 401
    "cobee": "Unauthorized",
    "slashid": "invalid client credentials",
    "sqr": "Client authentication failed",
    "resales_online": "Client authentication failed",
}


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["dialect", "import", *argv, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def request_of(dialect: TokenDialect, creds) -> tuple[str, dict, bytes | None]:
    built = build_token_request(
        dialect,
        ClientCredentials("https://vendor.test/token", creds.client_id, _secret(creds.client_secret)),
        ClientCredentialsGrant(),
    )
    return built.url, built.headers, built.content


def _secret(value: str):
    from pydantic import SecretStr

    return SecretStr(value)


@pytest.mark.parametrize("vendor", list(SEED))
def test_each_seed_vendors_document_gets_a_token_and_its_typed_error(vendor, sandbox, capsys) -> None:
    code, out = run_json(capsys, str(SPECS / SEED[vendor]), "--server", sandbox.api_url(vendor))
    assert code == EXIT_OK, out
    assert set(out) >= {"dialect", "token_url", "needs", "notes"} and out["needs"] == []
    assert out["token_url"] == sandbox.token_url(vendor)
    dialect = TokenDialect.model_validate(out["dialect"])  # nothing written by hand
    creds = sandbox.credentials(vendor)
    scopes = SCOPES.get(vendor, ())
    token = TokenClient(
        dialect, out["token_url"], creds.client_id, creds.client_secret, scopes=scopes
    ).fetch()
    assert token.expiry_source is ExpirySource.EXPIRES_IN  # what every seed vendor documents
    assert abs(token.lifetime - sandbox._state(vendor).lifetime) < 5
    wrong = TokenClient(dialect, out["token_url"], creds.client_id, creds.client_secret + "x", scopes=scopes)
    with pytest.raises(CredentialsRejectedError) as refused:
        wrong.fetch()
    assert refused.value.vendor_message == WRONG_SECRET_SAYS[vendor]
    assert creds.client_secret not in str(refused.value)
    if vendor != "sqod":  # SQOD's document has no body; its preset follows its other docs (a form)
        assert request_of(dialect, creds) == request_of(get_dialect(vendor), creds)


def test_the_oauth2_scheme_alone_is_an_rfc6749_endpoint(sandbox, capsys) -> None:
    """Unseen: no token path in the document, only components.securitySchemes.*.flows."""
    creds = sandbox.credentials("oauth2")
    for spec in ("ledgerly-oauth2.yaml", "ledgerly.postman_collection.json"):
        code, out = run_json(capsys, str(SPECS / "unseen" / spec), "--server", sandbox.base_url)
        assert code == EXIT_OK and out["token_url"] == sandbox.token_url("oauth2")
        dialect = TokenDialect.model_validate(out["dialect"])
        assert dialect.client_auth.value == ("basic" if spec.endswith(".yaml") else "body")
        token = TokenClient(dialect, out["token_url"], creds.client_id, creds.client_secret).fetch()
        assert token.expiry_source is ExpirySource.EXPIRES_IN
        with pytest.raises(CredentialsRejectedError) as refused:
            TokenClient(dialect, out["token_url"], creds.client_id, "wrong-secret").fetch()
        assert refused.value.vendor_code == "invalid_client"
    assert any(
        "RFC 6749's client_secret_basic assumed" in n
        for n in import_openapi(SPECS / "unseen" / "ledgerly-oauth2.yaml").notes
    )


@pytest.mark.parametrize(
    ("spec", "extra", "source"),
    [
        ("parcelhub-login.yaml", {"account_id": 40417}, ExpirySource.EXPIRES_AT),
        ("parcelhub.postman_collection.json", {"account_id": 40417}, ExpirySource.EXPIRES_AT),
        ("metricsio-swagger.yaml", {}, ExpirySource.JWT_EXP),
        ("gridstat-session.json", {"x_tenant": "acme"}, ExpirySource.EXPIRES_AT),
        ("registryhub.yaml", {}, ExpirySource.JWT_EXP),  # three token operations, one current
    ],
)
def test_unseen_vendors_documents_get_tokens_from_their_servers(spec, extra, source) -> None:
    with token_servers() as servers:
        base = servers.base_url + ("/api" if spec.startswith("gridstat") else "")
        base += "/v3" if spec.startswith("metricsio") else ""
        result = import_openapi(SPECS / "unseen" / spec, server=base)
        assert sorted(n.name for n in result.needs) == sorted(extra)
        client = TokenClient(result.dialect, result.token_url, servers.key, servers.secret, extra=extra)
        token = client.fetch()
        assert token.secret() == servers.issued[-1] and token.expiry_source is source
        assert 600 < token.lifetime < 1900
        wrong = TokenClient(result.dialect, result.token_url, servers.key, "not-the-secret", extra=extra)
        with pytest.raises(TokenRejectedError) as refused:
            wrong.fetch()
        if spec.startswith("parcelhub"):  # an error answered with HTTP 200
            assert refused.value.status == 200 and refused.value.vendor_code == "BAD_CREDENTIALS"
            assert refused.value.vendor_message == "API key or secret is wrong"
        else:
            assert isinstance(refused.value, CredentialsRejectedError)
            assert refused.value.vendor_message in (
                "Unknown API key or wrong secret",
                "Bad key or secret",
                "Incorrect authentication credentials",
            )


def test_probe_fixes_what_the_document_left_open_and_prints_no_secret(capsys, monkeypatch) -> None:
    spec = json.loads((SPECS / "unseen" / "parcelhub.postman_collection.json").read_text())
    login = spec["item"][0]["item"][0]
    login["response"] = []  # no example: the expiry's format is not said anywhere
    login["event"][0]["script"]["exec"][2] = (
        'pm.environment.set("phToken", jsonData.data.session.sessionToken);'
    )
    with token_servers() as servers:
        document = Path(os.environ["PREFECT_HOME"]) / "parcelhub-undocumented.json"
        document.write_text(json.dumps(spec))
        before = import_openapi(document, server=servers.base_url)
        assert before.dialect.expires_at_format.value == "auto" and "expires_at_format" in before.guessed
        assert before.dialect.access_token_path == ["data.session.sessionToken"]  # the script is wrong
        monkeypatch.setenv("VENDORTOKENS_CLIENT_ID", servers.key)
        monkeypatch.setenv("VENDORTOKENS_CLIENT_SECRET", servers.secret)
        argv = [str(document), "--server", servers.base_url, "--probe", "--extra", "account_id=40417"]
        code, out = run_json(capsys, *argv)
        assert code == EXIT_OK, out
        fixed = TokenDialect.model_validate(out["dialect"])
        assert (
            fixed.access_token_path == ["data.session.token"] and fixed.expires_at_format.value == "iso8601"
        )
        assert out["probe"]["ok"] and out["probe"]["expiry_source"] == "expires_at"
        assert any("data.session.token" in f for f in out["probe"]["fixes"])
        assert any("iso8601" in f for f in out["probe"]["fixes"])
        assert servers.requests == 1  # one token request
        # The readable form, too: the fingerprint, never the token or the secret.
        assert main(["dialect", "import", *argv]) == EXIT_OK
        text = capsys.readouterr().out
        assert "fixed: the token came at 'data.session.token'" in text and "Python to paste" in text
        for secret in (servers.secret, *servers.issued):
            assert secret not in text and secret not in json.dumps(out)

        monkeypatch.setenv("VENDORTOKENS_CLIENT_SECRET", "wrong")
        code, out = run_json(capsys, *argv)
        assert code == EXIT_TOKEN and not out["probe"]["ok"]
        assert "BAD_CREDENTIALS" in out["probe"]["error"] and "wrong" not in out["probe"][
            "error"
        ].lower().replace("is wrong", "")


def test_probe_says_where_the_expiry_came_from_when_only_a_jwt_carries_it(capsys, monkeypatch) -> None:
    with token_servers() as servers:
        monkeypatch.setenv("VENDORTOKENS_CLIENT_ID", servers.key)
        monkeypatch.setenv("VENDORTOKENS_CLIENT_SECRET", servers.secret)
        code, out = run_json(
            capsys,
            str(SPECS / "unseen" / "metricsio-swagger.yaml"),
            "--server",
            servers.base_url + "/v3",
            "--probe",
        )
        assert code == EXIT_OK and out["probe"]["expiry_source"] == "jwt_exp"
        said = " ".join(out["probe"]["confirmed"])
        assert re.search(r"the token is a JWT and its exp claim says (89\d|900) s", said), said


def test_probe_needs_the_credentials_from_the_environment(capsys, monkeypatch, sandbox) -> None:
    monkeypatch.delenv("VENDORTOKENS_CLIENT_ID", raising=False)
    monkeypatch.delenv("VENDORTOKENS_CLIENT_SECRET", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: no prompt
    code, out = run_json(capsys, str(SPECS / "sqr.json"), "--server", sandbox.api_url("sqr"), "--probe")
    assert code == EXIT_BLOCK and "VENDORTOKENS_CLIENT_ID and VENDORTOKENS_CLIENT_SECRET" in out["error"]
    monkeypatch.setenv("VENDORTOKENS_CLIENT_ID", "x")
    monkeypatch.setenv("VENDORTOKENS_CLIENT_SECRET", "y")
    code, out = run_json(
        capsys, str(SPECS / "unseen" / "gridstat-session.json"), "--server", sandbox.base_url, "--probe"
    )
    assert code == EXIT_BLOCK and "--extra x_tenant=..." in out["error"]


def test_documents_it_cannot_use_are_exit_2_naming_what_is_missing(capsys, tmp_path) -> None:
    broken = SPECS / "broken"
    cases = {
        "ambiguous.yaml": ["POST /v1/auth/token", "POST /v2/auth/token", "--operation"],
        "no-token.yaml": ["no token operation found", "GET /pets", "POST /pets", "--operation"],
        "not-yaml.txt": ["neither JSON nor YAML at line"],
        "not-openapi.yaml": ["no 'openapi' or 'swagger' version field"],
        "dangling-ref.yaml": ["'#/components/schemas/Missing' cannot be resolved"],
        "missing.yaml": ["no such file"],
    }
    for name, words in cases.items():
        code, out = run_json(capsys, str(broken / name))
        assert code == EXIT_BLOCK, name
        for word in words:
            assert word in out["error"], (name, out["error"])
    with pytest.raises(AmbiguousOperationError) as ambiguous:
        import_openapi(broken / "ambiguous.yaml")
    assert ambiguous.value.candidates == ("POST /v1/auth/token", "POST /v2/auth/token")
    picked = import_openapi(broken / "ambiguous.yaml", operation="POST /v2/auth/token")
    assert (
        picked.token_url == "https://api.two.example/v2/auth/token"
        and picked.dialect.client_auth.value == "body"
    )
    with pytest.raises(NoTokenOperationError, match="no operation matches --operation 'POST /v3/x'"):
        import_openapi(broken / "ambiguous.yaml", operation="POST /v3/x")
    with pytest.raises(SpecUnreadableError, match=re.escape("OpenAPI version '2.0' is not 3.x")):
        import_openapi({"openapi": "2.0", "paths": {}})
    remote = {
        "openapi": "3.0.0",
        "paths": {"/t": {"post": {"requestBody": {"$ref": "https://x.test/b.yaml"}}}},
    }
    with pytest.raises(SpecUnreadableError, match="only local references are followed"):
        import_openapi(remote)


def test_text_stdin_and_data_give_the_same_dialect(capsys, monkeypatch) -> None:
    text = (SPECS / "slashid.yaml").read_text()
    from_file = import_openapi(SPECS / "slashid.yaml")
    assert import_openapi(text).dialect == from_file.dialect == import_openapi(parse_text(text, "x")).dialect
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, out = run_json(capsys, "-")
    assert code == EXIT_OK and TokenDialect.model_validate(out["dialect"]) == from_file.dialect


def test_the_python_to_paste_is_the_dialect(capsys, sandbox) -> None:
    for spec in [*(SPECS / s for s in SEED.values()), *sorted((SPECS / "unseen").glob("*[!s].*"))]:
        if spec.name == "metricsio-errors.yaml":
            continue
        assert main(["dialect", "import", str(spec), "--server", sandbox.base_url]) == EXIT_OK
        printed = capsys.readouterr().out
        code = printed.split("Python to paste:\n", 1)[1]
        namespace: dict = {}
        exec(code, namespace)  # noqa: S102 - the code the command printed for pasting
        assert namespace["dialect"] == import_openapi(spec, server=sandbox.base_url).dialect, spec.name


def test_recursive_schemas_and_yaml_anchors_resolve() -> None:
    doc = copy.deepcopy(parse_text((SPECS / "cobee.yaml").read_text(), "cobee"))
    doc["components"]["schemas"]["Error"]["properties"]["cause"] = {"$ref": "#/components/schemas/Error"}
    assert import_openapi(doc).dialect.error_code_path[:2] == ["error", "code"]
    anchors = textwrap.dedent(
        """\
        openapi: 3.0.0
        paths:
          /oauth/token:
            post: &op
              requestBody:
                content:
                  application/json:
                    schema:
                      properties:
                        client_id: {type: string}
                        client_secret: {type: string}
              responses:
                '200':
                  description: ok
                  content:
                    application/json:
                      schema:
                        properties:
                          access_token: {type: string}
          /copy:
            get: *op
        """
    )
    result = import_openapi(anchors)  # the anchored copy is read too, and loses on its path
    assert result.operation == "POST /oauth/token" and any("GET /copy" in n for n in result.notes)


def test_save_block_makes_a_block_that_works_in_another_process(
    prefect_server, sandbox, capsys, monkeypatch
) -> None:
    from prefect.settings import PREFECT_API_URL

    creds = sandbox.credentials("cobee")
    monkeypatch.setenv("VENDORTOKENS_CLIENT_ID", creds.client_id)
    monkeypatch.setenv("VENDORTOKENS_CLIENT_SECRET", creds.client_secret)
    argv = [
        str(SPECS / "cobee.yaml"),
        "--server",
        sandbox.api_url("cobee"),
        "--probe",
        "--save-block",
        "imported-cobee",
    ]
    code, out = run_json(capsys, *argv)
    assert code == EXIT_OK and out["saved_block"] == "imported-cobee" and out["probe"]["ok"]
    code, out = run_json(capsys, *argv)
    assert code == EXIT_BLOCK and "--overwrite" in out["error"]
    script = (
        "from prefect_vendortokens import VendorCredentials\n"
        "b = VendorCredentials.load('imported-cobee')\n"
        "t = b.get_token()\n"
        "print(b.vendor, b.effective_dialect.name, t.expiry_source.value, t.fingerprint)\n"
    )
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    env.pop("VENDORTOKENS_CLIENT_SECRET")
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    vendor, name, source, fingerprint = done.stdout.split()
    assert (vendor, name, source) == ("custom", "partners-api", "expires_in") and fingerprint.startswith(
        "sha256:"
    )
    assert prefect_server.scan([creds.client_secret]) == []


def test_text_from_the_document_prints_as_it_is(capsys, tmp_path) -> None:
    """Descriptions and paths are never Rich markup: "[/x]" would crash it, "[bold]" vanish."""
    spec = parse_text((SPECS / "unseen" / "gridstat-session.json").read_text(), "gridstat")
    spec["paths"]["/session"]["get"]["parameters"][2]["description"] = "Your tenant [bold] name [/x]"
    path = tmp_path / "markup.json"
    path.write_text(json.dumps(spec))
    assert main(["dialect", "import", str(path)]) == EXIT_OK
    assert "x_tenant: the header field X-Tenant (Your tenant [bold] name [/x])" in capsys.readouterr().out
    spec["paths"] = {"/[/x]/token": spec["paths"]["/session"], "/[/y]/token": spec["paths"]["/session"]}
    path.write_text(json.dumps(spec))
    assert main(["dialect", "import", str(path)]) == EXIT_BLOCK
    assert "GET /[/x]/token, GET /[/y]/token" in capsys.readouterr().err.replace("\n", "")


def test_the_command_is_listed(capsys) -> None:
    assert main(["--help"]) == EXIT_OK and "dialect" in capsys.readouterr().out
    assert main(["dialect", "import", "--help"]) == EXIT_OK
    text = capsys.readouterr().out
    assert all(option in text for option in ("--server", "--operation", "--probe", "--save-block", "--extra"))


def test_in_a_terminal_it_asks_for_what_is_missing_and_echoes_no_secret(capsys, monkeypatch) -> None:
    import getpass

    from prefect_vendortokens.cli import dialect as command

    with token_servers() as servers:
        monkeypatch.delenv("VENDORTOKENS_CLIENT_ID", raising=False)
        monkeypatch.delenv("VENDORTOKENS_CLIENT_SECRET", raising=False)
        monkeypatch.setattr(command, "_interactive", lambda: True)
        asked: list[str] = []
        answers = {"Client ID: ": servers.key, "x_tenant (header field X-Tenant): ": servers.tenant}
        monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or answers[prompt])
        monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or servers.secret)
        spec = str(SPECS / "unseen" / "gridstat-session.json")
        code, out = run_json(capsys, spec, "--server", servers.base_url + "/api", "--probe")
        assert code == EXIT_OK and out["probe"]["ok"], out
        assert asked == ["Client ID: ", "Client secret: ", "x_tenant (header field X-Tenant): "]
        assert servers.secret not in json.dumps(out)
