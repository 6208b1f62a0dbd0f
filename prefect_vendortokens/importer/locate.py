"""Finding the token operation, and its URL: an oauth2 scheme's ``tokenUrl``, or the operation
whose request and answer look like a token exchange; several alike is a question, not a guess."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit, urlunsplit

from . import names
from .errors import AmbiguousOperationError, NoTokenOperationError
from .model import Document, Operation, Server
from .oauth2 import oauth2_token_urls, rfc6749_operation
from .schema import allowed, fields, leaves, variants

THRESHOLD = 8  # below this an operation does not look like a token endpoint
CLEAR_LEAD = 5  # a lead this large over the next candidate decides without asking
_SEGMENT_WORDS = ("token", "oauth", "auth", "login", "session", "signin", "authenticate", "sts")
_NOT_TOKEN = (
    "revoke",
    "introspect",
    "logout",
    "signout",
    "userinfo",
    "jwks",
    "verify",
    "validate",
    "register",
)


@dataclass(frozen=True)
class Candidate:
    operation: Operation
    score: int
    reasons: tuple[str, ...]


def resolve_server(server: Server) -> tuple[str | None, str]:
    """The server's URL with its variables' defaults; None and why when one has no default."""
    url = server.url
    for name in re.findall(r"\{([^}]+)\}", url):
        value = server.variables.get(name)
        if value is None:
            return None, f"server {server.url!r} needs the variable {name!r}, which has no default"
        url = url.replace("{" + name + "}", value)
    return url, ""


def token_url(op: Operation, doc: Document, override: str | None) -> tuple[str, str, list[str]]:
    """(the URL to use, the document's own URL, notes). ``override`` replaces the document's
    server base: the whole server URL, or the scheme and host of an absolute token URL."""
    notes: list[str] = []
    path = op.path
    if path.startswith(("http://", "https://")):
        documented = path
        if not override:
            return documented, documented, notes
        for server in op.servers or doc.servers:
            base, _ = resolve_server(server)
            if (
                base
                and base.startswith(("http://", "https://"))
                and documented.startswith(base.rstrip("/") + "/")
            ):
                return override.rstrip("/") + documented[len(base.rstrip("/")) :], documented, notes
        parts, new = urlsplit(documented), urlsplit(override)
        notes.append(f"--server replaces only the scheme and host of the token URL {documented}")
        return urlunsplit(parts._replace(scheme=new.scheme, netloc=new.netloc)), documented, notes
    documented = ""
    base_path = ""
    for server in op.servers or doc.servers:
        base, why = resolve_server(server)
        if base is None:
            notes.append(why + ": skipped")
            continue
        if base.startswith(("http://", "https://")):
            documented = base.rstrip("/") + path
            break
        if not base_path:
            base_path = base.rstrip("/")  # a relative server: a base path on the document's host
    if not documented and op.hinted_url:
        documented = op.hinted_url
        notes.append(f"the document names no server; its oauth2 scheme's tokenUrl {documented} is used")
    if override:
        has_path = urlsplit(override).path.strip("/") != ""
        prefix = "" if has_path or documented else base_path
        return override.rstrip("/") + prefix + path, documented, notes
    if not documented:
        notes.append("the document names no usable server: pass --server with the token endpoint's base URL")
        return "", "", notes
    return documented, documented, notes


def with_oauth2(doc: Document) -> Document:
    """The document plus an RFC 6749 operation for each oauth2 token URL no operation serves;
    an operation that does serve one is marked."""
    operations = list(doc.operations)
    for url, schemes in oauth2_token_urls(doc).items():
        target = urlsplit(urljoin("https://host.invalid/", url)).path.rstrip("/")
        matched = False
        for i, op in enumerate(operations):
            if op.method != "POST":
                continue
            full = op.path if op.path.startswith("http") else None
            paths = {urlsplit(full).path.rstrip("/")} if full else {op.path.rstrip("/")}
            if not full:
                for server in op.servers or doc.servers:
                    base, _ = resolve_server(server)
                    if base is not None:
                        paths.add((urlsplit(base).path.rstrip("/") + op.path).rstrip("/"))
            if target in paths:
                absolute = url if url.startswith(("http://", "https://")) else ""
                operations[i] = replace(op, token_url_hint=True, hinted_url=op.hinted_url or absolute)
                matched = True
        if not matched:
            operations.append(rfc6749_operation(url, schemes))
    return replace(doc, operations=tuple(operations))


def score(op: Operation) -> Candidate:
    """How much ``op`` looks like a token exchange, and why."""
    points, why = 0, []
    if op.method not in ("POST", "GET", "PUT"):
        return Candidate(op, -100, ("method",))
    if op.token_url_hint:
        points += 20
        why.append("an oauth2 scheme's tokenUrl")
    path = op.path.lower()
    if any(w in path for w in _NOT_TOKEN):
        points -= 15
    segments = [s for s in re.split(r"[/{}._-]", urlsplit(path).path) if s]
    if any(w in s for s in segments for w in _SEGMENT_WORDS):
        points += 4
        why.append("its path")
    if segments and "token" in segments[-1]:
        points += 2
    if names.mentions(op.text, "token", "authenticat", "login", "sign in"):
        points += 2
    answers = [a for a in op.answers if a.ok]
    token_leaf = max(
        (
            names.score(leaf.name, names.ACCESS_TOKEN)
            for a in answers
            for leaf in leaves(a.schema, a.examples)
            if leaf.type in ("string", "") and leaf.path.split(".")[0].lower() not in names.ERROR_CONTAINERS
        ),
        default=0,
    )
    if op.response_hints.get("access_token"):
        token_leaf = 10
    if token_leaf >= 7:
        points += 10
        why.append("a token in its answer")
    props = [p for body in op.bodies[:1] for v in variants(body.schema) for p in fields(v)]
    params = [p for p in op.params if p.location in ("query", "header")]
    all_names = [p.name for p in props] + [p.name for p in params]
    if any(names.score(n, names.GRANT) >= 7 for n in all_names) or any(
        "client_credentials" in allowed(p.schema) for p in props
    ):
        points += 6
        why.append("a grant type field")
    if any(names.score(n, names.CLIENT_SECRET) >= 7 for n in all_names) or any(
        p.schema.get("format") == "password" for p in props
    ):
        points += 5
        why.append("a secret in its request")
    if any(s.kind == "basic" for alt in op.security for s in alt) and points >= 4:
        points += 2
        why.append("HTTP Basic")
    if points > 0 and op.method == "POST":
        points += 1
    if op.deprecated:
        points -= 6
        why.append("but deprecated")
    body_required = [p.name for body in op.bodies[:1] for p in fields(body.schema) if p.required]
    if any(
        names.score(n, names.REFRESH_TOKEN) >= 10 or names.score(n, names.CODE) >= 10 for n in body_required
    ):
        points -= 8  # a refresh or code exchange only
    return Candidate(op, points, tuple(why))


def choose(doc: Document, operation: str | None, source: str) -> tuple[Operation, list[str]]:
    """The token operation: the one asked for (``"POST /path"``), else the clear best."""
    notes: list[str] = []
    if operation:
        wanted = operation.strip()
        method, _, path = wanted.partition(" ")
        if not path:  # a path alone: its only operation
            method, path = "", method
        matches = [
            op
            for op in doc.operations
            if (not method or op.method == method.upper()) and op.path.rstrip("/") == path.strip().rstrip("/")
        ]
        if len(matches) != 1:
            listed = ", ".join(op.label for op in doc.operations[:40]) or "none"
            what = "no operation" if not matches else "more than one operation"
            raise NoTokenOperationError(
                f"{source}: {what} matches --operation {operation!r}; the document has: {listed}"
            )
        return matches[0], notes
    ranked = sorted((score(op) for op in doc.operations), key=lambda c: -c.score)
    good = [c for c in ranked if c.score >= THRESHOLD]
    if not good:
        seen = ", ".join(op.label for op in doc.operations[:20]) or "no operations at all"
        more = f" (and {len(doc.operations) - 20} more)" if len(doc.operations) > 20 else ""
        raise NoTokenOperationError(
            f"{source}: no token operation found: no oauth2 security scheme with a tokenUrl, and no "
            "operation whose request carries client credentials or a grant type and whose answer "
            f"carries a token. Operations looked at: {seen}{more}. Name one with --operation 'POST /path'"
        )
    if len(good) > 1 and good[0].score - good[1].score < CLEAR_LEAD:
        close = tuple(c.operation.label for c in good if good[0].score - c.score < CLEAR_LEAD)
        raise AmbiguousOperationError(
            f"{source}: {len(close)} operations look like token endpoints: {', '.join(close)}; "
            f"pass --operation with the one to use, e.g. --operation '{close[0]}'",
            candidates=close,
        )
    best = good[0]
    origin = best.operation.synthesized or "the document"
    notes.append(
        f"token operation {best.operation.label} (from {origin}: {', '.join(best.reasons) or 'its name'})"
    )
    if len(good) > 1:
        notes.append("also token-like, but less so: " + ", ".join(c.operation.label for c in good[1:4]))
    return best.operation, notes
