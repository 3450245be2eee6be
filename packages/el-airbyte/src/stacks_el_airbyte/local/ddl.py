"""The SQL the destination runs, for Postgres and DuckDB: final tables in Airbyte's layout and the
engine's own bookkeeping in the schema ``airbyte_internal``."""

from __future__ import annotations

from stacks_core.sql import qualified, quote_ident

from stacks_el_airbyte.local.columns import Column, sql_type

#: where the engine keeps per-connection stream state and generation ids (as Airbyte's
#: destinations keep their bookkeeping in ``airbyte_internal``)
INTERNAL_SCHEMA = "airbyte_internal"
STATE_TABLE = "_airbyte_state"
#: suffix of the table a full-refresh-overwrite stream is written to before the swap
TMP_SUFFIX = "_airbyte_tmp"

#: Airbyte's columns after the typed ones: (name, Postgres type, DuckDB type); the warehouse
#: draws ``_airbyte_raw_id`` (a random UUID: cheaper there than in Python, per record)
RAW_ID = "_airbyte_raw_id"
META_COLUMNS = (
    (RAW_ID, "varchar default gen_random_uuid()::varchar", "VARCHAR"),
    ("_airbyte_extracted_at", "timestamp with time zone", "TIMESTAMPTZ"),
    ("_airbyte_meta", "jsonb", "JSON"),
    ("_airbyte_generation_id", "bigint", "BIGINT"),
)


def column_types(columns: list[Column], dialect: str) -> list[tuple[str, str]]:
    """(name, SQL type) of every column of a final table: typed columns, then Airbyte's."""
    typed = [(c.name, sql_type(c.kind, dialect)) for c in columns]
    meta = [(n, pg if dialect == "postgres" else dk) for n, pg, dk in META_COLUMNS]
    return typed + meta


def create_table(schema: str, table: str, types: list[tuple[str, str]]) -> str:
    body = ", ".join(f"{quote_ident(n)} {t}" for n, t in types)
    return f"create table if not exists {qualified(schema, table)} ({body})"


def state_table_sql() -> list[str]:
    return [
        f"create schema if not exists {quote_ident(INTERNAL_SCHEMA)}",
        f"create table if not exists {qualified(INTERNAL_SCHEMA, STATE_TABLE)} ("
        "connection_id varchar not null, stream_name varchar not null, "
        "stream_namespace varchar not null, state varchar, generation_id bigint not null, "
        "updated_at timestamp with time zone not null, "
        "primary key (connection_id, stream_name, stream_namespace))",
    ]


def select_cast(types: list[tuple[str, str]], source: str) -> str:
    """``SELECT CAST(col AS type), ... FROM source`` (DuckDB: the batch arrives as text, without
    ``_airbyte_raw_id``, drawn here)."""
    cols = ", ".join(
        f"cast(gen_random_uuid() as varchar) as {quote_ident(n)}"
        if n == RAW_ID
        else f"cast({quote_ident(n)} as {t}) as {quote_ident(n)}"
        for n, t in types
    )
    return f"select {cols} from {source}"


def dedup_sql(
    final: str, stage: str, key: tuple[str, ...], cursor: str | None, cols: list[str]
) -> list[str]:
    """Statements that merge the (already one-row-per-key) ``stage`` into ``final``: a staged row
    older than the kept one (by cursor), or equal to it in every typed column (a boundary record
    the inclusive cursor read again), is dropped; otherwise it replaces the kept row."""
    on = " and ".join(f"f.{quote_ident(k)} = s.{quote_ident(k)}" for k in key)
    typed = [n for n in cols if n not in {m[0] for m in META_COLUMNS}]
    same = " and ".join(
        f"f.{quote_ident(n)} is not distinct from s.{quote_ident(n)}" for n in typed
    )
    keep_old = f"({same})"
    if cursor:
        c = quote_ident(cursor)
        keep_old = f"(f.{c} > s.{c} or {same})"
    # a refresh rewrites every row in its new generation (older generations go at its end)
    keep_old = f"f._airbyte_generation_id >= s._airbyte_generation_id and {keep_old}"
    names = ", ".join(quote_ident(n) for n in cols)
    return [
        f"delete from {stage} s where exists (select 1 from {final} f where {on} and {keep_old})",
        f"delete from {final} f using {stage} s where {on}",
        f"insert into {final} ({names}) select {names} from {stage}",
    ]
