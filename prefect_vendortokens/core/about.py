"""What every block of the package shows in Prefect's catalog: where its documentation is and its
logo. Plain constants, at the bottom, so the stores' and the blocks' block types share them."""

# The package's documentation is its README, published on its PyPI page.
DOCS_URL = "https://pypi.org/project/prefect-vendortokens/"
# Prefect's own key icon (the Secret block's), pinned to a commit.
KEY_LOGO_URL = (
    "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/"
    "assets/block-logos/secret.png"
)
