"""Defining connections through the public API, as with a real Airbyte: workspaces, sources,
destinations, a source's streams, and creating, patching and deleting connections.

A **source** is a declarative manifest plus its config: ``configuration.sourceType`` names a
manifest shipped in :mod:`stacks_el_airbyte.manifests` (``"shop"``), or
``configuration.__injected_declarative_manifest`` carries the manifest itself (as Airbyte's
connector builder publishes one); every other key of ``configuration`` is the source's config.
A **destination** is a warehouse: ``configuration.destinationType`` ``postgres`` (``host``,
``port``, ``database``, ``schema``, ``username``, ``password``) or ``duckdb``
(``destination_path``, ``schema``). Secrets come back masked, as Airbyte returns them.
What is defined here lives as long as the engine (a connections file survives restarts).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse

from stacks_el_airbyte.local import shapes
from stacks_el_airbyte.local.model import ConnectionConfig, StreamConfig

Reply = tuple[int, Any]
DEFAULT_WORKSPACE = "00000000-0000-0000-0000-000000000000"
MANIFEST_KEY = "__injected_declarative_manifest"
SYNC_MODES = (
    "full_refresh_overwrite",
    "full_refresh_append",
    "incremental_append",
    "incremental_deduped_history",
)
_SECRET_KEYS = ("password", "api_key", "token", "client_secret")
_NS = uuid.UUID("2b0f6a52-8d7e-4f0b-9c41-5e3a7d1f6c08")
#: stream name -> (sync modes, primary key, default cursor, property names), from the manifest
Discover = Callable[[Path, dict[str, Any]], list[dict[str, Any]]]


def _masked(configuration: dict[str, Any]) -> dict[str, Any]:
    return {k: "**********" if k in _SECRET_KEYS else v for k, v in configuration.items()}


@dataclass
class Source:
    source_id: str
    name: str
    workspace_id: str
    manifest: Path
    configuration: dict[str, Any]
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def config(self) -> dict[str, Any]:
        return {
            k: v for k, v in self.configuration.items() if k not in ("sourceType", MANIFEST_KEY)
        }

    def json(self) -> dict[str, Any]:
        return {
            "sourceId": self.source_id,
            "name": self.name,
            "sourceType": str(self.configuration.get("sourceType", "declarative-manifest")),
            "definitionId": str(uuid.uuid5(_NS, f"source:{self.manifest}")),
            "workspaceId": self.workspace_id,
            "configuration": _masked(
                {k: v for k, v in self.configuration.items() if k != MANIFEST_KEY}
            ),
            "createdAt": self.created_at,
        }


@dataclass
class Destination:
    destination_id: str
    name: str
    workspace_id: str
    warehouse: Warehouse
    configuration: dict[str, Any]
    created_at: int = field(default_factory=lambda: int(time.time()))

    def json(self) -> dict[str, Any]:
        kind = str(self.configuration["destinationType"])
        return {
            "destinationId": self.destination_id,
            "name": self.name,
            "destinationType": kind,
            "definitionId": str(uuid.uuid5(_NS, f"destination:{kind}")),
            "workspaceId": self.workspace_id,
            "configuration": _masked(self.configuration),
            "createdAt": self.created_at,
        }


def _warehouse(cfg: dict[str, Any]) -> Warehouse:
    kind = cfg.get("destinationType")
    schema = str(cfg.get("schema") or ("public" if kind == "postgres" else "main"))
    if kind == "postgres":
        return PostgresWarehouse(
            host=str(cfg.get("host", "localhost")),
            port=int(cfg.get("port", 5432)),
            database=str(cfg["database"]),
            user=str(cfg.get("username", "postgres")),
            password=str(cfg.get("password") or ""),
            schema=schema,
        )
    if kind == "duckdb":
        return DuckDBWarehouse(path=Path(str(cfg["destination_path"])), schema=schema)
    raise ValueError("configuration.destinationType must be postgres or duckdb")


class Definitions:
    """Sources, destinations and the ids of API-created connections' ends."""

    def __init__(
        self, connections: dict[str, ConnectionConfig], discover: Discover | None, manifests: Path
    ) -> None:
        self.connections = connections
        self.discover = discover
        self.manifests = manifests
        self.sources: dict[str, Source] = {}
        self.destinations: dict[str, Destination] = {}
        #: connection id -> (source id, destination id) of connections created here
        self.ends: dict[str, tuple[str, str]] = {}
        self._inline: Path | None = None

    def workspaces(self) -> list[str]:
        seen = {DEFAULT_WORKSPACE} | {c.workspace_id for c in self.connections.values()}
        return sorted(seen | {s.workspace_id for s in self.sources.values()})

    def connection_json(self, c: ConnectionConfig) -> dict[str, Any]:
        body = shapes.connection_json(c)
        if c.connection_id in self.ends:
            body["sourceId"], body["destinationId"] = self.ends[c.connection_id]
        return body

    # --- sources and destinations ---------------------------------------------------------------

    def _manifest(self, cfg: dict[str, Any]) -> Path:
        inline = cfg.get(MANIFEST_KEY)
        if isinstance(inline, dict):
            import yaml

            if self._inline is None:
                self._inline = Path(tempfile.mkdtemp(prefix="airbyte-local-manifests-"))
            path = self._inline / f"{uuid.uuid4()}.yaml"
            path.write_text(yaml.safe_dump(inline))
            return path
        shipped = self.manifests / f"{cfg.get('sourceType', '')}.yaml"
        if cfg.get("sourceType") and shipped.is_file():
            return shipped
        known = sorted(p.stem for p in self.manifests.glob("*.yaml"))
        raise ValueError(
            f"configuration.sourceType must name a shipped manifest ({', '.join(known)}) or "
            f"configuration.{MANIFEST_KEY} carry one"
        )

    def create_source(self, body: dict[str, Any]) -> Reply:
        cfg = body.get("configuration")
        if not isinstance(cfg, dict) or not body.get("name"):
            return 400, shapes.problem(400, "The body needs name and configuration.")
        try:
            manifest = self._manifest(cfg)
        except ValueError as exc:
            return 400, shapes.problem(400, f"{exc}.")
        source = Source(
            str(uuid.uuid4()),
            str(body["name"]),
            str(body.get("workspaceId") or DEFAULT_WORKSPACE),
            manifest,
            dict(cfg),
        )
        self.sources[source.source_id] = source
        return 200, source.json()

    def create_destination(self, body: dict[str, Any]) -> Reply:
        cfg = body.get("configuration")
        if not isinstance(cfg, dict) or not body.get("name"):
            return 400, shapes.problem(400, "The body needs name and configuration.")
        try:
            warehouse = _warehouse(cfg)
        except (KeyError, ValueError) as exc:
            return 400, shapes.problem(400, f"The destination's configuration lacks {exc}.")
        dest = Destination(
            str(uuid.uuid4()),
            str(body["name"]),
            str(body.get("workspaceId") or DEFAULT_WORKSPACE),
            warehouse,
            dict(cfg),
        )
        self.destinations[dest.destination_id] = dest
        return 200, dest.json()

    def streams(self, source_id: str) -> Reply:
        source = self.sources.get(source_id)
        if source is None:
            return 404, shapes.problem(404, f"Could not find a source with id {source_id}.")
        if self.discover is None:
            return 400, shapes.problem(400, "This engine's executor cannot discover streams.")
        return 200, self.discover(source.manifest, source.config)

    # --- connections ----------------------------------------------------------------------------

    def _streams(self, body: dict[str, Any]) -> tuple[StreamConfig, ...] | None:
        items = (body.get("configurations") or {}).get("streams")
        if items is None:
            return None
        out = []
        for s in items:
            mode = s.get("syncMode", "incremental_deduped_history")
            if mode not in SYNC_MODES:
                raise ValueError(f"syncMode must be one of {', '.join(SYNC_MODES)}")
            cursor = s.get("cursorField") or []
            out.append(
                StreamConfig(
                    name=str(s["name"]),
                    sync_mode=mode,
                    primary_key=tuple(k[0] for k in s.get("primaryKey") or []),
                    cursor_field=cursor[0] if cursor else None,
                )
            )
        return tuple(out)

    def _shape(self, body: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        """The ConnectionConfig fields ``body`` sets (name, streams, namespace, prefix, cron)."""
        changes: dict[str, Any] = {}
        if body.get("name"):
            changes["name"] = str(body["name"])
        streams = self._streams(body)
        if streams is not None:
            changes["streams"] = streams
        if "prefix" in body:
            changes["prefix"] = str(body.get("prefix") or "")
        definition = body.get("namespaceDefinition")
        if definition == "custom_format":
            changes["namespace"] = str(body.get("namespaceFormat") or "") or None
        elif definition in ("destination", "source"):
            changes["namespace"] = None
        schedule = body.get("schedule") or {}
        if schedule:
            changes["schedule_cron"] = (
                schedule.get("cronExpression") if schedule.get("scheduleType") == "cron" else None
            )
        return {**base, **changes}

    def create_connection(self, body: dict[str, Any]) -> Reply:
        source = self.sources.get(str(body.get("sourceId", "")))
        dest = self.destinations.get(str(body.get("destinationId", "")))
        if source is None or dest is None:
            return 400, shapes.problem(
                400, "sourceId and destinationId must name a source and a destination."
            )
        base = {
            "connection_id": str(uuid.uuid4()),
            "name": f"{source.name} -> {dest.name}",
            "source_manifest": source.manifest,
            "source_config": source.config,
            "streams": (),
            "destination": dest.warehouse,
            "workspace_id": source.workspace_id,
        }
        try:
            connection = ConnectionConfig(**self._shape(body, base))
        except (KeyError, ValueError, TypeError) as exc:
            return 400, shapes.problem(400, f"The connection is not valid: {exc}.")
        if not connection.streams:
            return 400, shapes.problem(400, "configurations.streams must name a stream.")
        self.connections[connection.connection_id] = connection
        self.ends[connection.connection_id] = (source.source_id, dest.destination_id)
        return 200, self.connection_json(connection)

    def patch_connection(self, connection: ConnectionConfig, body: dict[str, Any]) -> Reply:
        try:
            changes = self._shape(body, {})
            patched = dataclasses.replace(connection, **changes)
        except (KeyError, ValueError, TypeError) as exc:
            return 400, shapes.problem(400, f"The patch is not valid: {exc}.")
        self.connections[connection.connection_id] = patched
        return 200, self.connection_json(patched)
