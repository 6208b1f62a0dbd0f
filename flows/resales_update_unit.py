"""Resales-Online (PropQ): update a unit by name. Every call but the token request is JSON."""

from __future__ import annotations

from prefect import flow

from prefect_vendortokens.api import call_api


@flow(name="resales-update-unit")
def resales_update_unit(
    credentials: str, base_url: str, development_id: int, unit: str, status: str = "available", price: int = 0
) -> dict:
    body = {"UntName": unit, "UntStatus": status, "UntPrice": price, "UntDirections": ""}
    answer = call_api(
        credentials, "POST", f"{base_url}/v1/developments/{development_id}/units/update-by-name", json=body
    )
    return {"unit": answer["unit"], "success": answer["success"]}


if __name__ == "__main__":
    import sys

    print(resales_update_unit(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
