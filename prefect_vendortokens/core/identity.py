"""The one identity function: every account key, cache key and fingerprint of the package is a
SHA-256 of this form, so the keys that name stored data are made in one place."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(value: Any) -> str:
    """SHA-256 (hex) of ``value``: a string as its UTF-8 bytes, anything else as its canonical
    JSON (sorted keys, ``str`` for what JSON lacks)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
