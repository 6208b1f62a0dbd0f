"""What an import gives: the dialect, the token URL, the extra values it needs and the notes on
what it guessed; as JSON, and as the Python to paste."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.dialect import TokenDialect
from .request_side import Need


@dataclass(frozen=True)
class ImportResult:
    """``dialect`` and ``token_url`` are ready for a ``TokenClient``; ``needs`` are the extra
    values (``VendorCredentials.extra``) its templates want; ``notes`` say, in words, each
    decision the importer made or guessed; ``guessed`` names the dialect fields the document
    left open (what ``--probe`` checks first)."""

    dialect: TokenDialect
    token_url: str
    needs: tuple[Need, ...] = ()
    notes: tuple[str, ...] = ()
    operation: str = ""
    document: str = ""  # "OpenAPI 3.0.1", "Swagger 2.0", "Postman collection v2.1"
    documented_token_url: str = ""
    guessed: frozenset[str] = field(default_factory=frozenset)

    def to_json(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect.model_dump(mode="json"),
            "token_url": self.token_url,
            "needs": [n.as_json() for n in self.needs],
            "notes": list(self.notes),
            "operation": self.operation,
            "document": self.document,
        }

    def python(self) -> str:
        """``TokenDialect(...)`` with only the fields that differ from the defaults."""
        return dialect_python(self.dialect)


def dialect_python(dialect: TokenDialect) -> str:
    values = dialect.model_dump(mode="json", exclude_defaults=True)
    lines = ["from prefect_vendortokens import TokenDialect", "", "dialect = TokenDialect("]
    lines += [f"    {name}={value!r}," for name, value in values.items()]
    lines.append(")")
    return "\n".join(lines)
