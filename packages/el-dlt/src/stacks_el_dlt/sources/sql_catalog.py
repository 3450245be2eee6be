"""What the SQL step asks a Postgres source's catalog before reading (one query each, per run):
relations it cannot read, the exact type of every column, the current transaction snapshot."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["current_snapshot_xmin", "pg_type_texts", "unreadable"]


def unreadable(engine: Any, schema: str | None, names: Iterable[str]) -> dict[str, str]:
    """name -> why the source user cannot read it: a SELECT privilege it lacks, a materialized
    view created ``WITH NO DATA`` (Postgres refuses to scan it until it is refreshed)."""
    import sqlalchemy as sa

    wanted = list(names)
    if engine.dialect.name != "postgresql" or not wanted:
        return {}
    query = sa.text(
        "select c.relname, has_table_privilege(c.oid, 'SELECT'), "
        "c.relkind <> 'm' or c.relispopulated from pg_catalog.pg_class c "
        "join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = coalesce(:schema, current_schema()) and c.relname = any(:names)"
    )
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for name, may_select, populated in conn.execute(query, {"schema": schema, "names": wanted}):
            if not may_select:
                out[name] = f"the source user {engine.url.username!r} may not SELECT from it"
            elif not populated:
                out[name] = "a materialized view that was never refreshed (WITH NO DATA)"
    return out


def pg_type_texts(
    engine: Any, schema: str | None, names: Iterable[str]
) -> dict[str, dict[str, str | None]]:
    """table -> column -> the column's Postgres type as ``format_type`` writes it (``integer[]``,
    ``character(20)``, ``jsonb``), or None for a type a warehouse may not have (an enum, a
    domain, an extension's type, or an array of one)."""
    import sqlalchemy as sa

    query = sa.text(
        "select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
        "t.typnamespace = 'pg_catalog'::regnamespace and t.typtype in ('b', 'r', 'm') "
        "and (t.typelem = 0 or e.typnamespace = 'pg_catalog'::regnamespace) "
        "from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid "
        "join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
        "join pg_catalog.pg_type t on t.oid = a.atttypid "
        "left join pg_catalog.pg_type e on e.oid = t.typelem "
        "where n.nspname = coalesce(:schema, current_schema()) and c.relname = any(:names) "
        "and a.attnum > 0 and not a.attisdropped"
    )
    out: dict[str, dict[str, str | None]] = {}
    with engine.connect() as conn:
        for table, column, text, builtin in conn.execute(
            query, {"schema": schema, "names": list(names)}
        ):
            out.setdefault(table, {})[column] = text if builtin else None
    return out


def current_snapshot_xmin(engine: Any) -> int:
    """The oldest transaction id still running (64-bit: the wraparound epoch in the high bits)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        return int(
            conn.execute(sa.text("select txid_snapshot_xmin(txid_current_snapshot())")).scalar_one()
        )
