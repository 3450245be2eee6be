"""Connections of the local engine from a YAML file (``python -m stacks_el_airbyte.local``).

.. code-block:: yaml

    connections:
      - name: shop
        source_manifest: shop            # a manifest shipped in stacks_el_airbyte/manifests,
                                         # or a path (relative to this file)
        source_config: {url: "http://127.0.0.1:8765"}
        destination: ${STACKS_WAREHOUSE}  # a warehouse URL; ${VARS} expanded; empty: DuckDB
        namespace: raw
        streams:
          - {name: customers, sync_mode: incremental_deduped_history, primary_key: [id],
             cursor_field: updated_at}

``connection_id`` is optional: by default a UUID derived from the name, so it stays the same
across restarts of the engine.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.warehouse import parse_warehouse

from stacks_el_airbyte.local.model import ConnectionConfig, StreamConfig

_NS = uuid.UUID("0c5d1b7e-3f7a-4c52-8f0e-6a1f8c2d9b44")
MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"


def connection_id_for(name: str) -> str:
    return str(uuid.uuid5(_NS, name))


def load_connections(path: Path) -> list[ConnectionConfig]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read the connections file {path}: {exc}") from None
    items = data.get("connections") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected a list under 'connections'.")
    return [_connection(item, path.parent, f"{path}: connection {i + 1}")
            for i, item in enumerate(items)]  # fmt: skip


def _connection(item: Any, folder: Path, where: str) -> ConnectionConfig:
    if not isinstance(item, dict) or not item.get("name") or not item.get("streams"):
        raise ConfigError(f"{where}: needs at least a name and streams.")
    manifest = str(item.get("source_manifest") or "")
    shipped = MANIFESTS / f"{manifest}.yaml"
    path = shipped if shipped.is_file() else (folder / manifest)
    if not path.is_file():
        raise ConfigError(f"{where}: no source manifest {manifest!r} (a path or 'shop').")
    streams = []
    for s in item["streams"]:
        s = {"name": s} if isinstance(s, str) else s
        streams.append(
            StreamConfig(
                name=s["name"],
                sync_mode=s.get("sync_mode", "incremental_deduped_history"),
                primary_key=tuple(s.get("primary_key") or ()),
                cursor_field=s.get("cursor_field"),
            )
        )
    destination = os.path.expandvars(str(item.get("destination") or ""))
    return ConnectionConfig(
        connection_id=str(item.get("connection_id") or connection_id_for(item["name"])),
        name=item["name"],
        source_manifest=path,
        source_config=dict(item.get("source_config") or {}),
        streams=tuple(streams),
        destination=parse_warehouse(destination or None, default_name="airbyte"),
        namespace=item.get("namespace"),
        prefix=str(item.get("prefix") or ""),
        workspace_id=str(item.get("workspace_id") or "00000000-0000-0000-0000-000000000000"),
        schedule_cron=item.get("schedule_cron"),
    )
