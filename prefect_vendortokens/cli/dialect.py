"""``dialect import SPEC``: a vendor's token endpoint from its published API document (OpenAPI
3.0/3.1, Swagger 2.0, Postman), optionally confirmed by one real token (``--probe``) and saved
as a Vendor Credentials block (``--save-block``)."""

from __future__ import annotations

import getpass
import json as jsonlib
import os
import sys
from typing import Annotated, Any

from cyclopts import App, Parameter
from pydantic import SecretStr, ValidationError
from rich.table import Table
from rich.text import Text

from ..core.dialect import TokenDialect
from ..core.errors import DialectError
from ..importer import SpecError, import_openapi
from ..importer.core import import_document
from ..importer.loading import parse_text
from ..importer.probe import ProbeReport
from ..importer.probe import probe as run_probe
from ..importer.result import ImportResult, dialect_python
from .app import EXIT_BLOCK, EXIT_OK, EXIT_TOKEN, JsonFlag, app, console, fail
from .prefect_api import Stop, prefect_api

CLIENT_ID_VARIABLE = "VENDORTOKENS_CLIENT_ID"
CLIENT_SECRET_VARIABLE = "VENDORTOKENS_CLIENT_SECRET"

dialect_app = App(name="dialect", help="Vendor dialects: import one from the vendor's API document.")
app.command(dialect_app)


class _Missing(Exception):
    pass


def _interactive() -> bool:
    return sys.stdin.isatty()


def _client_credentials(spec_from_stdin: bool) -> tuple[str, SecretStr]:
    """From the environment, else a prompt (the secret without echo); never the command line."""
    client_id = os.environ.get(CLIENT_ID_VARIABLE, "").strip()
    secret = os.environ.get(CLIENT_SECRET_VARIABLE, "")
    can_ask = _interactive() and not spec_from_stdin
    if not client_id and can_ask:
        client_id = input("Client ID: ").strip()
    if not secret and can_ask:
        secret = getpass.getpass("Client secret: ")
    missing = [
        v for v, value in ((CLIENT_ID_VARIABLE, client_id), (CLIENT_SECRET_VARIABLE, secret)) if not value
    ]
    if missing:
        raise _Missing(
            f"--probe and --save-block need the client credentials: set {' and '.join(missing)} "
            "(or run in a terminal to be asked)"
        )
    return client_id, SecretStr(secret)


def _extra_values(given: list[str], needs: tuple[Any, ...], spec_from_stdin: bool) -> dict[str, Any]:
    """``--extra name=value`` for what the document requires and cannot fill; typed as the
    document types the field."""
    values: dict[str, Any] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise _Missing(f"--extra wants name=value, got {item!r}")
        values[name.strip()] = value
    for need in needs:
        if need.name not in values and _interactive() and not spec_from_stdin:
            values[need.name] = input(f"{need.name} ({need.location} field {need.field}): ").strip()
    missing = [n.name for n in needs if not values.get(n.name)]
    if missing:
        raise _Missing(
            "the document requires values only you can give: "
            + ", ".join(f"--extra {m}=..." for m in missing)
        )
    types = {n.name: n.type for n in needs}
    for name, value in values.items():
        kind = types.get(name)
        try:
            if kind == "integer":
                values[name] = int(value)
            elif kind == "number":
                values[name] = int(value) if value.strip().lstrip("-").isdigit() else float(value)
            elif kind == "boolean":
                values[name] = value.lower() in ("1", "true", "yes")
        except ValueError:
            raise _Missing(f"--extra {name} must be a {kind}") from None
    return values


@dialect_app.command(name="import")
def import_spec(
    spec: Annotated[
        str, Parameter(allow_leading_hyphen=True, help="The document: a file, or - for standard input.")
    ],
    /,
    *,
    server: Annotated[
        str | None, Parameter(help="Base URL replacing the document's server (a sandbox, a tenant host).")
    ] = None,
    operation: Annotated[
        str | None, Parameter(help="The token operation, e.g. 'POST /oauth/token', when several look alike.")
    ] = None,
    json: JsonFlag = False,
    probe: Annotated[
        bool,
        Parameter(
            name="--probe",
            negative=(),
            help=f"Ask for one real token (client id and secret from {CLIENT_ID_VARIABLE} and "
            f"{CLIENT_SECRET_VARIABLE}, or a prompt) and fix what the answer settles.",
        ),
    ] = False,
    save_block: Annotated[
        str | None, Parameter(help="Save a Vendor Credentials block (vendor 'custom') with this name.")
    ] = None,
    extra: Annotated[
        list[str] | None,
        Parameter(
            consume_multiple=False,
            negative=(),
            help="name=value for a value the document requires (repeat the option for each).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, Parameter(name="--overwrite", negative=(), help="Replace an existing block of that name.")
    ] = False,
    timeout: Annotated[float, Parameter(help="Seconds for the probe's token request.")] = 30.0,
) -> int:
    """Read a vendor's API document (SPEC: a file, or - for standard input) and print the token
    dialect it describes: a summary and the Python to paste, or JSON with --json. Exit 2 when
    the document is broken, has no token operation or several (listed); 1 when the probe gets
    no token."""
    from_stdin = spec == "-"
    try:
        if from_stdin:
            result = import_document(
                parse_text(sys.stdin.read(), "standard input"),
                source="standard input",
                server=server,
                operation=operation,
            )
        else:
            result = import_openapi(spec, server=server, operation=operation)
    except SpecError as exc:
        return fail(str(exc), EXIT_BLOCK, as_json=json)

    out: dict[str, Any] = result.to_json()
    dialect = result.dialect
    report = None
    code = EXIT_OK
    if probe or save_block:
        if not result.token_url:
            return fail("the document names no usable server: pass --server", EXIT_BLOCK, as_json=json)
        try:
            client_id, secret = _client_credentials(from_stdin)
            extras = _extra_values(extra or [], result.needs, from_stdin)
        except _Missing as exc:
            return fail(str(exc), EXIT_BLOCK, as_json=json)
    if probe:
        try:
            report = run_probe(result, client_id, secret, extra=extras, timeout=timeout)
        except DialectError as exc:
            return fail(str(exc), EXIT_BLOCK, as_json=json)
        dialect = report.dialect
        out["dialect"] = dialect.model_dump(mode="json")
        out["probe"] = report.to_json()
        if not report.ok:
            code = EXIT_TOKEN
    if save_block and code == EXIT_OK:
        saved = _save(save_block, dialect, result.token_url, client_id, secret, extras, overwrite)
        if isinstance(saved, tuple):
            return fail(saved[1], saved[0], as_json=json)
        out["saved_block"] = save_block
    elif save_block:
        out["saved_block"] = None  # a dialect that got no token is not saved
    if json:
        print(jsonlib.dumps(out))
    else:
        _show(result, dialect, report, out.get("saved_block"), wanted=save_block)
    return code


def _save(
    name: str,
    dialect: Any,
    token_url: str,
    client_id: str,
    secret: SecretStr,
    extras: dict[str, Any],
    overwrite: bool,
) -> tuple[int, str] | None:
    from ..blocks.credentials import VendorCredentials

    try:
        block = VendorCredentials(
            vendor="custom",
            dialect=dialect,
            token_url=token_url,
            client_id=client_id,
            client_secret=secret,
            extra=extras,
        )
    except ValidationError as exc:  # messages name fields, never the values (a secret among them)
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'block'}: {e['msg']}" for e in exc.errors())
        return EXIT_BLOCK, f"the block would not be valid: {problems}"
    try:
        with prefect_api(blocks=True):
            block.save(name, overwrite=overwrite)
    except Stop as stop:
        return stop.code, stop.message
    except ValueError as exc:
        if "already" in str(exc).lower():
            return EXIT_BLOCK, f"a block named {name!r} already exists; pass --overwrite to replace it"
        raise
    return None


def _show(
    result: ImportResult,
    dialect: TokenDialect,
    report: ProbeReport | None,
    saved: str | None,
    *,
    wanted: str | None,
) -> None:
    """The summary for a person. Everything from the document is plain text, never Rich markup
    (a description with "[...]" must print as it is)."""
    table = Table(title=Text(f"{result.document}: {result.operation}"), show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    d = dialect
    auth = d.client_auth.value
    if d.client_auth.value == "basic_and_query":
        auth += f" (id also in ?{d.client_id_query_param})"
    grant = f"{d.grant_type_field}={d.client_credentials_grant}" if d.grant_type_field else "(no grant field)"
    rows = {
        "token URL": result.token_url or "(none: pass --server)",
        "request": f"{d.method}, body {d.body_encoding.value}, client auth {auth}",
        "grant": grant,
        "token at": " or ".join(d.access_token_path),
        "expiry": " or ".join(d.expires_in_path + d.expires_at_path) or "(none: JWT exp or default)",
        "errors": " or ".join(d.error_code_path) + " / " + " or ".join(d.error_message_path),
    }
    for key, value in rows.items():
        table.add_row(key, Text(value))
    console.print(table)

    def line(text: str) -> None:
        console.print(text, soft_wrap=True, markup=False, highlight=False)

    if result.needs:
        line("Needs (extra values of the credentials: --extra name=value):")
        for need in result.needs:
            described = f" ({need.description})" if need.description else ""
            line(f"  {need.name}: the {need.location} field {need.field}{described}")
    line("Notes:")
    for note in result.notes:
        line(f"  - {note}")
    if report is not None:
        if report.token is not None:
            line(
                f"Probe: a token ({report.token.fingerprint}, expiry from {report.token.expiry_source.value})"
            )
        else:
            line(f"Probe: no token: {type(report.error).__name__}: {report.error}")
        for kind, lines in (
            ("fixed", report.fixes),
            ("confirmed", report.confirmed),
            ("doubt", report.doubts),
        ):
            for text in lines:
                line(f"  {kind}: {text}")
    if saved:
        line(f"Saved block {saved!r} (vendor custom): prefect-vendortokens check {saved}")
    elif wanted:
        line(f"Block {wanted!r} not saved: the probe got no token.")
    line("Python to paste:")
    print(dialect_python(dialect))
