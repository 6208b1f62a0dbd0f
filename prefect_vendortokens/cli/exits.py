"""The CLI's exit codes (``prefect-vendortokens --help`` lists them)."""

EXIT_OK = 0
EXIT_TOKEN = 1  # a token could not be had (vendor, Vault, store), or a rotation failed
EXIT_BLOCK = 2  # a block is missing or invalid, a variable is missing, or the command line is wrong
EXIT_PREFECT = 3  # no Prefect API is configured, or none answered
