"""HashiCorp Vault / OpenBao with hvac: the per-process session, the auth methods table, the errors and
their mapping, the client source. No Prefect (the Vault block is ``blocks/vault.py``)."""
