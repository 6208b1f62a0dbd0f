"""The pure core: dialects and presets, the token, expiry, request building, response parsing,
PKCE and the errors. No I/O, no Prefect."""
