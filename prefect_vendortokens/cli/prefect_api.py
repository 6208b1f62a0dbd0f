"""Which Prefect API a command talks to, and what its absence or failure means.

Prefect's client starts a temporary server (20-45 s here) when no ``PREFECT_API_URL`` is set, and
the command then reads and writes that server's local database instead of the user's server:
blocks "missing", empty tables, blocks "saved" where nobody looks. So every command that needs
the API stops at once (exit 3) unless an API is configured, the way Prefect resolves its settings
(environment, active profile, ``.env``, ``prefect.toml``), or ``--ephemeral`` asks for the
temporary server. ``--profile`` selects a profile the way ``prefect --profile NAME`` does.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator
from contextvars import ContextVar

import httpx

from .exits import EXIT_BLOCK, EXIT_PREFECT

REGISTER_COMMAND = "prefect block register -m prefect_vendortokens"
EXAMPLE_API_URL = "http://127.0.0.1:4200/api"  # where `prefect server start` serves it
# Prefect's default (20 s) is too short for the temporary server on a busy 2-core machine (seen
# taking 45-80 s there), and its timeout is a traceback, not an answer.
EPHEMERAL_STARTUP_TIMEOUT = 120
_ephemeral: ContextVar[bool] = ContextVar("prefect_vendortokens_cli_ephemeral", default=False)


class Stop(Exception):
    """Stop the command with this exit code and message (for a person, or ``--json``)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@contextlib.contextmanager
def session(profile: str | None = None, ephemeral: bool = False) -> Iterator[None]:
    """The settings a command runs with: ``profile`` as Prefect's own CLI selects it (its
    values win over the environment's), and with ``ephemeral`` a temporary server instead of
    any configured API. An unknown profile is a ``Stop`` with exit 2."""
    import prefect.context
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    with contextlib.ExitStack() as stack:
        if profile and prefect.context.get_settings_context().profile.name != profile:
            try:  # as prefect/cli/_app.py does it
                stack.enter_context(prefect.context.use_profile(profile, override_environment_variables=True))
            except KeyError:
                raise Stop(EXIT_BLOCK, _unknown_profile(profile)) from None
        if ephemeral:
            timeout = max(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value(), EPHEMERAL_STARTUP_TIMEOUT)
            updates = {
                PREFECT_SERVER_EPHEMERAL_ENABLED: True,
                PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: timeout,
            }
            stack.enter_context(temporary_settings(updates=updates, restore_defaults={PREFECT_API_URL}))
            stack.callback(_ephemeral.reset, _ephemeral.set(True))
        yield


def api_url() -> str:
    """The API URL Prefect's settings resolve to now ("" when none is configured)."""
    from prefect.settings import get_current_settings

    return str(get_current_settings().api.url or "")


def require_api() -> None:
    """A ``Stop`` with exit 3 when no Prefect API is configured (and ``--ephemeral`` was not
    given): before any client is made, so no temporary server starts."""
    if _ephemeral.get() or api_url():
        return
    import prefect.context

    profile = prefect.context.get_settings_context().profile.name
    raise Stop(
        EXIT_PREFECT,
        "no Prefect API is configured: PREFECT_API_URL is not set (not in the environment, nor in "
        f"the active Prefect profile {profile!r}, nor in .env or prefect.toml).\n"
        "Point PREFECT_API_URL at your Prefect server with one of:\n"
        f"  prefect config set PREFECT_API_URL={EXAMPLE_API_URL}   (kept in the active profile)\n"
        f"  export PREFECT_API_URL={EXAMPLE_API_URL}\n"
        "  prefect profile use NAME   (a profile that has it; or this CLI's --profile NAME)\n"
        "No server yet? `prefect server start` runs one at that address; or add --ephemeral to "
        "try things out on a throwaway temporary one.",
    )


@contextlib.contextmanager
def prefect_api(*, blocks: bool = False) -> Iterator[None]:
    """Around a command's use of the Prefect API: none configured is exit 3 at once, one that
    does not answer is exit 3 with the URL it tried. With ``blocks``, the package's block types
    must be registered there (exit 2 and the command that registers them, otherwise)."""
    require_api()
    try:
        if blocks:
            require_block_types()
        yield
    except (httpx.TransportError, OSError) as exc:
        where = api_url() or "the temporary server"
        raise Stop(
            EXIT_PREFECT, f"the Prefect API at {where} did not answer ({type(exc).__name__})"
        ) from None


def require_block_types() -> None:
    """The Vendor Credentials block type is known to the API (a server started with
    ``PREFECT_API_BLOCKS_REGISTER_ON_START=false``, or without this package installed, does not
    know it; Prefect then answers 404 to every read)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from ..blocks.credentials import VendorCredentials

    slug = VendorCredentials.get_block_type_slug()
    with get_client(sync_client=True) as client:
        try:
            client.read_block_type_by_slug(slug)
        except ObjectNotFound:
            raise Stop(
                EXIT_BLOCK,
                f"the Prefect API at {api_url() or 'the temporary server'} does not know the block type "
                f"{slug!r} (its server did not register this package's block types at start); "
                f"register them once: `{REGISTER_COMMAND}`",
            ) from None


def _unknown_profile(profile: str) -> str:
    from prefect.settings import load_profiles

    names = sorted(load_profiles().names)
    close = difflib.get_close_matches(profile, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"no Prefect profile named {profile!r}{hint}; profiles: {', '.join(names)} (`prefect profile ls`)"
