"""Cobee: the company id comes from the access token's claim; then list the employees."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from prefect_vendortokens import VendorCredentials
from prefect_vendortokens.api import call_api
from prefect_vendortokens.expiry import jwt_claims

COMPANY_CLAIM = "https://auth.cobee.io/metadata"


@task(name="cobee-company-id", cache_policy=NO_CACHE)
def company_id(credentials: str) -> str:
    """Read ``companyId`` from the token's claim inside the task; only the id leaves it."""
    token = VendorCredentials.load(credentials, _sync=True).get_token(_sync=True)  # type: ignore[call-arg]
    claims = jwt_claims(token.secret()) or {}
    value = (claims.get(COMPANY_CLAIM) or {}).get("companyId")
    if not value:
        raise ValueError(f"block {credentials!r}: the Cobee token carries no {COMPANY_CLAIM} companyId claim")
    return value


@flow(name="cobee-employees")
def cobee_employees(credentials: str, base_url: str) -> dict:
    company = company_id(credentials)
    answer = call_api(credentials, "GET", f"{base_url}/companies/{company}/employees")
    return {"company": company, "employees": len(answer["employees"])}


if __name__ == "__main__":
    import sys

    print(cobee_employees(sys.argv[1], sys.argv[2]))
