"""Load errors a person can act on, for every block type of the package.

Prefect's own load error says only "failed validation, try validate=False", and pydantic's
would echo the inputs (which may be a client secret). These name the block, each field and its
problem, and nothing that was typed into the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..core.errors import InvalidBlockError


def invalid_block_error(name: str | None, block_type: type, error: ValidationError) -> InvalidBlockError:
    """The problems of a block that does not validate: field and message, never the input."""
    label = getattr(block_type, "_block_type_name", None) or block_type.__name__
    problems = "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'block'}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors(include_input=False, include_url=False, include_context=False)
    )
    return InvalidBlockError(f"{label} block {name!r} is invalid: {problems}")


class TypedLoadErrors:
    """Mixin for a ``Block``: ``load()`` of a document that does not validate raises
    ``InvalidBlockError`` instead of Prefect's generic ``RuntimeError``."""

    @classmethod
    def _load_from_block_document(cls, block_document: Any, validate: bool = True) -> Any:
        try:
            return super()._load_from_block_document(block_document, validate=validate)  # type: ignore[misc]
        except RuntimeError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise invalid_block_error(block_document.name, cls, exc.__cause__) from None
            raise


def filled(value: Any) -> bool:
    """A form value that was actually given: not None and not empty (a ``SecretStr`` by its value)."""
    if value is None:
        return False
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return bool(value.strip()) if isinstance(value, str) else bool(value)
