"""SQR.

    python flows/sqr_user_status.py BLOCK_NAME API_BASE_URL

The flow itself ships in the package (`prefect_vendortokens.flows.sqr_user_status`), so it also runs and
deploys from a pip install.
"""

import sys

from prefect_vendortokens.flows import sqr_user_status

if __name__ == "__main__":
    print(sqr_user_status(sys.argv[1], sys.argv[2]))
