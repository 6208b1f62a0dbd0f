"""Flows shipped in the package, so a pip install can deploy them by module path
(``prefect_vendortokens.flows.rotation:rotate_tokens``) with no source checkout."""

from .examples import (
    cobee_employees,
    resales_update_unit,
    slashid_userinfo,
    sqod_appointments,
    sqr_user_status,
)
from .rotation import RotationFailed, rotate_tokens, vendor_block_names

__all__ = [
    "RotationFailed",
    "cobee_employees",
    "resales_update_unit",
    "rotate_tokens",
    "slashid_userinfo",
    "sqod_appointments",
    "sqr_user_status",
    "vendor_block_names",
]
