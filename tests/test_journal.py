"""The host's journal of a user grant's newest token: encrypted and fsync'd on arrival, never
plaintext on disk, opened only with the account's secret, dropped once the store has it."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from prefect_vendortokens import AccessToken, ExpirySource
from prefect_vendortokens.stores.journal import Journal


def token(name: str, seconds_later: float = 0) -> AccessToken:
    now = datetime.now(UTC) + timedelta(seconds=seconds_later)
    return AccessToken(
        access_token=SecretStr(f"access-{name}-CANARY"),
        refresh_token=SecretStr(f"refresh-{name}-CANARY"),
        issued_at=now,
        expires_at=now + timedelta(hours=1),
        expiry_source=ExpirySource.EXPIRES_IN,
        vendor="oauth2",
    )


def test_an_entry_is_encrypted_private_and_opens_only_with_the_accounts_secret(tmp_path) -> None:
    journal = Journal(tmp_path / "journal")
    new = token("new")
    assert journal.write("acct", new, b"client-secret")
    files = {p.name: p for p in (tmp_path / "journal").iterdir()}
    assert set(files) == {"journal.key", "acct.jwe"}  # no temp file left behind
    for path in files.values():
        raw = path.read_bytes()
        assert b"CANARY" not in raw and b"refresh-" not in raw  # never plaintext on disk
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "journal").stat().st_mode) == 0o700
    back = Journal(tmp_path / "journal").read("acct", b"client-secret")  # another process
    assert back == new and back.refresh_token.get_secret_value() == "refresh-new-CANARY"


def test_an_entry_that_no_longer_opens_is_dropped(tmp_path, caplog) -> None:
    journal = Journal(tmp_path)
    journal.write("acct", token("new"), b"old-secret")
    assert journal.read("acct", b"rotated-secret") is None
    assert not (tmp_path / "acct.jwe").exists() and "no longer opens" in caplog.text


def test_clear_drops_the_entry_only_once_the_store_has_it_or_newer(tmp_path) -> None:
    journal = Journal(tmp_path)
    older, new = token("older"), token("new", seconds_later=1)
    journal.write("acct", new, b"s")
    journal.clear("acct", older, b"s")  # the store still has an older token: keep it
    assert journal.read("acct", b"s") == new
    journal.clear("acct", new, b"s")
    assert journal.read("acct", b"s") is None


def test_a_pending_entry_keeps_the_account_out_of_the_rotations_shortcut(tmp_path) -> None:
    """``settled_by``: a stored token that does for the horizon settles the account without the
    lock, unless this host journaled a newer token (or a refresh is marked in flight): then
    the lock's holder must replay it."""
    from prefect_vendortokens.engine.manager import LazyClientSource, TokenManager
    from prefect_vendortokens.engine.ports import InFlight, StoredRecord

    journal = Journal(tmp_path)
    manager = TokenManager("acct", LazyClientSource(lambda: None), journal=journal)  # type: ignore[arg-type]
    stored = StoredRecord(token("stored"))
    assert not journal.pending("acct")
    assert manager.settled_by(stored, 900) and not manager.settled_by(stored, 7200)  # 1 h token
    journal.write("acct", token("new", seconds_later=1), b"s")
    assert journal.pending("acct") and not manager.settled_by(stored, 900)
    journal.clear("acct", token("new", seconds_later=1), b"s")
    marked = StoredRecord(stored.token, InFlight("sha256:r", "host:1", stored.token.issued_at))
    assert not manager.settled_by(marked, 900)


def test_a_journal_that_cannot_be_written_is_logged_not_raised(tmp_path, caplog) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert not Journal(blocked / "journal").write("acct", token("new"), b"s")
    assert "could not be written" in caplog.text and "CANARY" not in caplog.text
