"""Shared token stores and refresh locks: protocols, a registry, one module per store."""
