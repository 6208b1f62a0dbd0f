"""``prefect-vendortokens``: the package from a shell (check, status, authorize, rotate, deploy-rotation,
save-blocks, sandbox). ``python -m prefect_vendortokens`` runs the same CLI."""

from . import accounts, authorize, dialect, example_blocks, rotation, sandbox  # noqa: F401 - they register commands
from .app import EXIT_BLOCK, EXIT_OK, EXIT_PREFECT, EXIT_TOKEN, app, main

__all__ = ["EXIT_BLOCK", "EXIT_OK", "EXIT_PREFECT", "EXIT_TOKEN", "app", "main"]
