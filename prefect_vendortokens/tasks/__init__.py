"""Prefect tasks: get, fetch and refresh a token; call a vendor API with the token and retries."""
