"""Typed errors of the importer: each names the document and what is missing in it."""

from __future__ import annotations

from typing import Any

from ..core.errors import TokenError


class SpecError(TokenError, ValueError):
    """An API document cannot be turned into a dialect (base of the importer's errors)."""


class SpecUnreadableError(SpecError):
    """The document is not YAML or JSON, not OpenAPI, Swagger 2.0 or a Postman collection, or a
    ``$ref`` in it leads nowhere."""


class NoTokenOperationError(SpecError):
    """Nothing in the document looks like a token endpoint."""


class AmbiguousOperationError(SpecError):
    """Several operations look like token endpoints; ``candidates`` lists them ("POST /path")."""

    def __init__(self, summary: str, *, candidates: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.candidates = candidates
        super().__init__(summary, **kwargs)
