"""Resales-Online (PropQ): update a unit of a development by its name.

    python flows/resales_update_unit.py BLOCK_NAME API_BASE_URL DEVELOPMENT_ID UNIT_NAME

The flow itself ships in the package (`prefect_vendortokens.flows.resales_update_unit`), so it
also runs and deploys from a pip install.
"""

import sys

from prefect_vendortokens.flows import resales_update_unit

if __name__ == "__main__":
    print(resales_update_unit(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
