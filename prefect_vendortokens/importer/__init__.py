"""Import a vendor's token endpoint from its published API document (OpenAPI 3.0/3.1, Swagger
2.0, Postman v2.x) into a ``TokenDialect``: a pure core (document in; dialect, token URL,
needs and notes out) with thin I/O around it (reading the file, the probe, saving the block)."""

from .api import import_openapi
from .errors import AmbiguousOperationError, NoTokenOperationError, SpecError, SpecUnreadableError
from .request_side import Need
from .result import ImportResult

__all__ = [
    "AmbiguousOperationError",
    "ImportResult",
    "Need",
    "NoTokenOperationError",
    "SpecError",
    "SpecUnreadableError",
    "import_openapi",
]
