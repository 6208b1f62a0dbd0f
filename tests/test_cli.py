"""The CLI against the session's Prefect test server and the vendor emulation, the sandbox as a
service in its own process, events read back from the server, and a plain script with no
Prefect API (it must not start one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from prefect_vendortokens.cli import EXIT_BLOCK, EXIT_OK, EXIT_PREFECT, EXIT_TOKEN, main
from prefect_vendortokens.testing.openbao import free_port

from .conftest import block_for

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("check", "status", "authorize", "rotate", "deploy-rotation", "save-blocks", "sandbox")
API_COMMANDS = {  # every command that needs a Prefect API, with arguments that would otherwise work
    "check": ["check", "cobee"],
    "status": ["status"],
    "authorize": ["authorize", "idp-alice", "--no-browser"],
    "rotate": ["rotate"],
    "deploy-rotation": ["deploy-rotation"],
    "save-blocks": ["save-blocks"],
}
NO_API_BOUND = 15.0  # seconds; Prefect's temporary server alone takes 20-45 s here


def run(capsys, *argv: str) -> tuple[int, object]:
    code = main(list(argv))
    out = capsys.readouterr().out.strip()
    return code, json.loads(out.splitlines()[-1]) if "--json" in argv and out else out


def env_file(sandbox, tmp_path: Path, without: tuple[str, ...] = ()) -> Path:
    path = tmp_path / "sandbox.env"
    values = {k: v for k, v in sandbox.env().items() if not any(k.startswith(p) for p in without)}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def test_help_lists_every_command(capsys) -> None:
    assert main(["--help"]) == EXIT_OK
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out
    assert main(["no-such-command"]) == EXIT_BLOCK
    module = subprocess.run(
        [sys.executable, "-m", "prefect_vendortokens", "--help"], capture_output=True, text=True, timeout=120
    )
    assert module.returncode == 0 and "deploy-rotation" in module.stdout


def test_help_has_a_short_summary_per_command_and_describes_every_argument(capsys) -> None:
    from prefect_vendortokens.cli import app

    for command in COMMANDS:
        summary = app[command].help.strip().splitlines()[0]
        assert summary.endswith(".") and len(summary) <= 90, (command, summary)
        shown = [a for a in app[command].assemble_argument_collection() if a.show]
        assert shown, command
        assert [a.name for a in shown if not (a.parameter.help or "").strip()] == [], command
    session = [a for a in app.meta.assemble_argument_collection() if a.show]
    assert {a.name for a in session} == {"--profile", "--ephemeral"}
    assert all(a.parameter.help for a in session)
    assert main(["save-blocks", "--help"]) == EXIT_OK
    text = " ".join(capsys.readouterr().out.split())  # joined across the help's line breaks
    from prefect_vendortokens.cli.example_blocks import EXAMPLE_BLOCKS

    for vendor, document in EXAMPLE_BLOCKS.items():
        assert vendor in text and document["name"] in text
    assert "resales_online (block resales-online)" in text
    assert "environment wins" in text
    assert main(["rotate", "--help"]) == EXIT_OK
    text = " ".join(capsys.readouterr().out.split())
    assert "--verbose" in text and "--ephemeral" in text and "throwaway" in text


def test_save_blocks_says_which_variable_a_skipped_vendor_needs(
    prefect_server, sandbox, tmp_path, capsys
) -> None:
    path = env_file(sandbox, tmp_path, without=("VENDORTOKENS_COBEE_CLIENT_SECRET", "VENDORTOKENS_SQOD"))
    code, rows = run(capsys, "save-blocks", "--env-file", str(path), "--prefix", "sv-", "--json")
    assert code == EXIT_OK
    by_vendor = {r["vendor"]: r for r in rows}
    assert {v for v, r in by_vendor.items() if r["saved"]} == {"slashid", "sqr", "resales_online"}
    assert by_vendor["sqod"]["needs"] == "VENDORTOKENS_SQOD_CLIENT_ID and VENDORTOKENS_SQOD_CLIENT_SECRET"
    cobee = by_vendor["cobee"]["needs"]
    assert cobee.startswith("VENDORTOKENS_COBEE_CLIENT_SECRET, or VENDORTOKENS_VAULT_BLOCK")
    assert "secret/vendors/cobee" in cobee
    empty = tmp_path / "empty.env"
    empty.write_text("# nothing\n")
    assert run(capsys, "save-blocks", "sqr", "--env-file", str(empty), "--json")[0] == EXIT_BLOCK


def test_check_status_rotate_and_their_events(prefect_server, sandbox, tmp_path, capsys) -> None:
    from prefect_vendortokens import VendorCredentials

    assert (
        run(capsys, "save-blocks", "--env-file", str(env_file(sandbox, tmp_path)), "--prefix", "cli-")[0] == 0
    )
    wrong = "cli-WRONG-secret-CANARY"
    creds = sandbox.credentials("sqr")
    VendorCredentials(
        vendor="sqr", token_url=sandbox.token_url("sqr"), client_id=creds.client_id, client_secret=wrong
    ).save("cli-broken", overwrite=True)

    code, checked = run(capsys, "check", "cli-sqr", "--json")
    assert code == EXIT_OK and checked["fingerprint"].startswith("sha256:") and checked["store"] == "prefect"
    code, missing = run(capsys, "check", "cli-nope", "--json")
    assert code == EXIT_BLOCK and "no Vendor Credentials block named 'cli-nope'" in missing["error"]
    code, refused = run(capsys, "check", "cli-broken", "--json")
    assert code == EXIT_TOKEN and "invalid_client" in refused["error"] and wrong not in refused["error"]

    code, rows = run(capsys, "rotate", "cli-sqr", "cli-slashid", "cli-broken", "--horizon", "60", "--json")
    assert code == EXIT_TOKEN
    assert {r["block"]: r["status"] for r in rows} == {
        "cli-sqr": "still valid",  # the token check fetched is in the shared store
        "cli-slashid": "refreshed",
        "cli-broken": "failed",
    }
    code, status = run(capsys, "status", "--json")
    assert code == EXIT_OK
    by_block = {r["block"]: r for r in status}
    assert by_block["cli-sqr"]["fingerprint"] == checked["fingerprint"]
    assert (
        by_block["cli-slashid"]["fingerprint"].startswith("sha256:")
        and by_block["cli-slashid"]["last_refresh"]
    )
    assert "CredentialsRejectedError" in by_block["cli-broken"]["last_error"]

    refreshed = read_events(prefect_server, "prefect-vendortokens.token.refreshed", blocks=("cli-sqr",))
    failed = read_events(prefect_server, "prefect-vendortokens.token.refresh-failed", blocks=("cli-broken",))
    rotation = read_events(prefect_server, "prefect-vendortokens.rotation.failed", blocks=("cli-broken",))
    events = refreshed + failed + rotation
    sqr = next(e for e in refreshed if e["payload"]["block"] == "cli-sqr")
    assert sqr["payload"]["fingerprint"] == checked["fingerprint"] and sqr["payload"]["vendor"] == "sqr"
    roles = {r["prefect.resource.role"]: r for r in sqr["related"]}
    block_id = str(VendorCredentials.load("cli-sqr")._block_document_id)
    assert roles["block"]["prefect.resource.id"] == f"prefect.block-document.{block_id}"
    broken = next(e for e in failed if e["payload"]["block"] == "cli-broken")
    assert (
        broken["payload"]["error_type"] == "CredentialsRejectedError" and broken["payload"]["status"] == 401
    )
    assert rotation and rotation[0]["payload"]["failed_blocks"] == ["cli-broken"]
    text = json.dumps(events)
    assert [s[:8] for s in (wrong, *sandbox.issued_secrets()) if s in text] == []


def read_events(prefect_server, name: str, *, blocks: tuple[str, ...] = ()) -> list[dict]:
    """The newest 50 events of that name (the API's page size), newest first, once they are
    there: the server persists events in batches (about a second behind on Prefect 3.9), so wait
    (bounded) until one is stored for each of ``blocks`` (or any, without ``blocks``)."""
    from prefect.client.orchestration import get_client

    prefect_server.flush()
    body = {"filter": {"event": {"name": [name]}, "order": "DESC"}, "limit": 50}
    deadline = time.monotonic() + 30
    while True:
        with get_client(sync_client=True) as client:
            events = client.request("POST", "/events/filter", json=body).json()["events"]
        seen = {str(block) for e in events for block in _event_blocks(e)}
        if (set(blocks) <= seen if blocks else events) or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def _event_blocks(event: dict) -> list[str]:
    payload = event.get("payload") or {}
    return [payload["block"]] if "block" in payload else list(payload.get("failed_blocks", []))


def test_sandbox_service_keeps_its_credentials_and_takes_http_controls(tmp_path) -> None:
    port, path = free_port(), tmp_path / "sandbox.env"

    def start() -> subprocess.Popen:
        cmd = [sys.executable, "-m", "prefect_vendortokens.testing", "--port", str(port)]
        cmd += ["--env-file", str(path), "--seconds", "60"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_control/counts", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
            time.sleep(0.2)

    proc = start()
    try:
        first = path.read_text()
        assert oct(path.stat().st_mode)[-3:] == "600"
        values = dict(line.split("=", 1) for line in first.splitlines())
        base = f"http://127.0.0.1:{port}"
        assert values["VENDORTOKENS_SQR_TOKEN_URL"] == f"{base}/sqr/v1/oauth/token"
        assert httpx.post(f"{base}/_control/fail?vendor=sqr&n=1&status=503").json() == {"ok": True}
        body = {
            "client_id": values["VENDORTOKENS_SQR_CLIENT_ID"],
            "client_secret": values["VENDORTOKENS_SQR_CLIENT_SECRET"],
            "grant_type": "client_credentials",
        }
        assert httpx.post(values["VENDORTOKENS_SQR_TOKEN_URL"], json=body).status_code == 503
        assert httpx.post(values["VENDORTOKENS_SQR_TOKEN_URL"], json=body).status_code == 200
        assert httpx.get(f"{base}/_control/counts").json()["sqr"]["token_requests"] == 2
        assert httpx.post(f"{base}/_control/fail?n=1").status_code == 400  # names what is missing
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    proc = start()  # a restart with the same env file: the same seed, the same credentials
    try:
        assert path.read_text() == first
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_plain_script_without_a_prefect_api_starts_no_server(sandbox, tmp_path) -> None:
    """No PREFECT_API_URL: the default store is this process's memory (said once at INFO), so
    the first token costs one HTTP request, not a temporary Prefect server (21 to 45 s here)."""
    creds = sandbox.credentials("sqr")
    script = f"""
import json, logging, time
logging.basicConfig(level=logging.INFO)
from prefect_vendortokens import VendorCredentials
block = VendorCredentials(vendor="sqr", token_url={sandbox.token_url("sqr")!r},
                          client_id={creds.client_id!r}, client_secret={creds.client_secret!r})
started = time.perf_counter()
token = block.get_token()
print(json.dumps({{"seconds": time.perf_counter() - started, "store": block.store_kind(),
                  "valid": token.is_valid()}}))
"""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {"PREFECT_HOME": str(home)}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"first get_token with no Prefect API: {report['seconds']:.3f} s")
    assert report["store"] == "memory" and report["valid"]
    assert "token store 'memory': no Prefect API is configured" in result.stderr
    assert not list(home.rglob("*.db"))  # no ephemeral server made a database
    assert report["seconds"] < 5, report  # a temporary server takes 20 s or more; one request, ms
    assert sandbox.token_requests("sqr") == 1


@pytest.mark.parametrize("document", sorted((ROOT / "blocks").glob("*.json")), ids=lambda p: p.stem)
def test_block_documents_match_the_packaged_examples(document: Path) -> None:
    from prefect_vendortokens.cli.example_blocks import EXAMPLE_BLOCKS

    data = json.loads(document.read_text())
    assert EXAMPLE_BLOCKS[data["vendor"]] == data


# --- which Prefect API: none configured, --profile, --ephemeral --------------------------------


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: no PREFECT_* variable, a fresh PREFECT_HOME (Prefect's
    default profiles, the active one 'ephemeral', which allows a temporary server), 80 columns."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VENDORTOKENS_"))}
    return (
        env
        | {"PREFECT_HOME": str(home), "COLUMNS": "80", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        | extra
    )


def cli(
    env: dict[str, str], *argv: str, timeout: float = 120, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess, float]:
    """The CLI in its own process, as a person runs it; and how long it took."""
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - this package's CLI
        [sys.executable, "-m", "prefect_vendortokens", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return result, time.monotonic() - started


def test_no_prefect_api_is_exit_3_at_once_and_starts_no_server(sandbox, tmp_path) -> None:
    """With no PREFECT_API_URL anywhere, the command stops before any Prefect client exists: no
    temporary server (20-45 s, and a database in PREFECT_HOME), nothing saved anywhere. The time
    bound allows for what merely starting Python with Prefect costs on this machine right now
    (measured here: it varies with the load of the shared cores), plus a margin well under what a
    temporary server takes."""
    home = tmp_path / "home"
    started = time.monotonic()
    baseline = subprocess.run(
        [sys.executable, "-c", "import prefect_vendortokens.cli, prefect.context"],
        env=clean_env(home),
        timeout=120,
        check=True,
    )
    bound = max(NO_API_BOUND, time.monotonic() - started + 10)
    assert baseline.returncode == 0
    for argv in (["status"], ["save-blocks", "--env-file", str(env_file(sandbox, tmp_path))]):
        result, seconds = cli(clean_env(home), *argv)
        print(
            f"{argv[0]} with no Prefect API: exit {result.returncode} in {seconds:.1f} s, bound {bound:.1f}"
        )
        assert result.returncode == EXIT_PREFECT, result.stderr[-3000:]
        assert seconds < bound
        said = " ".join(result.stderr.split())
        assert said.startswith("error: no Prefect API is configured: PREFECT_API_URL is not set")
        assert "active Prefect profile 'ephemeral'" in said
        for how in ("prefect config set PREFECT_API_URL=", "prefect profile use NAME", "--profile NAME"):
            assert how in said, how
        assert "--ephemeral" in said and "Traceback" not in result.stderr and result.stdout == ""
        assert not list(home.rglob("*.db"))  # no temporary server made its database
    assert sandbox.token_requests("sqr") == 0


def test_every_api_command_stops_when_no_api_is_configured(capsys) -> None:
    """In this process too (where the session's test server may be configured: it is unset
    here the way Prefect resolves settings), every command that needs the API, --json as well."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        for command, argv in API_COMMANDS.items():
            started = time.monotonic()
            assert main(argv) == EXIT_PREFECT, command
            assert time.monotonic() - started < NO_API_BOUND, command
            assert "PREFECT_API_URL is not set" in capsys.readouterr().err, command
        code, said = run(capsys, "status", "--json")
    assert (
        code == EXIT_PREFECT and said["exit_code"] == EXIT_PREFECT and "prefect profile use" in said["error"]
    )


def test_an_api_that_does_not_answer_is_exit_3_with_its_url(capsys) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    dead = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    with temporary_settings({PREFECT_API_URL: dead}):
        code, said = run(capsys, "status", "--json")
    assert code == EXIT_PREFECT
    assert said["error"] == f"the Prefect API at {dead} did not answer (ConnectError)"


def test_the_api_comes_from_prefect_profiles_and_profile_selects_one(
    prefect_server, sandbox, tmp_path
) -> None:
    """The URL is looked for where Prefect looks (here: the active profile of profiles.toml, not
    the environment), and --profile picks a profile as `prefect --profile NAME` does."""
    from prefect.settings import PREFECT_API_URL

    block_for(sandbox, "sqr").save("prof-sqr", overwrite=True)
    home = tmp_path / "home"
    home.mkdir()

    def profiles(active: str) -> None:
        (home / "profiles.toml").write_text(
            f'active = "{active}"\n\n[profiles.ephemeral]\nPREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n\n'
            f'[profiles.work]\nPREFECT_API_URL = "{PREFECT_API_URL.value()}"\n'
        )

    profiles(active="ephemeral")
    chosen, _ = cli(clean_env(home), "--profile", "work", "status", "--json")
    assert chosen.returncode == 0, chosen.stderr[-3000:]
    assert "prof-sqr" in {row["block"] for row in json.loads(chosen.stdout.splitlines()[-1])}
    unknown, _ = cli(clean_env(home), "status", "--profile", "wrok")
    assert unknown.returncode == EXIT_BLOCK
    said = " ".join(unknown.stderr.split())
    assert "no Prefect profile named 'wrok' (did you mean 'work'?); profiles: " in said
    assert "ephemeral" in said and "work" in said
    profiles(active="work")
    active, _ = cli(clean_env(home), "check", "prof-sqr", "--json")
    assert active.returncode == 0, active.stderr[-3000:]
    assert json.loads(active.stdout.splitlines()[-1])["block"] == "prof-sqr"
    profiles(active="ephemeral")  # and a prefect.toml in the working directory, as Prefect reads it
    project = tmp_path / "project"
    project.mkdir()
    (project / "prefect.toml").write_text(f'[api]\nurl = "{PREFECT_API_URL.value()}"\n')
    in_project, _ = cli(clean_env(home), "check", "prof-sqr", "--json", cwd=project)
    assert in_project.returncode == 0, in_project.stderr[-3000:]
    assert not list(home.rglob("*.db"))


# --- block types and block names ----------------------------------------------------------------


def test_unregistered_block_types_say_how_to_register_them(sandbox, tmp_path, capsys) -> None:
    """A real `prefect server start` that registers no block types at start: each command that
    reads blocks exits 2 naming the register command; that exact command registers all three
    block types (the package exposes them lazily), and the commands work after it."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_vendortokens.testing.prefect_server import prefect_server as real_server

    env = clean_env(tmp_path / "server-home", PREFECT_API_BLOCKS_REGISTER_ON_START="false")
    with (
        real_server(env, log=tmp_path / "server.log") as (api, env),
        temporary_settings({PREFECT_API_URL: api}),
    ):
        for argv in (["status"], ["check", "cobee"], ["rotate"], ["authorize", "cobee", "--no-browser"]):
            assert main(argv) == EXIT_BLOCK, argv
            out = capsys.readouterr()
            said = " ".join(out.err.split())
            assert f"the Prefect API at {api} does not know the block type 'vendor-credentials'" in said, argv
            assert "register them once: `prefect block register -m prefect_vendortokens`" in said, argv
            assert "Traceback" not in out.err + out.out
        register = subprocess.run(  # noqa: S603 - the prefect CLI of this environment
            [str(Path(sys.executable).parent / "prefect"), "block", "register", "-m", "prefect_vendortokens"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert register.returncode == 0, register.stdout + register.stderr
        assert "Successfully registered 3 blocks" in register.stdout
        with get_client(sync_client=True) as client:
            slugs = {t.slug for t in client.read_block_types()}
        assert {"vendor-credentials", "vault-credentials", "vendor-token"} <= slugs
        assert run(capsys, "status", "--json") == (EXIT_OK, [])
        code, missing = run(capsys, "check", "cobee", "--json")
        assert code == EXIT_BLOCK
        assert missing["error"] == (
            f"no Vendor Credentials block named 'cobee'. The Prefect API at {api} has no Vendor "
            "Credentials blocks (`prefect-vendortokens save-blocks` saves the examples; or create one "
            "in the Prefect UI under Blocks)"
        )
        path = env_file(sandbox, tmp_path)
        assert run(capsys, "save-blocks", "sqr", "--env-file", str(path), "--json")[0] == EXIT_OK
        assert run(capsys, "check", "sqr", "--json")[0] == EXIT_OK


def test_a_missing_block_is_told_with_the_closest_names(prefect_server, sandbox, tmp_path, capsys) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    assert (
        run(capsys, "save-blocks", "--env-file", str(env_file(sandbox, tmp_path)), "--prefix", "sg-")[0] == 0
    )
    code, said = run(capsys, "check", "sg-cobe", "--json")
    assert code == EXIT_BLOCK
    assert said["error"].startswith("no Vendor Credentials block named 'sg-cobe' (did you mean 'sg-cobee'")

    def rotation_runs() -> int:
        rotation = FlowFilter(name=FlowFilterName(any_=["rotate-vendor-tokens"]))
        with get_client(sync_client=True) as client:
            return len(client.read_flow_runs(flow_filter=rotation))

    before = rotation_runs()
    code, said = run(capsys, "rotate", "sg-sqr", "sg-slashd", "SG-SQOD", "--json")
    assert code == EXIT_BLOCK and rotation_runs() == before  # stopped before a flow run
    assert "no Vendor Credentials block named 'sg-slashd' (did you mean 'sg-slashid'" in said["error"]
    assert "no Vendor Credentials block named 'SG-SQOD' (did you mean 'sg-sqod'" in said["error"]
    assert "named 'sg-sqr'" not in said["error"]


def test_not_found_lists_all_names_when_few_and_a_count_when_many(prefect_server) -> None:
    from prefect_vendortokens.cli.block_names import ALL_NAMES_UP_TO, not_found_message

    few = not_found_message(["cobe"], ["cobee", "sqr"])
    assert few.startswith("no Vendor Credentials block named 'cobe' (did you mean 'cobee'?). Saved on ")
    assert few.endswith(": cobee, sqr")
    many = [
        f"{vendor}-{stage}"
        for vendor in ("sqr", "sqod", "cobee", "slashid")
        for stage in ("dev", "test", "prod")
    ]
    many.append("resales-online-prod")
    assert len(many) == ALL_NAMES_UP_TO + 1
    said = not_found_message(["cobee-prd", "zzz"], many)
    assert "named 'cobee-prd' (did you mean 'cobee-prod'" in said and "named 'zzz'. 13 saved on " in said
    assert "sqr-dev" not in said
    assert said.endswith(
        f"{len(many)} saved on the Prefect API at {prefect_server_url()} "
        "(`prefect-vendortokens status` lists them)"
    )


def prefect_server_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


# --- a failed rotation, the environment over --env-file, 80 columns -----------------------------


def test_a_failed_rotation_prints_the_table_and_a_line_per_failure(
    prefect_server, sandbox, tmp_path, capsys
) -> None:
    """As a person sees it (its own process, 80 columns): the table, one line per failed account,
    no engine traceback; the run is still recorded on the server as Failed, with its artifact
    and the tracebacks in its logs. --verbose prints the full error."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL

    wrong = "rf-WRONG-secret-CANARY"
    block_for(sandbox, "sqr", token_store="prefect").save("rf-sqr", overwrite=True)
    block_for(sandbox, "sqr", client_secret=wrong).save("rf-resales-broken", overwrite=True)
    code, checked = run(capsys, "check", "rf-sqr", "--json")  # its token goes to the shared store
    assert code == EXIT_OK
    env = clean_env(tmp_path / "home", PREFECT_API_URL=PREFECT_API_URL.value())
    result, seconds = cli(env, "rotate", "rf-sqr", "rf-resales-broken")
    print(
        f"rotate with one failure: {seconds:.1f} s, {len((result.stdout + result.stderr).splitlines())} lines"
    )
    assert result.returncode == EXIT_TOKEN, result.stderr[-3000:]
    shown = result.stdout + result.stderr
    assert "Traceback" not in shown and "Encountered exception" not in shown and wrong not in shown
    failures = "\n\n1 of 2 accounts failed:\n  rf-resales-broken: CredentialsRejectedError: invalid_client"
    assert failures + " (HTTP 401)\n" in result.stdout
    assert "Client authentication failed" not in shown  # the full text is for --verbose
    assert (
        checked["fingerprint"] in result.stdout
    )  # "still valid": the stored token and "rf-resales-broken" in result.stdout and "…" not in result.stdout
    assert len(shown.splitlines()) < 30

    rotation = FlowFilter(name=FlowFilterName(any_=["rotate-vendor-tokens"]))
    with get_client(sync_client=True) as client:
        (flow_run,) = client.read_flow_runs(flow_filter=rotation, sort=FlowRunSort.START_TIME_DESC, limit=1)
        of_the_run = {"flow_run_id": {"any_": [str(flow_run.id)]}}
        artifacts = client.request("POST", "/artifacts/filter", json={"artifacts": of_the_run}).json()
        prefect_server.flush()
        logs = client.request("POST", "/logs/filter", json={"logs": of_the_run, "limit": 200}).json()
    assert flow_run.state.is_failed() and str(flow_run.id) in result.stdout
    assert "vendor-token-rotation" in {a["key"] for a in artifacts}
    kept = "\n".join(log["message"] for log in logs)  # the server keeps the run's logs whole
    assert "Encountered exception during execution" in kept and "Traceback" in kept

    code, out = run(capsys, "rotate", "rf-resales-broken", "--verbose")
    assert code == EXIT_TOKEN
    assert "rf-resales-broken: vendor rejected the client credentials" in out
    assert "vendor said: invalid_client: Client authentication failed" in out and wrong not in out


def test_the_environment_wins_over_the_env_file(
    prefect_server, sandbox, tmp_path, capsys, monkeypatch
) -> None:
    from prefect_vendortokens import VendorCredentials

    path = env_file(sandbox, tmp_path)
    assert "VENDORTOKENS_SQR_CLIENT_SECRET=" in path.read_text()
    monkeypatch.setenv("VENDORTOKENS_SQR_CLIENT_SECRET", "override-from-the-environment")
    assert run(capsys, "save-blocks", "sqr", "sqod", "--env-file", str(path), "--prefix", "ew-")[0] == EXIT_OK
    assert (
        VendorCredentials.load("ew-sqr").client_secret.get_secret_value() == "override-from-the-environment"
    )
    file_value = sandbox.credentials("sqod").client_secret  # not in the environment: the file's
    assert VendorCredentials.load("ew-sqod").client_secret.get_secret_value() == file_value
    code, refused = run(capsys, "check", "ew-sqr", "--json")  # the override is what is used
    assert code == EXIT_TOKEN and "invalid_client" in refused["error"]


def narrow(width: int = 80):
    import io

    from rich.console import Console

    return Console(width=width, file=io.StringIO(), highlight=False, color_system=None)


STATUS_ROWS = [
    {
        "block": f"cli-{vendor}-production-account",
        "vendor": vendor,
        "grant": "client_credentials",
        "store": "prefect",
        "fingerprint": f"sha256:{n:012x}",
        "expires_in": "0:59:58",
        "last_refresh": "2026-12-03T07:33:04+00:00",
        "last_error": "2026-12-03T07:35:00 CredentialsRejectedError: invalid_client" if n else "",
    }
    for n, vendor in enumerate(("resales_online", "sqr", "slashid"))
]


@pytest.mark.parametrize("width", [80, 60])
def test_tables_stay_readable_when_narrow(width: int) -> None:
    from prefect_vendortokens.cli.output import show, show_commands
    from prefect_vendortokens.cli.rotation import COLUMNS

    out = narrow(width)
    show(STATUS_ROWS, list(STATUS_ROWS[0]), as_json=False, title="Vendor tokens", target=out)
    rotation_rows = [r | {"expires_at": r["last_refresh"], "status": "refreshed"} for r in STATUS_ROWS]
    show(rotation_rows, COLUMNS, as_json=False, title="Vendor token rotation", target=out)
    text = out.file.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
    for row in STATUS_ROWS:
        for value in (row["block"], row["fingerprint"], row["last_refresh"], row["vendor"]):
            assert value in text, value
    assert "CredentialsRejectedError: invalid_client" in " ".join(text.split())

    wide = narrow(240)
    show(STATUS_ROWS, list(STATUS_ROWS[0]), as_json=False, title="Vendor tokens", target=wide)
    assert "┃ block " in wide.file.getvalue()  # a table where it fits

    hint = narrow(30)
    show_commands(
        [("Run it now", "prefect deployment run 'rotate-vendor-tokens/rotate-vendor-tokens'")], hint
    )
    assert "  prefect deployment run 'rotate-vendor-tokens/rotate-vendor-tokens'\n" in hint.file.getvalue()
