"""Block documents of one type, listed in pages: ``POST /block_documents/filter`` answers at most
the server's default limit (200) per call. (``read_block_documents_by_type`` takes an offset and
a limit but its route ignores both and answers every document at once.)"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

PAGE = 200  # Prefect's default API limit, the most a server answers per call


def block_documents(client: Any, type_slug: str, *, include_secrets: bool) -> Iterator[dict[str, Any]]:
    """Every named (not anonymous) document of the block type, as the API's JSON, by name."""
    previous = None
    for offset in itertools.count(0, PAGE):
        page = client.request(
            "POST",
            "/block_documents/filter",
            json={
                "block_types": {"slug": {"any_": [type_slug]}},
                "block_documents": {"is_anonymous": {"eq_": False}},
                "include_secrets": include_secrets,
                "sort": "NAME_ASC",
                "offset": offset,
                "limit": PAGE,
            },
        ).json()
        if page and page[0]["id"] == previous:  # a server that ignores the offset: stop, never loop
            return
        yield from page
        if len(page) < PAGE:
            return
        previous = page[0]["id"]
