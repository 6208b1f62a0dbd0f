"""The Prefect blocks: Vendor Credentials, its grouped settings, Vault Credentials, typed load errors,
Prefect events."""
