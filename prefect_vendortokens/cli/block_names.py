"""Block names a person typed: a missing one is told with the closest saved names (and all of
them, when there are few), so a typo or the wrong Prefect API shows at once."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from .exits import EXIT_BLOCK
from .prefect_api import Stop, api_url

ALL_NAMES_UP_TO = 12  # list every saved name when there are at most this many


def saved_names() -> list[str]:
    """Every saved Vendor Credentials block's name, sorted."""
    from ..flows.rotation import vendor_block_names

    return vendor_block_names()


def require_saved(wanted: Sequence[str], names: Sequence[str] | None = None) -> None:
    """A ``Stop`` (exit 2) naming each wanted block that is not saved, with suggestions."""
    names = saved_names() if names is None else names
    missing = [name for name in wanted if name not in names]
    if missing:
        raise Stop(EXIT_BLOCK, not_found_message(missing, names))


def not_found_message(missing: Sequence[str], names: Sequence[str]) -> str:
    """``no Vendor Credentials block named 'cobe' (did you mean 'cobee'?)``, then the saved
    names when there are few, and where they were looked for."""
    parts = []
    folded = {n.lower(): n for n in names}  # "Cobee" is close to "cobee"
    for name in missing:
        close = [folded[n] for n in difflib.get_close_matches(name.lower(), folded, n=3, cutoff=0.6)]
        hint = f" (did you mean {', '.join(repr(n) for n in close)}?)" if close else ""
        parts.append(f"no Vendor Credentials block named {name!r}{hint}")
    where = f"the Prefect API at {api_url() or 'the temporary server'}"
    if not names:
        saved = (
            f"{where} has no Vendor Credentials blocks (`prefect-vendortokens save-blocks` saves "
            "the examples; or create one in the Prefect UI under Blocks)"
        )
    elif len(names) <= ALL_NAMES_UP_TO:
        saved = f"saved on {where}: {', '.join(names)}"
    else:
        saved = f"{len(names)} saved on {where} (`prefect-vendortokens status` lists them)"
    return "; ".join(parts) + f". {saved[0].upper()}{saved[1:]}"
