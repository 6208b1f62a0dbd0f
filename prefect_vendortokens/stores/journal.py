"""The host's journal: a user grant's new token, made durable on this host the moment it
arrives, until the shared store has it.

A refresh rotates the refresh token; between the answer and the store's acknowledgement the
new one exists only in the process, and a store write can stall for seconds. So the answer is
written here first (encrypted, fsync'd file and directory: a few milliseconds), and removed once
the store has it. A process killed in between leaves the entry behind, and the next process on
this host that uses the account replays it into the store under the refresh lock.

Never plaintext on disk: each entry is a JWE (``dir``, A256GCM, joserfc) under a key derived
(HMAC-SHA256) from a random host key kept beside the journal (``journal.key``, mode 0600, the
directory 0700) and the account's client secret or private key. The journal and its key file
together open only a public client's entries; a confidential client's also need its secret,
which lives in Prefect or Vault, never on this disk. An entry that no longer opens (the secret
was rotated) is dropped. ``VENDORTOKENS_JOURNAL_DIR`` moves the journal (default
``$XDG_STATE_HOME/prefect-vendortokens/journal``, i.e. ``~/.local/state/...``)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.caches import ProcessCache
from ..core.token import AccessToken
from .codec import dump_token, load_token

if TYPE_CHECKING:
    from joserfc.jwk import OctKey

logger = logging.getLogger("prefect_vendortokens")
JOURNAL_DIR_ENV = "VENDORTOKENS_JOURNAL_DIR"
_CONTEXT = b"prefect-vendortokens journal v1"


def journal_dir() -> Path:
    configured = os.environ.get(JOURNAL_DIR_ENV, "").strip()
    if configured:
        return Path(configured)
    state = os.environ.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
    return Path(state) / "prefect-vendortokens" / "journal"


class Journal:
    """One entry per account (its store key) on this host. Every method is best effort: a
    journal that cannot be used is logged and skipped (the store write still follows)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or journal_dir()
        self._host_key: bytes | None = None

    def write(self, key: str, token: AccessToken, secret: bytes) -> bool:
        """Encrypt, write, fsync the file, rename it in place and fsync the directory."""
        try:
            sealed = self._seal(key, secret, dump_token(token).encode())
            fd, temp = tempfile.mkstemp(dir=self.dir, prefix=".entry-")
            try:
                os.write(fd, sealed)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self._entry(key))
            self._sync_dir()
            return True
        except Exception as exc:
            logger.warning(
                "the token journal in %s could not be written (%s): a crash before the store write "
                "would lose this token",
                self.dir,
                type(exc).__name__,
            )
            return False

    def read(self, key: str, secret: bytes) -> AccessToken | None:
        """The journaled token of the account, if any (an entry that no longer opens is dropped)."""
        path = self._entry(key)
        try:
            sealed = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("the token journal in %s could not be read (%s)", self.dir, type(exc).__name__)
            return None
        try:
            token = load_token(self._open(key, secret, sealed).decode())
        except Exception:
            token = None
        if token is None:
            logger.warning("dropping a journal entry that no longer opens (a rotated client secret?)")
            with contextlib.suppress(OSError):
                self._remove(path)
        return token

    def clear(self, key: str, stored: AccessToken, secret: bytes) -> None:
        """Drop the entry once the store holds its token or a newer one."""
        journaled = self.read(key, secret)
        if journaled is not None and journaled.issued_at <= stored.issued_at:
            try:
                self._remove(self._entry(key))
            except OSError as exc:  # left behind: replayed (as already stored) and dropped later
                logger.warning(
                    "a journal entry in %s could not be removed (%s)", self.dir, type(exc).__name__
                )

    # --- plumbing -------------------------------------------------------------------------
    def pending(self, key: str) -> bool:
        """True when the account has an entry on this host (not opened: no secret needed)."""
        try:
            return self._entry(key).exists()
        except OSError:
            return True  # cannot tell: let the account go through the lock, which replays it

    def _entry(self, key: str) -> Path:
        return self.dir / f"{key[:40]}.jwe"

    def _remove(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            self._sync_dir()

    def _sync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _key(self, key: str, secret: bytes) -> OctKey:
        from joserfc.jwk import OctKey

        material = hmac.new(self._host(), _CONTEXT + b"\0" + key.encode() + b"\0" + secret, hashlib.sha256)
        return OctKey.import_key(material.digest())

    def _seal(self, key: str, secret: bytes, plaintext: bytes) -> bytes:
        from joserfc import jwe

        header = {"alg": "dir", "enc": "A256GCM"}
        return jwe.encrypt_compact(header, plaintext, self._key(key, secret)).encode()

    def _open(self, key: str, secret: bytes, sealed: bytes) -> bytes:
        from joserfc import jwe

        return jwe.decrypt_compact(sealed, self._key(key, secret)).plaintext or b""

    def _host(self) -> bytes:
        """The host key: made once (0600, never replaced), read by every process of this host."""
        if self._host_key is not None:
            return self._host_key
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.dir / "journal.key"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            try:
                os.write(fd, secrets.token_bytes(32))
                os.fsync(fd)
            finally:
                os.close(fd)
        key = path.read_bytes()
        if len(key) != 32:  # a writer that died between create and write: nothing was sealed with it
            raise OSError(f"the journal key {path} is damaged")
        self._host_key = key
        return key


_default: ProcessCache[str, Journal] = ProcessCache("host journal")


def default_journal() -> Journal:
    """The process's journal (its directory read from the environment on first use)."""
    return _default.get_or_make("", Journal)
