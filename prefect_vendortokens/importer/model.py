"""The document reduced to what a token endpoint needs, the same for OpenAPI 3, Swagger 2.0
and Postman: operations with their parameters, bodies, security and answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Location = Literal["body", "query", "header"]


@dataclass(frozen=True)
class Server:
    """A base URL, maybe templated (``https://{tenant}.example.com``), with its variables'
    defaults (None where the document gives none)."""

    url: str
    variables: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Scheme:
    """A security scheme: ``basic``, ``bearer``, ``apikey`` (in a header or query parameter),
    ``oauth2`` (its flows' token URLs) or ``openid``."""

    name: str
    kind: str
    param: str = ""  # apikey: the header or query parameter name
    location: str = ""  # apikey: header, query or cookie
    token_urls: dict[str, str] = field(default_factory=dict)  # oauth2 flow -> token URL
    scopes: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Body:
    """One request body by content type; ``schema`` is an expanded JSON schema."""

    content_type: str
    schema: dict[str, Any]
    example: Any = None


@dataclass(frozen=True)
class Param:
    name: str
    location: str  # query, header, path, cookie
    required: bool
    schema: dict[str, Any]
    description: str = ""
    example: Any = None


@dataclass(frozen=True)
class Answer:
    """One documented response: status (``200``, ``4XX``, ``default``), its JSON schema (None
    when not described) and the example bodies it shows."""

    status: str
    description: str = ""
    content_type: str = ""
    schema: dict[str, Any] | None = None
    examples: tuple[Any, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status.startswith("2")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the path template, or a full URL (an oauth2 scheme's token URL, Postman)
    servers: tuple[Server, ...] = ()
    params: tuple[Param, ...] = ()
    bodies: tuple[Body, ...] = ()
    security: tuple[tuple[Scheme, ...], ...] = ()  # alternatives, each a set of schemes
    answers: tuple[Answer, ...] = ()
    text: str = ""  # operationId, summary, description, tags: for matching words
    synthesized: str = ""  # why this operation is not the document's own ("oauth2 scheme 'x'")
    token_url_hint: bool = False  # an oauth2 scheme names this operation's URL as its token URL
    hinted_url: str = ""  # that scheme's absolute token URL, for a document without servers
    deprecated: bool = False
    response_hints: dict[str, tuple[str, ...]] = field(default_factory=dict)  # Postman test scripts

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Document:
    kind: str  # "OpenAPI 3.0.1", "Swagger 2.0", "Postman collection v2.1"
    title: str
    servers: tuple[Server, ...]
    operations: tuple[Operation, ...]
    schemes: dict[str, Scheme] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
