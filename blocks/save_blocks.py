"""Save the example block documents as VendorCredentials blocks (from a checkout).

Secrets come from the environment, never from the documents; this is
``prefect-vendortokens save-blocks`` (see README.md here), which also works from a pip install.
"""

import sys

from prefect_vendortokens.cli import main

if __name__ == "__main__":
    sys.exit(main(["save-blocks", *sys.argv[1:]]))
