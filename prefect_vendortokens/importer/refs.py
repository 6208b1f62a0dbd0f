"""``$ref`` resolution with ``referencing`` (the JSON Schema project's library): the document
with every reference replaced by what it points to.

The result shares one object per target (a DAG, so a document with many references to one schema
does not grow) and a reference to itself (a recursive schema) becomes ``{}``. Other files are read
through ``retrieve``, given by the caller: the pure core reads nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urldefrag, urljoin

from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable

from .errors import SpecUnreadableError

Retrieve = Callable[[str], Any]  # an absolute URI without fragment -> the parsed document
INLINE_BASE = "urn:prefect-vendortokens:document"
MAX_DEPTH = 200


def expand_refs(
    document: Any, *, base_uri: str = INLINE_BASE, retrieve: Retrieve | None = None, source: str
) -> Any:
    """``document`` with every ``$ref`` resolved. A reference that leads nowhere, or to another
    file when no ``retrieve`` is given, is a ``SpecUnreadableError`` naming it."""

    def fetch(uri: str) -> Resource:
        if retrieve is None:
            raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # referencing types it loosely
        return Resource.opaque(retrieve(uri))

    registry: Registry = Registry(retrieve=fetch).with_resource(base_uri, Resource.opaque(document))  # type: ignore[call-arg]
    done: dict[str, Any] = {}
    active: set[str] = set()
    seen: dict[tuple[int, str], Any] = {}  # YAML anchors share objects: walk each once

    def walk(node: Any, base: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise SpecUnreadableError(f"{source}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            key = (id(node), base)
            if key in seen:
                return seen[key]
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = follow(ref, base, depth)
                siblings = {k: walk(v, base, depth + 1) for k, v in node.items() if k != "$ref"}
                out = {**target, **siblings} if isinstance(target, dict) and siblings else target
            else:
                out = {k: walk(v, base, depth + 1) for k, v in node.items()}
            seen[key] = out
            return out
        if isinstance(node, list):
            return [walk(v, base, depth + 1) for v in node]
        return node

    def follow(ref: str, base: str, depth: int) -> Any:
        uri = urljoin(base, ref)
        if uri in done:
            return done[uri]
        if uri in active:  # a recursive schema: stop here
            return {}
        active.add(uri)
        try:
            resolved = registry.resolver(base).lookup(ref)
        except Unresolvable as exc:
            if isinstance(exc.__cause__, SpecUnreadableError):  # the other file is broken
                raise exc.__cause__ from None
            target = urldefrag(uri).url
            if target.startswith(("http://", "https://")):
                why = "it points to another server, and only local references are followed"
            elif target != base and retrieve is None:
                why = "it points to another file, and the document was not read from a file"
            elif target != base:
                why = f"the file {target} could not be read"
            else:
                why = "nothing in the document is at that place"
            raise SpecUnreadableError(f"{source}: $ref {ref!r} cannot be resolved: {why}") from exc
        value = walk(resolved.contents, urldefrag(uri).url or base, depth + 1)
        active.discard(uri)
        done[uri] = value
        return value

    try:
        return walk(document, base_uri, 0)
    except RecursionError:
        raise SpecUnreadableError(f"{source}: nested too deeply to resolve its references") from None
