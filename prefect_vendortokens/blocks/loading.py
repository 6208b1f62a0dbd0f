"""Loading a block by name, and load errors a person can act on, for every block type of the package.

Prefect's own load error says only "failed validation, try validate=False", and pydantic's
would echo the inputs (which may be a client secret). These name the block, each field and its
problem, and nothing that was typed into the field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar, cast

from pydantic import ValidationError

from ..core.errors import BlockNotFoundError, InvalidBlockError, TokenError

B = TypeVar("B")


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


def load_named(block_type: type[B], block: B | str) -> B:
    """``block`` itself, or the saved block of that name: a missing one is a
    ``BlockNotFoundError``, an invalid one an ``InvalidBlockError`` (with ``TypedLoadErrors``)."""
    if isinstance(block, block_type):
        return block
    with _not_found_as_typed(block_type, str(block)):
        return cast(B, block_type.load(block, _sync=True))  # type: ignore[attr-defined]


async def aload_named(block_type: type[B], block: B | str) -> B:
    """``load_named`` for async callers."""
    if isinstance(block, block_type):
        return block
    with _not_found_as_typed(block_type, str(block)):
        return cast(B, await block_type.aload(block))  # type: ignore[attr-defined]


@contextlib.contextmanager
def _not_found_as_typed(block_type: type, name: str) -> Iterator[None]:
    """Prefect's "no such block" (a plain ``ValueError``) as our ``BlockNotFoundError``."""
    try:
        yield
    except ValueError as exc:
        if isinstance(exc, TokenError):
            raise
        label = getattr(block_type, "_block_type_name", None) or block_type.__name__
        raise BlockNotFoundError(
            f"no {label} block named {name!r} (create it in the Prefect UI under Blocks, or save one in code)"
        ) from None
