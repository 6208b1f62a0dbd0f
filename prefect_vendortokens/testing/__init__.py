"""A local emulation of the five vendors (and generic OAuth2) for tests and demos.

from prefect_vendortokens.testing import vendor_sandbox

with vendor_sandbox() as sandbox:
    creds = sandbox.credentials("cobee")
    client = TokenClient("cobee", sandbox.token_url("cobee"), creds.client_id, creds.client_secret)
"""

from .openbao import OpenBao
from .sandbox import SandboxCredentials, VendorSandbox, vendor_sandbox
from .vendors import VENDORS

__all__ = ["VENDORS", "OpenBao", "SandboxCredentials", "VendorSandbox", "vendor_sandbox"]
