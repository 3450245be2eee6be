"""Writing batches to the warehouse as Airbyte's destinations do, on Postgres and DuckDB.

One :class:`Destination` per sync: it opens the warehouse when the sync starts and closes it when
the sync ends (DuckDB admits one writing process per file). Every batch is one transaction: the
rows of every stream buffered so far and, when the batch ends at a STATE message, that state.
Rows arrive as text (see :mod:`~stacks_el_airbyte.local.columns`): Postgres loads them with a text
COPY, DuckDB casts them in an ``INSERT ... SELECT`` over the batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from stacks_contract.warehouse import Warehouse
from stacks_core.sql import Connection, connect, qualified, quote_ident

from stacks_el_airbyte.local import ddl

#: a batch: one list of text values (or None) per column
Columns = list[list[str | None]]


class Destination:
    def __init__(self, warehouse: Warehouse) -> None:
        self.conn: Connection = connect(warehouse)
        self.dialect = self.conn.dialect
        self.raw: Any = self.conn.raw
        for sql in ddl.state_table_sql():
            self._exec(sql)

    # --- plumbing -------------------------------------------------------------------------------

    def _exec(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self.dialect == "postgres":
            with self.raw.transaction():
                yield
            return
        self.raw.execute("begin transaction")
        try:
            yield
        except BaseException:
            self.raw.execute("rollback")
            raise
        self.raw.execute("commit")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    # --- state ----------------------------------------------------------------------------------

    def states(self, connection_id: str) -> dict[str, tuple[str | None, int]]:
        """stream -> (its saved STATE message as JSON, its generation id)."""
        rows = self._exec(
            f"select stream_name, state, generation_id from "
            f"{qualified(ddl.INTERNAL_SCHEMA, ddl.STATE_TABLE)} where connection_id = ?",
            [connection_id],
        )
        return {r[0]: (r[1], int(r[2])) for r in rows}

    def put_state(
        self, connection_id: str, stream: str, state: str | None, generation: int
    ) -> None:
        table = qualified(ddl.INTERNAL_SCHEMA, ddl.STATE_TABLE)
        key = [connection_id, stream, ""]
        self._exec(
            f"delete from {table} where connection_id = ? and stream_name = ? "
            "and stream_namespace = ?",
            key,
        )
        self._exec(
            f"insert into {table} (connection_id, stream_name, stream_namespace, state, "
            "generation_id, updated_at) values (?, ?, ?, ?, ?, ?)",
            [*key, state, generation, datetime.now(UTC)],
        )

    # --- tables ---------------------------------------------------------------------------------

    def prepare(
        self, schema: str, table: str, types: list[tuple[str, str]], key: tuple[str, ...] = ()
    ) -> None:
        """Create the table if missing; add the columns it lacks (a schema that grew)."""
        self._exec(f"create schema if not exists {quote_ident(schema)}")
        self._exec(ddl.create_table(schema, table, types))
        have = set(self.conn.columns(schema, table))
        for name, sql_type in types:
            if name not in have:
                self._exec(
                    f"alter table {qualified(schema, table)} add column {quote_ident(name)} "
                    f"{sql_type}"
                )
        if key and self.dialect == "postgres":  # the dedup's delete-by-key needs it at scale
            index = quote_ident(f"{table}_airbyte_pk"[:63])
            cols = ", ".join(quote_ident(k) for k in key)
            self._exec(f"create index if not exists {index} on {qualified(schema, table)} ({cols})")

    def drop(self, schema: str, table: str) -> None:
        self._exec(f"drop table if exists {qualified(schema, table)}")

    def truncate(self, schema: str, table: str) -> None:
        if self.conn.table_exists(schema, table):
            self._exec(f"delete from {qualified(schema, table)}")

    def delete_generations_before(self, schema: str, table: str, generation: int) -> None:
        self._exec(
            f"delete from {qualified(schema, table)} where _airbyte_generation_id < ?", [generation]
        )

    def swap(self, schema: str, tmp: str, table: str, names: list[str]) -> None:
        """Replace ``table``'s rows with ``tmp``'s (inside the caller's transaction), drop ``tmp``.
        The final table stays (views built on it survive); readers see old rows or new ones."""
        cols = ", ".join(quote_ident(n) for n in names)
        self._exec(f"delete from {qualified(schema, table)}")
        self._exec(
            f"insert into {qualified(schema, table)} ({cols}) "
            f"select {cols} from {qualified(schema, tmp)}"
        )
        self._exec(f"drop table {qualified(schema, tmp)}")

    # --- rows -----------------------------------------------------------------------------------

    def write(
        self,
        schema: str,
        table: str,
        types: list[tuple[str, str]],
        columns: Columns,
        dedup: tuple[tuple[str, ...], str | None] | None = None,
    ) -> None:
        """Append the rows (text values, one list per column in ``types`` order) to the table,
        or with ``dedup`` (primary key, cursor) replace the rows of their keys unless those are
        newer or the same."""
        if not columns or not columns[0]:
            return
        final = qualified(schema, table)
        names = [n for n, _ in types]
        if self.dialect == "postgres":
            self._write_postgres(final, names, columns, dedup)
        else:
            self._write_duckdb(final, types, columns, dedup)

    def _write_postgres(
        self,
        final: str,
        names: list[str],
        columns: Columns,
        dedup: tuple[tuple[str, ...], str | None] | None,
    ) -> None:
        cols = ", ".join(quote_ident(n) for n in names if n != ddl.RAW_ID)  # the default draws it
        target = final
        if dedup is not None:
            target = quote_ident("_airbyte_stage")
            self._exec(f"drop table if exists {target}")
            self._exec(
                f"create temp table {target} (like {final} including defaults) on commit drop"
            )
        with self.raw.cursor() as cur, cur.copy(f"copy {target} ({cols}) from stdin") as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)
        if dedup is not None:
            for sql in ddl.dedup_sql(final, target, dedup[0], dedup[1], names):
                self._exec(sql)

    def _write_duckdb(
        self,
        final: str,
        types: list[tuple[str, str]],
        columns: Columns,
        dedup: tuple[tuple[str, ...], str | None] | None,
    ) -> None:
        import numpy as np
        import pandas as pd

        names = [n for n, _ in types]
        data = {}
        for name, values in zip([n for n in names if n != ddl.RAW_ID], columns, strict=True):
            col = np.empty(len(values), dtype=object)
            col[:] = values
            data[name] = col
        batch = pd.DataFrame(data, copy=False)
        self.raw.register("_airbyte_batch", batch)
        try:
            select = ddl.select_cast(types, "_airbyte_batch")
            cols = ", ".join(quote_ident(n) for n in names)
            if dedup is None:
                self._exec(f"insert into {final} ({cols}) {select}")
                return
            stage = quote_ident("_airbyte_stage")
            self._exec(f"create or replace temp table {stage} as {select}")
            for sql in ddl.dedup_sql(final, stage, dedup[0], dedup[1], names):
                self._exec(sql)
            self._exec(f"drop table {stage}")
        finally:
            self.raw.unregister("_airbyte_batch")
