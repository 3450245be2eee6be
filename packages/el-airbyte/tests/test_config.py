"""Connections of the local engine from YAML (what ``python -m stacks_el_airbyte.local`` serves)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stacks_contract.errors import ConfigError
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_el_airbyte.local.config import connection_id_for, load_connections


def test_connections_from_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "source.yaml").write_text("version: 6.44.0\ntype: DeclarativeSource\n")
    monkeypatch.setenv("WH", f"duckdb:///{tmp_path}/wh.duckdb")
    path = tmp_path / "connections.yaml"
    path.write_text(
        "connections:\n"
        "  - name: shop\n"
        "    source_manifest: source.yaml\n"
        "    source_config: {url: 'http://127.0.0.1:1'}\n"
        "    destination: ${WH}\n"
        "    namespace: raw\n"
        "    streams:\n"
        "      - customers\n"
        "      - {name: orders, sync_mode: full_refresh_overwrite}\n"
    )
    (conn,) = load_connections(path)
    assert conn.connection_id == connection_id_for("shop")  # stable across restarts
    assert conn.destination == DuckDBWarehouse(path=tmp_path / "wh.duckdb")
    assert [(s.name, s.sync_mode) for s in conn.streams] == [
        ("customers", "incremental_deduped_history"),
        ("orders", "full_refresh_overwrite"),
    ]
    path.write_text("connections:\n  - name: x\n    source_manifest: nope.yaml\n    streams: [a]\n")
    with pytest.raises(ConfigError, match=r"connection 1: no source manifest 'nope.yaml'"):
        load_connections(path)
