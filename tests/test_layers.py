"""The layers as the folders show them: the engine loads without Prefect or hvac, and the
extension points are tables that the block's choices come from."""

from __future__ import annotations

import json
import subprocess
import sys
import typing

ENGINE_IMPORT = """
import json, sys
from prefect_vendortokens import TokenClient, TokenDialect, TokenManager, VendorTokenAuth, get_dialect
from prefect_vendortokens.engine.plan import acquire
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps(loaded))
"""


def test_the_engine_loads_no_prefect_and_no_hvac() -> None:
    out = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", ENGINE_IMPORT], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert "prefect_vendortokens" in loaded and "httpx" in loaded  # it did import the engine
    assert not loaded & {"prefect", "hvac", "requests"}, sorted(loaded & {"prefect", "hvac", "requests"})


def test_the_blocks_load_on_first_use() -> None:
    import prefect_vendortokens

    assert "VendorCredentials" in dir(prefect_vendortokens)  # listed, so `prefect block register -m` finds it
    assert prefect_vendortokens.VendorCredentials.get_block_type_slug() == "vendor-credentials"
    assert prefect_vendortokens.VaultCredentials.get_block_type_slug() == "vault-credentials"


def test_block_choices_come_from_the_tables() -> None:
    from prefect_vendortokens import DIALECT_NAMES, VaultCredentials, VendorCredentials
    from prefect_vendortokens.blocks.settings import GRANTS, TokenStoreSettings
    from prefect_vendortokens.core.presets import GRANT_PRESET_NAMES
    from prefect_vendortokens.stores.registry import STORES
    from prefect_vendortokens.vault.auth_methods import AUTH_METHODS

    vendor = VendorCredentials.model_fields["vendor"].annotation
    assert typing.get_args(vendor) == (*DIALECT_NAMES, *GRANT_PRESET_NAMES, "custom")
    grant = VendorCredentials.model_fields["grant"].annotation
    assert typing.get_args(grant) == tuple(GRANTS)
    store = TokenStoreSettings.model_fields["kind"].annotation
    assert typing.get_args(store) == ("auto", *STORES)
    assert all(kind.name in TokenStoreSettings.model_fields["kind"].description for kind in STORES.values())
    method = VaultCredentials.model_fields["auth_method"].annotation
    assert typing.get_args(method) == tuple(AUTH_METHODS)


def test_a_vault_auth_method_is_validated_from_its_row() -> None:
    import pytest

    from prefect_vendortokens import VaultCredentials
    from prefect_vendortokens.core.errors import InvalidBlockError

    for method, missing in (("approle", "role_id, secret_id"), ("jwt", "role, jwt or jwt_path")):
        with pytest.raises((InvalidBlockError, ValueError), match=f"needs {missing}"):
            VaultCredentials(address="http://127.0.0.1:8200", auth_method=method)


def _contract_levels() -> dict[str, int]:
    """Each layer of pyproject's layers contract and its level (1 at the bottom)."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    return {
        name.strip(): level
        for level, row in enumerate(reversed(contract["layers"]), start=1)
        for name in row.split("|")
    }


def _table_rows() -> list[tuple[int, str, list[str]]]:
    """(level, layer, modules) of each row of docs/layers.md's table."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "layers.md").read_text()
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].isdigit():
            layer = re.match(r"`(\w+)`", cells[1])
            assert layer, line
            rows.append((int(cells[0]), layer.group(1), re.findall(r"`(\w+)`", cells[2])))
    return rows


def test_the_docs_layer_table_is_the_import_contract() -> None:
    """docs/layers.md's table names every layer of the contract at its level, and each row lists
    exactly the modules in the layer's folder: a moved module or a new layer fails here."""
    from pathlib import Path

    import prefect_vendortokens

    rows = _table_rows()
    assert {layer: level for level, layer, _ in rows} == _contract_levels()
    package = Path(prefect_vendortokens.__file__).parent
    for _, layer, modules in rows:
        present = sorted(p.stem for p in (package / layer).glob("*.py") if not p.stem.startswith("__"))
        assert modules == present, layer


def test_every_subpackage_is_a_layer() -> None:
    from pathlib import Path

    import prefect_vendortokens

    package = Path(prefect_vendortokens.__file__).parent
    folders = {p.parent.name for p in package.glob("*/__init__.py")}
    assert folders == set(_contract_levels())


def test_no_import_circle_between_modules() -> None:
    """No module reaches itself through imports, counting the lazy ones inside functions
    (grimp, import-linter's graph, sees those too); a circle shows as its shortest loop."""
    import grimp

    graph = grimp.build_graph("prefect_vendortokens", cache_dir=None)
    loops = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                loops.append(" -> ".join((module, *back)))
    assert not loops, "\n".join(loops)
