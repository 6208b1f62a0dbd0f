"""The importer's I/O edge: read the document (a path, text, or data already parsed), let
``$ref``s reach sibling files, and hand the rest to the pure core."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from .core import import_document
from .errors import SpecUnreadableError
from .loading import MAX_SPEC_BYTES, parse_text
from .result import ImportResult


def read_file(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecUnreadableError(
                f"{path}: larger than {MAX_SPEC_BYTES // 2**20} MiB; not an API document"
            )
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SpecUnreadableError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpecUnreadableError(f"{path}: a directory, not an API document") from None
    except UnicodeDecodeError:
        raise SpecUnreadableError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise SpecUnreadableError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None


def _retrieve_local(uri: str) -> Any:
    """Another file a ``$ref`` names, on this machine only (``file:`` URIs)."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        raise SpecUnreadableError(f"$ref to {uri}: only local references are followed")
    path = Path(url2pathname(parts.path))
    return parse_text(read_file(path), str(path))


def import_openapi(
    spec: str | Path | Mapping[str, Any],
    server: str | None = None,
    operation: str | None = None,
) -> ImportResult:
    """The dialect of the token endpoint an OpenAPI 3.0/3.1, Swagger 2.0 document or Postman
    collection describes. ``spec``: a path, the document's text (YAML or JSON), or its parsed
    data. ``server`` replaces the document's server base; ``operation`` (``"POST /path"``)
    picks the token operation when the document has several. Raises a ``SpecError``."""
    if isinstance(spec, Mapping):
        return import_document(dict(spec), server=server, operation=operation)
    if isinstance(spec, Path) or ("\n" not in spec and not spec.lstrip().startswith("{")):
        path = Path(spec)
        data = parse_text(read_file(path), str(path))
        return import_document(
            data,
            source=str(path),
            server=server,
            operation=operation,
            base_uri=path.resolve().as_uri(),
            retrieve=_retrieve_local,
        )
    return import_document(parse_text(spec, "the document"), server=server, operation=operation)
