"""The records of one stream between two commits, already turned into rows of Airbyte's layout."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from stacks_el_airbyte.local.columns import RowMaker, columns_of
from stacks_el_airbyte.local.ddl import TMP_SUFFIX, column_types
from stacks_el_airbyte.local.model import ConnectionConfig
from stacks_el_airbyte.local.source import StreamPlan

Row = list[str | None]


class StreamBuffer:
    """Rows of one stream waiting for the next commit. A deduplicated stream keeps one row per
    primary key (the latest by cursor; on a tie, the one read last)."""

    def __init__(
        self,
        plan: StreamPlan,
        connection: ConnectionConfig,
        dialect: str,
        sync_id: int,
        generation: int,
    ) -> None:
        self.plan = plan
        self.schema = connection.schema
        self.final = connection.table(plan.name)
        self.overwrite = plan.config.sync_mode == "full_refresh_overwrite"
        #: where the rows go: the final table, or for overwrite the table swapped in at the end
        self.target = self.final + TMP_SUFFIX if self.overwrite else self.final
        self.columns = columns_of(plan.json_schema)
        self.types = column_types(self.columns, dialect)
        self.dedup = plan.config.sync_mode == "incremental_deduped_history"
        self.dedup_spec = (plan.primary_key, plan.cursor) if self.dedup else None
        self._maker = RowMaker(self.columns)
        self._sync_id = sync_id
        self._meta = json.dumps({"sync_id": sync_id, "changes": []})
        self.generation = generation
        self._generation = str(generation)
        self._rows: list[Row] = []
        self._by_key: dict[tuple[Any, ...], tuple[Row, Any]] = {}
        self._last_ms = -1
        self._last_ts = ""
        self.records = 0
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._by_key) if self.dedup else len(self._rows)

    def _extracted_at(self, emitted_at: int | float) -> str:
        ms = int(emitted_at)
        if ms != self._last_ms:
            self._last_ms = ms
            self._last_ts = datetime.fromtimestamp(ms / 1000, UTC).isoformat()
        return self._last_ts

    def add(self, data: Mapping[str, Any], emitted_at: int | float) -> None:
        values, changes = self._maker.row(data)
        meta = (
            self._meta
            if not changes
            else json.dumps({"sync_id": self._sync_id, "changes": changes})
        )
        row = values
        row.append(str(uuid.uuid4()))
        row.append(self._extracted_at(emitted_at))
        row.append(meta)
        row.append(self._generation)
        self.records += 1
        self.bytes += sum(len(v) for v in values if v is not None)
        if not self.dedup:
            self._rows.append(row)
            return
        key = tuple(data.get(k) for k in self.plan.primary_key)
        cursor = data.get(self.plan.cursor) if self.plan.cursor else None
        kept = self._by_key.get(key)
        if kept is not None and _newer(kept[1], cursor):
            return
        self._by_key[key] = (row, cursor)

    def take(self) -> list[Row]:
        """The buffered rows; the buffer is empty afterwards."""
        if self.dedup:
            rows = [r for r, _ in self._by_key.values()]
            self._by_key = {}
            return rows
        rows, self._rows = self._rows, []
        return rows


def _newer(kept: Any, incoming: Any) -> bool:
    """True when the kept row's cursor is strictly newer than the incoming one's."""
    if kept is None or incoming is None:
        return False
    try:
        return bool(kept > incoming)
    except TypeError:
        return False
