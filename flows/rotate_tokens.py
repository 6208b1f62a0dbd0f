"""Serve the rotation flow from this process on a cron schedule (every 10 minutes).

    python flows/rotate_tokens.py

Serving makes the deployment "rotate-vendor-tokens/served", distinct from the worker deployment
"rotate-vendor-tokens/rotate-vendor-tokens" (`prefect-vendortokens deploy-rotation`), so stopping
this process never pauses the deployed one.
"""

from prefect_vendortokens.flows import rotate_tokens

if __name__ == "__main__":
    rotate_tokens.serve(name="served", cron="*/10 * * * *", parameters={"horizon_seconds": 900.0})
