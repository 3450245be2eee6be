"""The reference EL step (merge on the key, incremental on a cursor, one transaction) and the
deliberately broken variants the suites must catch."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from stacks_contract.errors import StacksError, StepFailed
from stacks_contract.models import (
    LoadResult,
    RunRequest,
    TableRef,
    Window,
    utcnow,
)
from stacks_contract.ports import ChangeProbe, ELStep, Reporter, silent
from stacks_contract.warehouse import Warehouse
from stacks_core.sql import Connection, connect, qualified, quote_ident

from stacks_testing.reference.source import (
    STATE_SCHEMA,
    STATE_TABLE,
    cell,
    db_message,
    sql_type,
    transaction,
    ts,
)

# --- EL -----------------------------------------------------------------------------------------


class ReferenceELStep(ELStep, ChangeProbe):
    """Loads one JSON-lines source into ``schema.table``: merge on ``primary_key``, incremental on
    ``cursor`` (strictly greater than the last loaded value, kept in ``stacks_meta``), everything
    (DDL, delete+insert, cursor) in one transaction so a kill at any point leaves the previous
    state intact."""

    incremental: ClassVar[bool] = True
    stamps_run_id: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        source: str | Path,
        table: str,
        *,
        schema: str = "raw",
        primary_key: Sequence[str] = ("id",),
        cursor: str = "updated_at",
    ) -> None:
        self.name = name
        self.source = Path(source)
        self.table = TableRef(schema=schema, name=table)
        self.primary_key = tuple(primary_key)
        self.cursor = cursor

    def source_version(self) -> str:
        """A digest of the source file: changes whenever a row is added or changed."""
        data = self.source.read_bytes() if self.source.exists() else b""
        return hashlib.sha1(data).hexdigest()[:16]

    # rebuilt from JSON in a subprocess
    def spec(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "name": self.name,
            "source": str(self.source),
            "table": self.table.name,
            "schema": self.table.schema_name,
            "primary_key": list(self.primary_key),
            "cursor": self.cursor,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ReferenceELStep:
        spec = dict(spec)
        klass = _EL_CLASSES[spec.pop("class", "ReferenceELStep")]
        return klass(
            spec["name"],
            spec["source"],
            spec["table"],
            schema=spec.get("schema", "raw"),
            primary_key=spec.get("primary_key", ("id",)),
            cursor=spec.get("cursor", "updated_at"),
        )

    def produces(self) -> tuple[TableRef, ...]:
        return (self.table,)

    def read_source(self) -> list[dict[str, Any]]:
        if not self.source.exists():
            raise StepFailed(self.name, f"the source {self.source} does not exist.")
        files = sorted(self.source.glob("*.jsonl")) if self.source.is_dir() else [self.source]
        rows: list[dict[str, Any]] = []
        for f in files:
            for n, line in enumerate(f.read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise StepFailed(
                        self.name, f"line {n} of {f} is not valid JSON ({exc.msg})."
                    ) from None
                missing = [k for k in (*self.primary_key, self.cursor) if row.get(k) is None]
                if missing:
                    raise StepFailed(self.name, f"line {n} of {f} has no {', '.join(missing)}.")
                rows.append(row)
        return rows

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> LoadResult:
        started = utcnow()
        rows = self.read_source()
        try:
            with connect(warehouse) as conn, transaction(conn):
                written, cursor = self._load(
                    conn,
                    rows,
                    request.run_id,
                    started,
                    full_refresh=request.full_refresh,
                    window=request.window,
                )
        except StacksError:
            raise
        except Exception as exc:
            raise StepFailed(self.name, db_message(exc, warehouse)) from None
        report(self.name, f"{written} rows -> {self.table}")
        return LoadResult(
            step=self.name,
            run_id=request.run_id,
            load_id=request.run_id,
            rows={self.table.key: written},
            cursor={self.table.name: cursor},
            started_at=started,
            finished_at=utcnow(),
        )

    # -- the load, inside one transaction --

    def _load(
        self,
        conn: Connection,
        rows: list[dict[str, Any]],
        run_id: str,
        loaded_at: datetime,
        *,
        full_refresh: bool = False,
        window: Window | None = None,
    ) -> tuple[int, Any]:
        if window is not None:
            # a window re-delivers the rows whose cursor falls in [start, end), merged on the
            # key; the stored cursor stays where it is (the next plain run goes on from there)
            start, end = ts(window.start), ts(window.end)
            rows = [r for r in rows if start <= str(r[self.cursor]) < end]
            latest = self._latest(rows)
            self._ensure_table(conn, latest)
            if latest:
                self._write(conn, latest, run_id, loaded_at)
            return len(latest), self._read_cursor(conn) if self.incremental else None
        # a full refresh ignores the cursor and replaces the table's rows with the source's
        last = self._read_cursor(conn) if self.incremental and not full_refresh else None
        if last is not None:
            rows = [r for r in rows if r[self.cursor] > last]
        batch = self._latest(rows)
        self._ensure_table(conn, batch)
        if full_refresh:
            conn.execute(f"delete from {qualified(self.table.schema_name, self.table.name)}")
        if batch:
            self._write(conn, batch, run_id, loaded_at)
        new_cursor = max([r[self.cursor] for r in batch], default=last)
        if self.incremental and new_cursor is not None:
            self._write_cursor(conn, new_cursor)
        return len(batch), new_cursor

    def _latest(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One row per key: the latest by cursor (a stable sort keeps file order among equals)."""
        latest: dict[tuple, dict[str, Any]] = {}
        for r in sorted(rows, key=lambda r: r[self.cursor]):
            latest[tuple(r[k] for k in self.primary_key)] = r
        return list(latest.values())

    def _ensure_table(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        columns: dict[str, list[Any]] = {}
        for r in rows:
            for k, v in r.items():
                columns.setdefault(k, []).append(v)
        schema, table = self.table.schema_name, self.table.name
        conn.execute(f"create schema if not exists {quote_ident(schema)}")
        existing = conn.columns(schema, table)
        if not existing:
            defs = [f"{quote_ident(c)} {sql_type(v, conn.dialect)}" for c, v in columns.items()]
            defs += ["_stacks_run_id varchar", "_stacks_loaded_at timestamptz"]
            conn.execute(f"create table {qualified(schema, table)} ({', '.join(defs)})")
            return
        for c, v in columns.items():  # schema evolution: new source columns are added
            if c not in existing:
                conn.execute(
                    f"alter table {qualified(schema, table)} add column {quote_ident(c)} "
                    f"{sql_type(v, conn.dialect)}"
                )

    def _columns(self, rows: list[dict[str, Any]]) -> list[str]:
        return list(dict.fromkeys(k for r in rows for k in r))

    def _insert(
        self, conn: Connection, rows: list[dict[str, Any]], run_id: str | None, loaded_at: datetime
    ) -> None:
        cols = self._columns(rows)
        names = ", ".join([*map(quote_ident, cols), "_stacks_run_id", "_stacks_loaded_at"])
        marks = ", ".join("?" * (len(cols) + 2))
        conn.executemany(
            f"insert into {qualified(self.table.schema_name, self.table.name)} ({names}) "
            f"values ({marks})",
            [[*(cell(r.get(c)) for c in cols), run_id, loaded_at] for r in rows],
        )

    def _write(
        self, conn: Connection, rows: list[dict[str, Any]], run_id: str, loaded_at: datetime
    ) -> None:
        where = " and ".join(f"{quote_ident(k)} = ?" for k in self.primary_key)
        conn.executemany(
            f"delete from {qualified(self.table.schema_name, self.table.name)} where {where}",
            [[r[k] for k in self.primary_key] for r in rows],
        )
        self._insert(conn, rows, run_id, loaded_at)

    def _ensure_state(self, conn: Connection) -> None:
        conn.execute(f"create schema if not exists {STATE_SCHEMA}")
        conn.execute(
            f"create table if not exists {STATE_SCHEMA}.{STATE_TABLE} ("
            "step varchar not null, table_key varchar not null, cursor_json varchar not null, "
            "primary key (step, table_key))"
        )

    def _read_cursor(self, conn: Connection) -> Any:
        self._ensure_state(conn)
        rows = conn.execute(
            f"select cursor_json from {STATE_SCHEMA}.{STATE_TABLE} "
            "where step = ? and table_key = ?",
            [self.name, self.table.key],
        )
        # a cursor without its table (dropped by hand) must not skip the whole source
        if not rows or not conn.columns(self.table.schema_name, self.table.name):
            return None
        return json.loads(rows[0][0])

    def _write_cursor(self, conn: Connection, value: Any) -> None:
        self._ensure_state(conn)
        conn.execute(
            f"insert into {STATE_SCHEMA}.{STATE_TABLE} (step, table_key, cursor_json) "
            "values (?, ?, ?) on conflict (step, table_key) do update set "
            "cursor_json = excluded.cursor_json",
            [self.name, self.table.key, json.dumps(value)],
        )


class AppendOnlyELStep(ReferenceELStep):
    """BROKEN on purpose: appends every source row on every run (no merge, no cursor), so a
    second run duplicates everything. The suites must fail it."""

    incremental: ClassVar[bool] = False

    def _write(
        self, conn: Connection, rows: list[dict[str, Any]], run_id: str, loaded_at: datetime
    ) -> None:
        self._insert(conn, rows, run_id, loaded_at)


class ForgetfulELStep(ReferenceELStep):
    """BROKEN on purpose: a rerun rebuilds the table but drops the last source row."""

    incremental: ClassVar[bool] = False

    def _write(
        self, conn: Connection, rows: list[dict[str, Any]], run_id: str, loaded_at: datetime
    ) -> None:
        target = qualified(self.table.schema_name, self.table.name)
        rerun = conn.count(self.table.schema_name, self.table.name) > 0
        conn.execute(f"delete from {target}")
        self._insert(conn, rows[:-1] if rerun else rows, run_id, loaded_at)


class RunIdIgnoringELStep(ReferenceELStep):
    """BROKEN on purpose: stamps an id of its own instead of the request's run id."""

    def _insert(
        self, conn: Connection, rows: list[dict[str, Any]], run_id: str | None, loaded_at: datetime
    ) -> None:
        super()._insert(conn, rows, f"own-{uuid.uuid4().hex[:8]}", loaded_at)


class CursorFirstELStep(ReferenceELStep):
    """BROKEN on purpose: commits the table and the new cursor, pauses, then loads the rows in a
    second transaction. A kill in between leaves the cursor past rows that never landed, so the
    re-run loads nothing (the inverse of dlt#4052)."""

    pause_seconds: ClassVar[float] = 3.0

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> LoadResult:
        started = utcnow()
        rows = self.read_source()
        with connect(warehouse) as conn:
            last = self._read_cursor(conn)
            batch = [r for r in rows if last is None or r[self.cursor] > last]
            with transaction(conn):
                self._ensure_table(conn, batch)
                if batch:
                    self._write_cursor(conn, max(r[self.cursor] for r in batch))
            time.sleep(self.pause_seconds)
            with transaction(conn):
                if batch:
                    self._write(conn, batch, request.run_id, started)
        return LoadResult(
            step=self.name,
            run_id=request.run_id,
            rows={self.table.key: len(batch)},
            started_at=started,
            finished_at=utcnow(),
        )


_EL_CLASSES: dict[str, type[ReferenceELStep]] = {
    c.__name__: c
    for c in (
        ReferenceELStep,
        AppendOnlyELStep,
        ForgetfulELStep,
        RunIdIgnoringELStep,
        CursorFirstELStep,
    )
}
