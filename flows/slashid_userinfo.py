"""SlashID.

    python flows/slashid_userinfo.py BLOCK_NAME API_BASE_URL

The flow itself ships in the package (`prefect_vendortokens.flows.slashid_userinfo`), so it also runs and
deploys from a pip install.
"""

import sys

from prefect_vendortokens.flows import slashid_userinfo

if __name__ == "__main__":
    print(slashid_userinfo(sys.argv[1], sys.argv[2]))
