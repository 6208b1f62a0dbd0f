"""Reading JSON schemas (OpenAPI 3.0's dialect and 3.1's JSON Schema alike): objects' fields,
``allOf`` merged, ``oneOf``/``anyOf`` as variants, and every leaf with its dotted path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 8


@dataclass(frozen=True)
class Leaf:
    """A value in a JSON answer: dotted path (``data.session.token``, ``errors.0.message``),
    JSON type, format, description, allowed values and an example."""

    path: str
    type: str = ""
    format: str = ""
    description: str = ""
    enum: tuple[Any, ...] = ()
    example: Any = None
    variant: int = 0  # which oneOf/anyOf branch it came from (0: not in one)

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def parent(self) -> str:
        return self.path.rsplit(".", 1)[0] if "." in self.path else ""


def norm(name: str) -> str:
    """``client_id``, ``clientId``, ``Client-ID`` -> ``clientid``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def type_of(schema: dict[str, Any]) -> str:
    t = schema.get("type")
    if isinstance(t, list):  # 3.1: ["string", "null"]
        t = next((x for x in t if x != "null"), "")
    if not t:
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        enum = allowed(schema)
        if enum:
            return _json_type(enum[0])
    return str(t or "")


def allowed(schema: dict[str, Any]) -> tuple[Any, ...]:
    """The values a schema allows, from ``const`` or ``enum`` (none: any)."""
    if "const" in schema:
        return (schema["const"],)
    enum = schema.get("enum")
    return tuple(v for v in enum if v is not None) if isinstance(enum, list) else ()


def example_of(schema: dict[str, Any]) -> Any:
    if "example" in schema:
        return schema["example"]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    return None


def merged(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``allOf`` parts folded in (properties and required joined)."""
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    out = {k: v for k, v in schema.items() if k != "allOf"}
    props = dict(out.get("properties") or {})
    required = list(out.get("required") or [])
    for part in parts:
        if not isinstance(part, dict):
            continue
        part = merged(part)
        props.update(part.get("properties") or {})
        required += [r for r in part.get("required") or [] if r not in required]
        for key, value in part.items():
            if key not in ("properties", "required"):
                out.setdefault(key, value)
    if props:
        out["properties"] = props
    if required:
        out["required"] = required
    return out


def variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of ``oneOf``/``anyOf``, each with the parent's own fields; else the
    schema itself."""
    schema = merged(schema)
    branches = schema.get("oneOf") or schema.get("anyOf")
    if not isinstance(branches, list) or not branches:
        return [schema]
    base = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
    out = []
    for branch in branches:
        if isinstance(branch, dict):
            out.append(merged({**base, "allOf": [branch]}))
    return out or [schema]


@dataclass(frozen=True)
class Prop:
    """A field of a request object."""

    name: str
    required: bool
    schema: dict[str, Any]

    @property
    def description(self) -> str:
        return str(self.schema.get("description") or self.schema.get("title") or "")


def fields(schema: dict[str, Any]) -> list[Prop]:
    schema = merged(schema)
    required = set(schema.get("required") or [])
    return [
        Prop(str(name), name in required, merged(s) if isinstance(s, dict) else {})
        for name, s in (schema.get("properties") or {}).items()
    ]


def leaves(schema: dict[str, Any] | None, examples: tuple[Any, ...] = ()) -> list[Leaf]:
    """Every scalar (and unknown) value of an answer, from its schema and its examples; a value
    behind ``oneOf`` carries its branch number."""
    found: dict[tuple[str, int], Leaf] = {}
    if schema:
        _walk(schema, "", 0, 0, found)
    for example in examples:
        _walk_example(example, "", 0, found)
    return list(found.values())


def _walk(
    schema: dict[str, Any], path: str, variant: int, depth: int, found: dict[tuple[str, int], Leaf]
) -> None:
    if depth > MAX_DEPTH:
        return
    schema = merged(schema)
    branches = schema.get("oneOf") or schema.get("anyOf")
    if isinstance(branches, list) and branches and depth < MAX_DEPTH:
        for i, branch in enumerate(variants(schema), start=1):
            _walk(
                {k: v for k, v in branch.items() if k not in ("oneOf", "anyOf")},
                path,
                variant or i,
                depth + 1,
                found,
            )
        return
    kind = type_of(schema)
    if kind == "object" or "properties" in schema:
        for name, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict):
                _walk(sub, f"{path}.{name}" if path else str(name), variant, depth + 1, found)
        return
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, dict) and type_of(merged(items)) in ("object", ""):
            _walk(items, f"{path}.0" if path else "0", variant, depth + 1, found)
            return
    if path:
        found.setdefault(
            (path, variant),
            Leaf(
                path,
                kind,
                str(schema.get("format") or ""),
                str(schema.get("description") or schema.get("title") or ""),
                allowed(schema),
                example_of(schema),
                variant,
            ),
        )


def _walk_example(value: Any, path: str, depth: int, found: dict[tuple[str, int], Leaf]) -> None:
    if depth > MAX_DEPTH:
        return
    if isinstance(value, dict):
        for name, sub in value.items():
            _walk_example(sub, f"{path}.{name}" if path else str(name), depth + 1, found)
        return
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            _walk_example(value[0], f"{path}.0" if path else "0", depth + 1, found)
        return
    if not path:
        return
    known = [k for k in found if k[0] == path]
    for key in known:  # the schema knows it: add the example it lacks
        leaf = found[key]
        if leaf.example is None and value is not None:
            found[key] = Leaf(
                leaf.path,
                leaf.type or _json_type(value),
                leaf.format,
                leaf.description,
                leaf.enum,
                value,
                leaf.variant,
            )
    if not known:
        found[(path, 0)] = Leaf(path, _json_type(value), example=value)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return ""
