"""`make demo`: one token from each emulated vendor, shown as a table (no secret is printed)."""

from __future__ import annotations

from prefect_vendortokens import TokenClient
from prefect_vendortokens.testing import VENDORS, vendor_sandbox


def main() -> None:
    rows = []
    with vendor_sandbox() as sandbox:
        for vendor in VENDORS:
            creds = sandbox.credentials(vendor)
            with TokenClient(
                vendor, sandbox.token_url(vendor), creds.client_id, creds.client_secret
            ) as client:
                token = client.fetch()
            rows.append(
                (
                    vendor,
                    token.fingerprint,
                    token.expires_at.isoformat(timespec="seconds"),
                    token.expiry_source.value,
                )
            )
    header = ("vendor", "token fingerprint", "expires at", "expiry from")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(4)]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
