"""Primary keys declared on keyed raw tables of a Postgres warehouse, as ``pg_dump`` keeps them.

dlt merges on the key but declares no constraint on Postgres; after a load, each merged table
whose raw table has no primary key gets the source's (``ALTER TABLE ... ADD PRIMARY KEY``, once:
a table that has one is left alone). Merge keeps the key unique and not null, so the constraint
holds; where it cannot be added (rows loaded before that break it), the run says so and goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["declare_primary_keys"]


def declare_primary_keys(pipeline: Any, keyed: Iterable[tuple[str, tuple[str, ...]]]) -> list[str]:
    """Add the primary key of each ``(table, key columns)`` lacking one; lines for failures."""
    wanted = [(t, k) for t, k in keyed if k]
    if not wanted:
        return []
    lines = []
    naming = pipeline.default_schema.naming
    with pipeline.sql_client() as sql:
        rows = sql.execute_sql(
            "select c.relname from pg_catalog.pg_constraint k "
            "join pg_catalog.pg_class c on c.oid = k.conrelid "
            "join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
            "where k.contype = 'p' and n.nspname = %s",
            sql.dataset_name,
        )
        have = {r[0] for r in rows or []}
        present = {
            t
            for (t,) in sql.execute_sql(
                "select table_name from information_schema.tables where table_schema = %s",
                sql.dataset_name,
            )
            or []
        }
        for table, key in wanted:
            name = naming.normalize_table_identifier(table)
            if name in have or name not in present:
                continue
            cols = ", ".join(sql.escape_column_name(naming.normalize_identifier(c)) for c in key)
            try:
                sql.execute_sql(
                    f"ALTER TABLE {sql.make_qualified_table_name(name)} ADD PRIMARY KEY ({cols})"
                )
            except Exception as exc:
                from stacks_el_dlt.errors import root_message

                lines.append(
                    f"cannot declare the primary key ({cols}) of {name}: {root_message(exc)}"
                )
    return lines
