"""SlashID: the token (scope openid) at the userinfo endpoint."""

from __future__ import annotations

from prefect import flow

from prefect_vendortokens.api import call_api


@flow(name="slashid-userinfo")
def slashid_userinfo(credentials: str, base_url: str) -> dict:
    info = call_api(credentials, "GET", f"{base_url}/oauth2/userinfo")
    return {"sub": info["sub"]}


if __name__ == "__main__":
    import sys

    print(slashid_userinfo(sys.argv[1], sys.argv[2]))
