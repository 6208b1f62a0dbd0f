"""The pure core of the importer: a parsed document in; dialect, token URL, needs and notes out.
It reads no file and opens no socket (other files a ``$ref`` names come through ``retrieve``)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from ..core.dialect import TokenDialect
from .errors import SpecError, SpecUnreadableError
from .loading import detect_kind
from .locate import choose, token_url, with_oauth2
from .model import Document
from .openapi import read_openapi
from .postman import read_postman
from .refs import INLINE_BASE, Retrieve, expand_refs
from .request_side import derive_request
from .response_side import derive_response
from .result import ImportResult


def read_document(
    data: Any, *, source: str, base_uri: str = INLINE_BASE, retrieve: Retrieve | None = None
) -> Document:
    """Any supported document, normalized (``$ref``s resolved)."""
    kind = detect_kind(data, source)
    if kind == "postman":
        return read_postman(data, source)
    return read_openapi(expand_refs(data, base_uri=base_uri, retrieve=retrieve, source=source), source)


def import_document(
    data: Any,
    *,
    source: str = "the document",
    server: str | None = None,
    operation: str | None = None,
    base_uri: str = INLINE_BASE,
    retrieve: Retrieve | None = None,
) -> ImportResult:
    """The dialect of the token endpoint ``data`` describes. Raises a ``SpecError`` naming what
    is missing: broken, ambiguous (with the candidates), or without a token operation."""
    doc = with_oauth2(read_document(data, source=source, base_uri=base_uri, retrieve=retrieve))
    op, notes = choose(doc, operation, source)
    notes = [*doc.notes, *notes]
    url, documented, url_notes = token_url(op, doc, server)
    notes += url_notes
    request = derive_request(op)
    response = derive_response(op)
    values = {"name": _slug(doc.title) or "custom", **request.dialect, **response.dialect}
    if documented:
        values["default_token_url"] = documented
    try:
        dialect = TokenDialect.model_validate(values)
    except ValidationError as exc:  # a combination the dialect refuses: say which, without values
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'dialect'}: {e['msg']}" for e in exc.errors())
        raise SpecError(f"{source}: the operation {op.label} gives no usable dialect: {problems}") from None
    return ImportResult(
        dialect=dialect,
        token_url=url,
        needs=tuple(request.needs),
        notes=tuple([*notes, *request.notes, *response.notes]),
        operation=op.label,
        document=doc.kind,
        documented_token_url=documented,
        guessed=frozenset(request.guessed | response.guessed),
    )


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug if len(slug) <= 40 else slug[:41].rsplit("-", 1)[0]


__all__ = ["ImportResult", "SpecError", "SpecUnreadableError", "import_document", "read_document"]
