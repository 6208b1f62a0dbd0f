"""SQR: page through user-status with offset pagination."""

from __future__ import annotations

from prefect import flow

from prefect_vendortokens.api import call_api


@flow(name="sqr-user-status")
def sqr_user_status(credentials: str, base_url: str, limit: int = 10, max_pages: int = 50) -> dict:
    results: list[dict] = []
    offset = 0
    for _ in range(max_pages):
        body = {"filters": {}, "result_keys": [], "pagination": {"limit": limit, "offset": offset}}
        answer = call_api(credentials, "POST", f"{base_url}/v1/user-status", json=body)
        results += answer["results"]
        offset += limit
        if offset >= answer["pagination"]["total"]:
            break
    return {"users": len(results)}


if __name__ == "__main__":
    import sys

    print(sqr_user_status(sys.argv[1], sys.argv[2]))
