"""Shared token stores and refresh locks: the protocols (``base``), the table of stores
(``registry``), one module per store and per lock."""
