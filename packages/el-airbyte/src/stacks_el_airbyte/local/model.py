"""What the local engine's API layer and its sync executor share.

The API layer (``server``) owns connections and jobs as Airbyte's public API describes them; the
executor (``executor``) performs one sync of one connection: it runs the source connector and
writes the destination tables the way Airbyte's destinations do. Neither imports the other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from stacks_contract.warehouse import Warehouse

#: Airbyte's public API ``ConnectionSyncModeEnum`` values
SyncMode = Literal[
    "full_refresh_overwrite",
    "full_refresh_append",
    "incremental_append",
    "incremental_deduped_history",
]
#: Airbyte's public API ``JobTypeEnum`` values the engine performs
JobType = Literal["sync", "reset", "refresh", "clear"]

#: the columns Airbyte's destinations (Destinations V2, "direct load") add to every final table
AIRBYTE_COLUMNS = (
    "_airbyte_raw_id",
    "_airbyte_extracted_at",
    "_airbyte_meta",
    "_airbyte_generation_id",
)


@dataclass(frozen=True)
class StreamConfig:
    """One stream of a connection, as ``StreamConfiguration`` in the public API."""

    name: str
    sync_mode: SyncMode
    #: empty: the source's declared primary key
    primary_key: tuple[str, ...] = ()
    #: None: the source's default cursor
    cursor_field: str | None = None


@dataclass(frozen=True)
class ConnectionConfig:
    """A connection: a declarative source (YAML manifest + config) into a warehouse schema."""

    connection_id: str
    name: str
    source_manifest: Path
    source_config: dict[str, Any]
    streams: tuple[StreamConfig, ...]
    destination: Warehouse
    #: the destination schema (Airbyte's "namespace"); None: the warehouse's raw schema
    namespace: str | None = None
    #: prepended to every table name (Airbyte's connection ``prefix``)
    prefix: str = ""
    workspace_id: str = "00000000-0000-0000-0000-000000000000"
    schedule_cron: str | None = None

    @property
    def schema(self) -> str:
        return self.namespace or self.destination.schema_name

    def table(self, stream: str) -> str:
        return f"{self.prefix}{stream}"


@dataclass
class JobContext:
    """What the executor gets for one job: its id (the ``sync_id`` in ``_airbyte_meta``), its
    type, and the event the API layer sets when the job is cancelled."""

    job_id: int
    job_type: JobType
    attempt: int = 1
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass
class SyncOutcome:
    """What a finished sync reports (Airbyte's job stats count records read, not rows kept)."""

    records_synced: int = 0
    bytes_synced: int = 0
    #: records per stream
    streams: dict[str, int] = field(default_factory=dict)


class SyncCancelled(Exception):
    """Raised by an executor that stopped because :attr:`JobContext.cancelled` was set."""


class Executor(Protocol):
    def run(self, connection: ConnectionConfig, job: JobContext) -> SyncOutcome:
        """Perform the job. Raises :class:`SyncCancelled` when cancelled, any other exception
        when the attempt failed (the API layer records it and may retry the attempt)."""
        ...
