"""HashiCorp Vault / OpenBao: the credentials block, the per-process session, the auth methods table."""
