"""Running a declarative (YAML manifest) Airbyte source in-process with ``airbyte-cdk``.

The saved STATE goes to the source's constructor: in airbyte-cdk 7.39 ``read()`` ignores its
``state`` argument (passing it only there gives a full read).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks_el_airbyte.local.model import ConnectionConfig, StreamConfig

LOGGER = logging.getLogger("stacks_el_airbyte.source")


@dataclass(frozen=True)
class StreamPlan:
    """One configured stream: what the source declares and what the connection asks."""

    config: StreamConfig
    json_schema: Mapping[str, Any]
    primary_key: tuple[str, ...]
    cursor: str | None
    #: the source's AirbyteStream
    stream: Any

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def incremental(self) -> bool:
        return self.config.sync_mode.startswith("incremental")


def load_manifest(path: Path) -> dict[str, Any]:
    import yaml

    manifest = yaml.safe_load(Path(path).read_text())
    if not isinstance(manifest, dict) or (
        "streams" not in manifest and "dynamic_streams" not in (manifest or {})
    ):
        raise ValueError(f"{path} is not an Airbyte declarative source manifest (no 'streams').")
    return manifest


def _import_cdk() -> Any:
    """airbyte-cdk's source class. Importing the CDK reconfigures the host's root logger (its
    handler prints Airbyte LOG messages on stdout, as a connector process does): the host's own
    logging is put back, and the CDK's progress lines are kept below WARNING."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
        ConcurrentDeclarativeSource,
    )

    if root.handlers != handlers:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("airbyte").setLevel(logging.WARNING)
    return ConcurrentDeclarativeSource


def _source(manifest: dict[str, Any], config: Mapping[str, Any], catalog: Any, state: Any) -> Any:
    ConcurrentDeclarativeSource = _import_cdk()

    return ConcurrentDeclarativeSource(
        catalog=catalog, config=dict(config), state=state, source_config=manifest
    )


def plan_streams(connection: ConnectionConfig, manifest: dict[str, Any]) -> list[StreamPlan]:
    """The connection's streams with their schemas, keys and cursors (the source's defaults when
    the connection names none). An unknown stream or an impossible mode is an error."""
    source = _source(manifest, connection.source_config, None, None)
    declared = {s.name: s for s in source.discover(LOGGER, dict(connection.source_config)).streams}
    plans = []
    for cfg in connection.streams:
        stream = declared.get(cfg.name)
        if stream is None:
            raise ValueError(
                f"The source has no stream {cfg.name!r} (it has: {', '.join(sorted(declared))})."
            )
        key = cfg.primary_key or tuple(p[0] for p in (stream.source_defined_primary_key or []))
        default_cursor = stream.default_cursor_field[0] if stream.default_cursor_field else None
        cursor = cfg.cursor_field or default_cursor
        if cfg.sync_mode.startswith("incremental") and cursor is None:
            raise ValueError(f"Stream {cfg.name!r} has no cursor: it cannot sync incrementally.")
        if cfg.sync_mode == "incremental_deduped_history" and not key:
            raise ValueError(f"Stream {cfg.name!r} has no primary key: it cannot be deduplicated.")
        plans.append(StreamPlan(cfg, stream.json_schema, tuple(key), cursor, stream))
    return plans


def configured_catalog(plans: list[StreamPlan]) -> Any:
    from airbyte_cdk.models import (
        ConfiguredAirbyteCatalog,
        ConfiguredAirbyteStream,
        DestinationSyncMode,
        SyncMode,
    )

    dest_mode = {
        "full_refresh_overwrite": DestinationSyncMode.overwrite,
        "full_refresh_append": DestinationSyncMode.append,
        "incremental_append": DestinationSyncMode.append,
        "incremental_deduped_history": DestinationSyncMode.append_dedup,
    }
    streams = []
    for plan in plans:
        streams.append(
            ConfiguredAirbyteStream(
                stream=plan.stream,
                sync_mode=SyncMode.incremental if plan.incremental else SyncMode.full_refresh,
                destination_sync_mode=dest_mode[plan.config.sync_mode],
                cursor_field=[plan.cursor] if plan.cursor else None,
                primary_key=[[k] for k in plan.primary_key] or None,
            )
        )
    return ConfiguredAirbyteCatalog(streams=streams)


def read(
    manifest: dict[str, Any],
    config: Mapping[str, Any],
    catalog: Any,
    states: list[str],
) -> Iterator[Any]:
    """The source's AirbyteMessages, resuming from ``states`` (saved STATE messages as JSON)."""
    from airbyte_cdk.models import AirbyteStateMessageSerializer

    state = [AirbyteStateMessageSerializer.load(json.loads(s)) for s in states] or None
    source = _source(manifest, config, catalog, state)
    yield from source.read(LOGGER, dict(config), catalog, state)


def state_json(message: Any) -> tuple[str, str]:
    """(stream name, the STATE message as JSON) of a per-stream STATE message."""
    from airbyte_cdk.models import AirbyteStateMessageSerializer

    name = message.stream.stream_descriptor.name
    return name, json.dumps(AirbyteStateMessageSerializer.dump(message), sort_keys=True)


def stream_properties(manifest_path: Path, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The source's streams as the public API's ``StreamProperties`` (``GET /streams``)."""
    manifest = load_manifest(manifest_path)
    source = _source(manifest, config, None, None)
    out = []
    for stream in source.discover(LOGGER, dict(config)).streams:
        modes = ["full_refresh_overwrite", "full_refresh_append"]
        if any(str(m.value) == "incremental" for m in stream.supported_sync_modes or []):
            modes += ["incremental_append", "incremental_deduped_history"]
        out.append(
            {
                "streamName": stream.name,
                "syncModes": modes,
                "defaultCursorField": list(stream.default_cursor_field or []),
                "sourceDefinedCursorField": bool(stream.source_defined_cursor),
                "sourceDefinedPrimaryKey": [
                    list(k) for k in stream.source_defined_primary_key or []
                ],
                "propertyFields": [[k] for k in (stream.json_schema.get("properties") or {})],
            }
        )
    return out
