"""The block types this package registers with Prefect: the ``prefect.collections`` entry point
imports this module, and ``prefect block register -m prefect_vendortokens.blocks.catalog``."""

from ..stores.prefect_block import StoredVendorToken
from .credentials import VendorCredentials
from .vault import VaultCredentials

__all__ = ["StoredVendorToken", "VaultCredentials", "VendorCredentials"]
