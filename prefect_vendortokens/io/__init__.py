"""Low-level I/O helpers under the transport, Vault and the stores: the bounded HTTP exchange and
the deadlines of blocking calls."""
