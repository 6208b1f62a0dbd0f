"""``python -m prefect_vendortokens.testing [--port N] [--seed S]``: the vendor sandbox service."""

import sys

from ..cli.app import main

if __name__ == "__main__":
    sys.exit(main(["sandbox", *sys.argv[1:]]))
