"""One example flow per vendor, each calling the downstream endpoint of its documentation.

Flow parameters are the block name and the API base URL, never a token: the tasks resolve the
token from the block inside the task, so no token is a parameter or a result.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from ..blocks.credentials import load_credentials
from ..core.expiry import jwt_claims
from ..tasks.api import call_api

COBEE_COMPANY_CLAIM = "https://auth.cobee.io/metadata"


@flow(name="sqod-appointments")
def sqod_appointments(
    credentials: str, base_url: str, per_page: int = 10, max_pages: int = 10
) -> dict[str, Any]:
    """SQOD: list appointments page by page and book one (per-customer base URL)."""
    seen: list[dict[str, Any]] = []
    for page in range(1, max_pages + 1):
        answer: Any = call_api(
            credentials, "GET", f"{base_url}/api/v1/appointments", params={"page": page, "per_page": per_page}
        )
        seen += answer["data"]
        if len(answer["data"]) < per_page:
            break
    booked: Any = call_api(
        credentials, "POST", f"{base_url}/api/v1/appointments", json={"title": "Site visit"}
    )
    return {"appointments": len(seen), "booked": booked["data"]["id"]}


@task(name="cobee-company-id", cache_policy=NO_CACHE)
def cobee_company_id(credentials: str) -> str:
    """Read ``companyId`` from the token's claim inside the task; only the id leaves it."""
    token = load_credentials(credentials).get_token(_sync=True)  # type: ignore[call-arg]
    claims = jwt_claims(token.secret()) or {}
    value = (claims.get(COBEE_COMPANY_CLAIM) or {}).get("companyId")
    if not isinstance(value, str) or not value:
        raise ValueError(f"block {credentials!r}: the Cobee token carries no {COBEE_COMPANY_CLAIM} companyId")
    return value


@flow(name="cobee-employees")
def cobee_employees(credentials: str, base_url: str) -> dict[str, Any]:
    """Cobee: the company id comes from the access token's claim; then list the employees."""
    company = cobee_company_id(credentials)
    answer: Any = call_api(credentials, "GET", f"{base_url}/companies/{company}/employees")
    return {"company": company, "employees": len(answer["employees"])}


@flow(name="slashid-userinfo")
def slashid_userinfo(credentials: str, base_url: str) -> dict[str, Any]:
    """SlashID: the token (scope openid) at the userinfo endpoint."""
    info: Any = call_api(credentials, "GET", f"{base_url}/oauth2/userinfo")
    return {"sub": info["sub"]}


@flow(name="sqr-user-status")
def sqr_user_status(credentials: str, base_url: str, limit: int = 10, max_pages: int = 50) -> dict[str, Any]:
    """SQR: page through user-status with offset pagination."""
    results: list[dict[str, Any]] = []
    offset = 0
    for _ in range(max_pages):
        body = {"filters": {}, "result_keys": [], "pagination": {"limit": limit, "offset": offset}}
        answer: Any = call_api(credentials, "POST", f"{base_url}/v1/user-status", json=body)
        results += answer["results"]
        offset += limit
        if offset >= answer["pagination"]["total"]:
            break
    return {"users": len(results)}


@flow(name="resales-update-unit")
def resales_update_unit(
    credentials: str, base_url: str, development_id: int, unit: str, status: str = "available", price: int = 0
) -> dict[str, Any]:
    """Resales-Online (PropQ): update a unit by name. Every call but the token request is JSON."""
    body = {"UntName": unit, "UntStatus": status, "UntPrice": price, "UntDirections": ""}
    answer: Any = call_api(
        credentials, "POST", f"{base_url}/v1/developments/{development_id}/units/update-by-name", json=body
    )
    return {"unit": answer["unit"], "success": answer["success"]}
