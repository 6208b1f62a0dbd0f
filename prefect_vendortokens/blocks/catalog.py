"""The block types this package registers with Prefect: the ``prefect.collections`` entry point
imports this module, and ``prefect block register -m prefect_vendortokens.blocks.catalog``."""

from ..stores.prefect_block import StoredVendorToken
from ..vault.block import VaultCredentials
from .credentials import VendorCredentials

__all__ = ["StoredVendorToken", "VaultCredentials", "VendorCredentials"]
