"""The Prefect blocks: Vendor Credentials, its grouped settings, typed load errors, Prefect events."""
