"""The engine: one manager per account (single flight, failure window) driving one plan of typed
operations, the httpx auth over it, and retries. No Prefect."""
