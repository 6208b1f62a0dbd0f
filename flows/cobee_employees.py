"""Cobee.

    python flows/cobee_employees.py BLOCK_NAME API_BASE_URL

The flow itself ships in the package (`prefect_vendortokens.flows.cobee_employees`), so it also runs and
deploys from a pip install.
"""

import sys

from prefect_vendortokens.flows import cobee_employees

if __name__ == "__main__":
    print(cobee_employees(sys.argv[1], sys.argv[2]))
