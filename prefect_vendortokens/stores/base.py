"""What a store is built from (``StoreRequest``) and the lease every store's refresh lock keeps.
The protocols stores implement are the engine's (``engine/ports.py``). Pure: no Prefect, no hvac."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("prefect_vendortokens")

LOCK_LEASE = 60.0  # a refresh takes < 30 s (the request's timeout) plus two bounded store calls
LOCK_LEASE_ENV = "VENDORTOKENS_LOCK_LEASE"


def lock_lease() -> float:
    """Seconds a refresh lock is held at most: a crashed holder's lock is free again after it.
    ``VENDORTOKENS_LOCK_LEASE`` overrides the 60 s default (the crash tests use a few seconds);
    set it alike in every process of an account. Read here only, for every store's lock."""
    raw = os.environ.get(LOCK_LEASE_ENV, "").strip()
    if not raw:
        return LOCK_LEASE
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        logger.warning("%s=%r is not a positive number; using %g s", LOCK_LEASE_ENV, raw, LOCK_LEASE)
        return LOCK_LEASE
    return value


@dataclass(frozen=True)
class StoreLabel:
    """What a person needs to recognise a stored token: vendor, credentials block, token URL."""

    vendor: str
    block: str | None = None
    token_url: str = ""


@dataclass(frozen=True)
class StoreRequest:
    """What a store is built from: the account's label and the block's store settings."""

    label: StoreLabel
    vault: Any = None  # the Vault session (``vault.session.VaultSession``), for stores in Vault
    vault_mount: str = "secret"
    vault_path: str = "prefect-vendortokens/tokens"
