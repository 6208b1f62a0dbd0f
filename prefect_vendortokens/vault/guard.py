"""Vault failures as typed errors: hvac's exceptions and requests' transport failures mapped to
``VaultError`` subclasses (see DESIGN.md for what each Vault answer raises)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import hvac.exceptions as hvac_errors
import requests

from .errors import (
    VaultAuthError,
    VaultError,
    VaultPermissionError,
    VaultSealedError,
    VaultSecretNotFoundError,
    VaultTLSError,
    VaultUnreachableError,
)

T = TypeVar("T")


def guarded(call: Callable[[], T], where: dict[str, Any], login_method: str | None = None) -> T:
    """``call()``, with every hvac and requests failure turned into a typed ``VaultError``
    that names the address, mount and path (``where``) and never the secrets in it."""
    try:
        return call()
    except VaultError:
        raise
    except requests.exceptions.SSLError as exc:
        raise VaultTLSError(
            "TLS handshake with Vault failed (check the CA bundle)",
            vendor_message=_first_line(exc),
            **where,
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise VaultUnreachableError(
            "Vault is unreachable", vendor_message=type(exc).__name__, **where
        ) from None
    except hvac_errors.VaultDown:
        raise VaultSealedError("Vault is sealed or in maintenance", **where) from None
    except hvac_errors.Forbidden as exc:
        raise VaultPermissionError("permission denied", vendor_message=_errors(exc), **where) from None
    except hvac_errors.InvalidPath as exc:
        raise VaultSecretNotFoundError(
            "no secret at this path (or the version was deleted)", vendor_message=_errors(exc), **where
        ) from None
    except hvac_errors.InvalidRequest as exc:
        if login_method:
            raise VaultAuthError(
                f"{login_method} login refused (bad role id, secret id, password or JWT?)",
                vendor_message=_errors(exc),
                **where,
            ) from None
        raise VaultError("Vault refused the request", vendor_message=_errors(exc), **where) from None
    except hvac_errors.VaultError as exc:
        raise VaultError(
            f"Vault answered {type(exc).__name__}", vendor_message=_errors(exc), **where
        ) from None


def _errors(exc: hvac_errors.VaultError) -> str | None:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    return None


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__
