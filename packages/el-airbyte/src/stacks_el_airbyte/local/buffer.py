"""The records of one stream between two commits, already turned into rows of Airbyte's layout."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from stacks_el_airbyte.local.columns import ColumnMaker, columns_of
from stacks_el_airbyte.local.ddl import TMP_SUFFIX, column_types
from stacks_el_airbyte.local.model import ConnectionConfig
from stacks_el_airbyte.local.source import StreamPlan


class StreamBuffer:
    """Records of one stream waiting for the next commit. A deduplicated stream keeps one per
    primary key (the latest by cursor; on a tie, the one read last). Records are turned into
    columns of text values when taken, column by column (per-record Python work is what a sync
    of many small records spends its time on)."""

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
        self.generation = generation
        self._maker = ColumnMaker(self.columns)
        self._sync_id = sync_id
        self._records: list[Mapping[str, Any]] = []
        self._emitted: list[float] = []
        self._by_key: dict[tuple[Any, ...], tuple[Mapping[str, Any], float, Any]] = {}
        self.records = 0
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._by_key) if self.dedup else len(self._records)

    def add(self, data: Mapping[str, Any], emitted_at: float) -> None:
        self.records += 1
        if not self.dedup:
            self._records.append(data)
            self._emitted.append(emitted_at)
            return
        plan = self.plan
        key = tuple([data.get(k) for k in plan.primary_key])
        cursor = data.get(plan.cursor) if plan.cursor else None
        kept = self._by_key.get(key)
        if kept is not None and _newer(kept[2], cursor):
            return
        self._by_key[key] = (data, emitted_at, cursor)

    def take(self) -> list[list[str | None]]:
        """The buffered rows as columns: typed columns, then Airbyte's but ``_airbyte_raw_id``
        (the warehouse draws it: ``gen_random_uuid()``); the buffer is empty afterwards."""
        if self.dedup:
            kept = list(self._by_key.values())
            self._by_key = {}
            records = [k[0] for k in kept]
            emitted = [k[1] for k in kept]
        else:
            records, self._records = self._records, []
            emitted, self._emitted = self._emitted, []
        columns, changes = self._maker.make(records)
        for col in columns:
            self.bytes += sum(map(len, filter(None, col)))
        n = len(records)
        meta = json.dumps({"sync_id": self._sync_id, "changes": []})
        metas: list[str | None] = [meta] * n
        for i, found in changes.items():
            metas[i] = json.dumps({"sync_id": self._sync_id, "changes": found})
        gen = str(self.generation)
        columns += [_timestamps(emitted), metas, [gen] * n]
        return columns


def _timestamps(emitted: list[float]) -> list[str | None]:
    out: list[str | None] = []
    last_ms, last = -1, ""
    for e in emitted:
        ms = int(e)
        if ms != last_ms:
            last_ms, last = ms, datetime.fromtimestamp(ms / 1000, UTC).isoformat()
        out.append(last)
    return out


def _newer(kept: Any, incoming: Any) -> bool:
    """True when the kept row's cursor is strictly newer than the incoming one's."""
    if kept is None or incoming is None:
        return False
    try:
        return bool(kept > incoming)
    except TypeError:
        return False
