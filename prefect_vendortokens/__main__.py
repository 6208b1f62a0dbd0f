"""``python -m prefect_vendortokens``: the ``prefect-vendortokens`` CLI."""

from .cli.app import entry

if __name__ == "__main__":
    entry()
