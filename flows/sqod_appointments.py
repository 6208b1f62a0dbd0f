"""SQOD: list appointments page by page and book one (per-customer base URL)."""

from __future__ import annotations

from prefect import flow

from prefect_vendortokens.api import call_api


@flow(name="sqod-appointments")
def sqod_appointments(credentials: str, base_url: str, per_page: int = 10, max_pages: int = 10) -> dict:
    """``credentials`` is the block name: tasks resolve the token themselves, none is passed."""
    seen: list[dict] = []
    for page in range(1, max_pages + 1):
        answer = call_api(
            credentials, "GET", f"{base_url}/api/v1/appointments", params={"page": page, "per_page": per_page}
        )
        seen += answer["data"]
        if len(answer["data"]) < per_page:
            break
    booked = call_api(credentials, "POST", f"{base_url}/api/v1/appointments", json={"title": "Site visit"})
    return {"appointments": len(seen), "booked": booked["data"]["id"]}


if __name__ == "__main__":
    import sys

    print(sqod_appointments(sys.argv[1], sys.argv[2]))
