"""The answer half of a dialect from one operation: where the token, its type, its expiry (and
the expiry's format), the refresh token and the scope are, nested or behind ``oneOf``, and where
errors say what went wrong, also when they come with HTTP 200."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.dialect import TokenDialect
from . import names, schema
from .model import Operation
from .schema import Leaf, leaves

_JWT = re.compile(r"^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$")
_DEFAULTS = TokenDialect()


@dataclass
class ResponseSide:
    dialect: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    guessed: set[str] = field(default_factory=set)


def _in_error(leaf: Leaf) -> bool:
    return leaf.path.split(".")[0].lower() in names.ERROR_CONTAINERS and "." in leaf.path


def _depth(leaf: Leaf) -> int:
    return leaf.path.count(".")


def _token_points(leaf: Leaf) -> int:
    if leaf.type not in ("string", "") or _in_error(leaf):
        return 0
    points = names.score(leaf.name, names.ACCESS_TOKEN)
    parent = leaf.parent.rsplit(".", 1)[-1] if leaf.parent else ""
    if schema.norm(leaf.name) in ("value", "key", "id") and names.score(parent, names.ACCESS_TOKEN) >= 7:
        points = 7
    if schema.norm(leaf.name) in ("idtoken", "refreshtoken"):
        return 0
    if points and names.mentions(leaf.description, "access token", "bearer", "jwt"):
        points += 2
    return points


def looks_like_jwt(value: Any) -> bool:
    return isinstance(value, str) and bool(_JWT.match(value))


def expiry_kind(leaf: Leaf) -> tuple[int, int]:
    """(points as expires-in, points as expires-at) for one value."""
    t_in = names.score(leaf.name, names.EXPIRES_IN)
    t_at = names.score(leaf.name, names.EXPIRES_AT)
    if not (t_in or t_at):
        return 0, 0
    text = leaf.description.lower()
    if leaf.format in ("date-time", "date"):
        return 0, t_at + 5
    example = leaf.example
    if leaf.type in ("integer", "number") or isinstance(example, int | float):
        number = example if isinstance(example, int | float) and not isinstance(example, bool) else None
        if number is not None and number > 1e9:
            t_at, t_in = t_at + 4, 0
        elif number is not None:
            t_in, t_at = t_in + 3, t_at - 3
    elif leaf.type == "string":
        if isinstance(example, str) and _iso(example):
            t_at, t_in = t_at + 4, 0
        else:
            t_at += 1
    if re.search(
        r"seconds? (until|before|left|remaining)|number of seconds|lifetime|time to live|ttl|valid for"
        r"|in seconds",
        text,
    ):
        t_in += 3
    if re.search(r"timestamp|epoch|unix|date|time at|point in time|when the", text):
        t_at += 3
    return t_in, t_at


def _iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return "-" in text


def expires_at_format(leaf: Leaf) -> tuple[str, str]:
    """(format, how it was told)."""
    text = leaf.description.lower()
    if leaf.format in ("date-time", "date"):
        return "iso8601", "format: date-time"
    if leaf.type in ("integer", "number"):
        if re.search(r"milli|\bms\b", text):
            return "epoch_milliseconds", "its description says milliseconds"
        if isinstance(leaf.example, int | float) and leaf.example > 1e11:
            return "epoch_milliseconds", "its example is in milliseconds"
        if re.search(r"seconds|unix|epoch", text) or isinstance(leaf.example, int | float):
            return "epoch_seconds", "its description or example says epoch seconds"
        return "auto", ""
    if isinstance(leaf.example, str) and _iso(leaf.example):
        return "iso8601", "its example is an ISO 8601 time"
    if re.search(r"iso ?8601|rfc ?3339", text):
        return "iso8601", "its description says ISO 8601"
    return "auto", ""


def derive_response(op: Operation) -> ResponseSide:
    side = ResponseSide()
    d = side.dialect
    ok = [a for a in op.answers if a.ok] or [a for a in op.answers if a.status == "DEFAULT"]
    ok_leaves = [leaf for a in ok for leaf in leaves(a.schema, a.examples)]
    hints = op.response_hints

    # --- the token ------------------------------------------------------------------------
    ranked = sorted(
        ((_token_points(leaf), -_depth(leaf), leaf) for leaf in ok_leaves if _token_points(leaf) >= 5),
        key=lambda t: (-t[0], -t[1]),
    )
    token_paths: list[str] = list(hints.get("access_token", ()))
    served: set[int] = set()  # the oneOf branches whose token is found: one path each
    for _points, _, leaf in ranked:
        if leaf.variant not in served:
            served.add(leaf.variant)
            if leaf.path not in token_paths:
                token_paths.append(leaf.path)
    token_variants = {leaf.variant for leaf in ok_leaves if leaf.path in token_paths}
    if not ok_leaves and not token_paths:
        side.notes.append(
            "the success answer is not described: RFC 6749's names (access_token, token_type, "
            "expires_in) are assumed; --probe shows what the server sends"
        )
        side.guessed.update({"access_token_path", "expires_in_path"})
        return side
    if not token_paths:
        side.notes.append(
            "no token field found in the success answer ("
            + ", ".join(sorted({leaf.path for leaf in ok_leaves})[:8])
            + "): 'access_token' assumed"
        )
        side.guessed.add("access_token_path")
        token_paths = ["access_token"]
    if token_paths != ["access_token"]:
        d["access_token_path"] = token_paths
    if any("." in p for p in token_paths) or len(token_paths) > 1:
        side.notes.append(f"the token is at {' or '.join(token_paths)}")
    token_leaf = next((leaf for leaf in ok_leaves if leaf.path == token_paths[0]), None)
    prefixes = [p.rsplit(".", 1)[0] + "." if "." in p else "" for p in token_paths]

    def near(leaf: Leaf) -> int:
        """Siblings of the token first, then anything in the token's branch."""
        if any(leaf.path.startswith(p) and leaf.path.count(".") == p.count(".") for p in prefixes):
            return 2
        return 1 if (not token_variants or leaf.variant in token_variants or leaf.variant == 0) else -10

    depth = min(p.count(".") for p in token_paths)

    def pick(
        table: dict[str, int], minimum: int, *, types: tuple[str, ...] = (), hint: str = ""
    ) -> list[str]:
        """Values beside the token or above it, never deeper (``restricted_to.0.scope`` is not
        the token's scope)."""
        found = list(hints.get(hint, ())) if hint else []
        scored = [
            (names.score(leaf.name, table) + near(leaf), leaf)
            for leaf in ok_leaves
            if not _in_error(leaf)
            and (not types or leaf.type in (*types, ""))
            and leaf.path.count(".") <= depth
        ]
        for points, leaf in sorted(scored, key=lambda t: -t[0]):
            if points >= minimum and leaf.path not in found and leaf.path not in token_paths:
                found.append(leaf.path)
        return found

    def setpath(name: str, paths: list[str]) -> None:
        if paths and paths != getattr(_DEFAULTS, name):
            d[name] = paths

    token_type = [
        p
        for p in pick(names.TOKEN_TYPE, 5, types=("string",), hint="token_type")
        if not p.endswith(("grant_type",))
    ]
    setpath("token_type_path", token_type[:2])
    setpath("refresh_token_path", pick(names.REFRESH, 11, types=("string",), hint="refresh_token")[:2])
    setpath("refresh_expires_in_path", pick(names.REFRESH_EXPIRES_IN, 9)[:2])
    setpath("scope_path", pick(names.ANSWER_SCOPE, 10, types=("string", "array"))[:2])
    setpath("id_token_path", pick(names.ID_TOKEN, 11, types=("string",))[:2])

    # --- expiry ----------------------------------------------------------------------------
    expiry_in, expiry_at = list(hints.get("expires_in", ())), list(hints.get("expires_at", ()))
    at_leaves: list[Leaf] = []
    for leaf in sorted(ok_leaves, key=lambda leaf: -near(leaf)):
        if _in_error(leaf) or leaf.path in token_paths or near(leaf) < 0:
            continue
        if schema.norm(leaf.name).startswith("refresh"):
            continue
        p_in, p_at = expiry_kind(leaf)
        if max(p_in, p_at) < 6:
            continue
        if p_in >= p_at and leaf.path not in expiry_in:
            expiry_in.append(leaf.path)
        elif p_at > p_in and leaf.path not in expiry_at:
            expiry_at.append(leaf.path)
            at_leaves.append(leaf)
    if expiry_in:
        setpath("expires_in_path", expiry_in[:2])
        side.notes.append(f"the lifetime in seconds is at {' or '.join(expiry_in[:2])}")
    if expiry_at:
        d["expires_at_path"] = expiry_at[:2]
        described = [leaf for leaf in ok_leaves if leaf.path == expiry_at[0]] or at_leaves
        fmt, how = expires_at_format(described[0]) if described else ("auto", "")
        if fmt != "auto":
            d["expires_at_format"] = fmt
            side.notes.append(f"the expiry time is at {expiry_at[0]}, {fmt.replace('_', ' ')} ({how})")
        else:
            side.guessed.add("expires_at_format")
            side.notes.append(
                f"the expiry time is at {expiry_at[0]} in a format the document does not state: 'auto' "
                "(numbers above 1e11 are milliseconds, text ISO 8601); --probe settles it"
            )
    if not expiry_in and not expiry_at:
        jwt = token_leaf is not None and (
            looks_like_jwt(token_leaf.example)
            or names.mentions(token_leaf.description + " " + op.text, "jwt")
        )
        lifetime = names.lifetime_in(
            " ".join([op.text, *(a.description for a in ok), token_leaf.description if token_leaf else ""])
        )
        if lifetime:
            d["default_lifetime"] = lifetime
            side.notes.append(
                f"the answer carries no expiry; the document states a lifetime of {lifetime:g} s"
            )
        elif jwt:
            side.notes.append("the answer carries no expiry: the token is a JWT, its exp claim is read")
        else:
            side.guessed.add("expires_in_path")
            side.notes.append(
                "the answer carries no expiry and the document states no lifetime: a JWT's exp claim is "
                "read if the token is one, else 300 s is assumed (set default_lifetime)"
            )

    # --- errors ------------------------------------------------------------------------------
    error_leaves: list[tuple[Leaf, bool]] = []
    for answer in op.answers:
        if answer.ok:
            continue
        error_leaves += [(leaf, False) for leaf in leaves(answer.schema, answer.examples)]
    in_ok: list[Leaf] = []
    for leaf in ok_leaves:
        if leaf.path in token_paths:
            continue
        other_branch = token_variants and leaf.variant not in token_variants and leaf.variant != 0
        if (
            other_branch
            or _in_error(leaf)
            or (names.score(leaf.name, names.ERROR_CODE) >= 8 and leaf.path.count(".") == 0)
        ):
            in_ok.append(leaf)
            error_leaves.append((leaf, True))
    codes = _error_paths(error_leaves, names.ERROR_CODE, 6, exclude_types=("boolean", "object", "array"))
    messages = _error_paths(
        error_leaves, names.ERROR_MESSAGE, 5, exclude_types=("boolean",), avoid=set(codes)
    )
    if codes:
        d["error_code_path"] = _with_defaults(codes, _DEFAULTS.error_code_path)
    if messages:
        d["error_message_path"] = _with_defaults(messages, _DEFAULTS.error_message_path)
    if codes or messages:
        side.notes.append(
            "errors read from "
            + ", ".join([*codes, *messages][:6])
            + (" (RFC 6749's error and error_description as fallbacks)" if codes or messages else "")
        )
    elif any(not a.ok for a in op.answers):
        side.notes.append("error answers are not described: RFC 6749's error and error_description are read")
    if in_ok and any(names.score(leaf.name, names.ERROR_CODE) >= 6 for leaf in in_ok):
        side.notes.append(
            "the success status can carry an error too (HTTP 200 with an error body): read as an error "
            "when no token comes"
        )
    return side


def _error_paths(
    found: list[tuple[Leaf, bool]],
    table: dict[str, int],
    minimum: int,
    *,
    exclude_types: tuple[str, ...],
    avoid: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[str]:
    scored = []
    for order, (leaf, _) in enumerate(found):
        if leaf.type in exclude_types or leaf.path in avoid:
            continue
        depth = leaf.path.count(".")
        if depth > (2 if _in_error(leaf) else 0):  # error.code, errors.0.message; not details.x.0.y
            continue
        points = names.score(leaf.name, table) + (2 if _in_error(leaf) else 0)
        if leaf.path.split(".")[0].lower() in ("data", "result", "meta", "pagination"):
            points -= 4
        if points >= minimum:
            scored.append((-points, order, leaf.path))
    paths: list[str] = []
    for _, _, path in sorted(scored):
        if path not in paths:
            paths.append(path)
    return paths[:3]


def _with_defaults(paths: list[str], defaults: list[str]) -> list[str]:
    return [*paths, *(p for p in defaults if p not in paths)]
