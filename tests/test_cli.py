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

from prefect_vendortokens.cli import EXIT_BLOCK, EXIT_OK, EXIT_TOKEN, main
from prefect_vendortokens.testing.openbao import free_port

ROOT = Path(__file__).resolve().parents[1]


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
    for command in ("check", "status", "authorize", "rotate", "deploy-rotation", "save-blocks", "sandbox"):
        assert command in out
    assert main(["no-such-command"]) == EXIT_BLOCK
    module = subprocess.run(
        [sys.executable, "-m", "prefect_vendortokens", "--help"], capture_output=True, text=True, timeout=120
    )
    assert module.returncode == 0 and "deploy-rotation" in module.stdout


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

    refreshed = read_events(prefect_server, "prefect-vendortokens.token.refreshed")
    failed = read_events(prefect_server, "prefect-vendortokens.token.refresh-failed")
    rotation = read_events(prefect_server, "prefect-vendortokens.rotation.failed")
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


def read_events(prefect_server, name: str) -> list[dict]:
    """The newest 50 events of that name (the API's page size), newest first."""
    from prefect.client.orchestration import get_client

    prefect_server.flush()
    body = {"filter": {"event": {"name": [name]}, "order": "DESC"}, "limit": 50}
    with get_client(sync_client=True) as client:
        return client.request("POST", "/events/filter", json=body).json()["events"]


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
