"""SQOD.

    python flows/sqod_appointments.py BLOCK_NAME API_BASE_URL

The flow itself ships in the package (`prefect_vendortokens.flows.sqod_appointments`), so it also runs and
deploys from a pip install.
"""

import sys

from prefect_vendortokens.flows import sqod_appointments

if __name__ == "__main__":
    print(sqod_appointments(sys.argv[1], sys.argv[2]))
