"""The physical references: the fastest a plain client can put the same rows into each engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa

ORDERS_DDL = """create table {t} (
    id bigint{pk}, customer_id bigint, status text, amount double precision,
    created_at timestamptz, updated_at timestamptz, note text)"""


def copy_bytes(url: str, tbl: pa.Table) -> bytes:
    """Pre-encode the rows as a binary COPY stream (untimed), so the timed reference measures
    only the transfer and the server's work, like a loader that already holds encoded rows.
    (Encoded by the server itself: Arrow CSV into a temp table, then COPY TO ... BINARY.)"""
    import io

    import psycopg
    import pyarrow.csv as pacsv

    csv = io.BytesIO()
    pacsv.write_csv(tbl, csv)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ORDERS_DDL.format(t="pg_temp._enc", pk=""))
        with conn.cursor().copy("copy pg_temp._enc from stdin (format csv, header)") as cp:
            cp.write(csv.getbuffer())
        buf = bytearray()
        with conn.cursor().copy("copy pg_temp._enc to stdout (format binary)") as cp:
            for chunk in cp:
                buf += chunk
    return bytes(buf)


def pg_copy_binary(url: str, schema: str, payload: bytes, pk: bool) -> float:
    """Seconds to create the table and COPY the pre-encoded binary stream into it, committed."""
    import psycopg

    t = f'"{schema}".orders_copy'
    with psycopg.connect(url) as conn:
        conn.execute(f'create schema if not exists "{schema}"')
        conn.execute(f"drop table if exists {t}")
        conn.commit()
        t0 = time.perf_counter()
        conn.execute(ORDERS_DDL.format(t=t, pk=" primary key" if pk else ""))
        with conn.cursor().copy(f"copy {t} from stdin (format binary)") as cp:
            view = memoryview(payload)
            for i in range(0, len(view), 1 << 20):
                cp.write(view[i : i + (1 << 20)])
        conn.commit()
        return time.perf_counter() - t0


def duckdb_native(path: Path, tbl: pa.Table) -> float:
    """Seconds to open a fresh DuckDB file, create the table from the Arrow table, and close
    (checkpoint) it: what an Arrow-native loader does at best."""
    import duckdb

    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    con = duckdb.connect(str(path))
    con.register("src", tbl)
    con.execute("create schema raw")
    con.execute("create table raw.orders as select * from src")
    con.close()
    return time.perf_counter() - t0


# --- the best keyed loads a user could write by hand (issue 18) ---------------------------------

_COLS = ("id", "customer_id", "status", "amount", "created_at", "updated_at", "note")


def _pg_stage(conn: Any, schema: str, payload: bytes) -> Any:
    """An UNLOGGED staging table filled by a binary COPY of the pre-encoded rows (timed part)."""
    from psycopg import sql

    stg = sql.Identifier(schema, "orders_stage")
    conn.execute(sql.SQL("drop table if exists {}").format(stg))
    ddl = ORDERS_DDL.format(t="{}", pk="").replace("create table", "create unlogged table", 1)
    conn.execute(sql.SQL(ddl).format(stg))
    with conn.cursor().copy(sql.SQL("copy {} from stdin (format binary)").format(stg)) as cp:
        view = memoryview(payload)
        for i in range(0, len(view), 1 << 20):
            cp.write(view[i : i + (1 << 20)])
    return stg


def pg_best_keyed_load(url: str, schema: str, payload: bytes) -> float:
    """Seconds of the best hand-written keyed load into a fresh keyed table (primary key on id):
    binary COPY into an UNLOGGED staging table, then in one transaction delete-by-key +
    ``INSERT ... SELECT DISTINCT ON (id) ... ORDER BY id, updated_at DESC``, committed.
    Leaves ``<schema>.orders`` in place for :func:`pg_best_reload`."""
    import psycopg
    from psycopg import sql

    target = sql.Identifier(schema, "orders")
    cols = sql.SQL(", ").join(map(sql.Identifier, _COLS))
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("drop table if exists {}").format(target))
        conn.commit()
        t0 = time.perf_counter()
        conn.execute(sql.SQL(ORDERS_DDL.format(t="{}", pk=" primary key")).format(target))
        stg = _pg_stage(conn, schema, payload)
        conn.execute(
            sql.SQL("delete from {t} using {s} where {t}.id = {s}.id").format(t=target, s=stg)
        )
        conn.execute(
            sql.SQL(
                "insert into {t} ({c}) select distinct on (id) {c} from {s} "
                "order by id, updated_at desc"
            ).format(t=target, c=cols, s=stg)
        )
        conn.execute(sql.SQL("drop table {}").format(stg))
        conn.commit()
        return time.perf_counter() - t0


def pg_best_reload(url: str, schema: str, payload: bytes) -> float:
    """Seconds of the best hand-written re-load of rows that are already there (unchanged):
    binary COPY into an UNLOGGED staging table, then ``INSERT ... ON CONFLICT (id) DO UPDATE ...
    WHERE (t.*) IS DISTINCT FROM (excluded.*)``, committed (unchanged rows are not rewritten)."""
    import psycopg
    from psycopg import sql

    target = sql.Identifier(schema, "orders")
    cols = sql.SQL(", ").join(map(sql.Identifier, _COLS))
    sets = sql.SQL(", ").join(
        sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in _COLS if c != "id"
    )
    with psycopg.connect(url) as conn:
        t0 = time.perf_counter()
        stg = _pg_stage(conn, schema, payload)
        conn.execute(
            sql.SQL(
                "insert into {t} as t ({c}) select {c} from {s} on conflict (id) do update "
                "set {u} where (t.*) is distinct from (excluded.*)"
            ).format(t=target, c=cols, s=stg, u=sets)
        )
        conn.execute(sql.SQL("drop table {}").format(stg))
        conn.commit()
        return time.perf_counter() - t0


def duckdb_best_keyed_load(path: Path, tbl: pa.Table) -> float:
    """Seconds to open a fresh DuckDB file, create the keyed table (primary key on id) and
    ``INSERT OR REPLACE`` the Arrow rows deduplicated on id (latest ``updated_at``), closed."""
    import duckdb

    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    con = duckdb.connect(str(path))
    con.register("src", tbl)
    con.execute("create schema raw")
    con.execute(ORDERS_DDL.format(t="raw.orders", pk=" primary key"))
    con.execute(
        "insert or replace into raw.orders select distinct on (id) * from src "
        "order by id, updated_at desc"
    )
    con.close()
    return time.perf_counter() - t0


def duckdb_best_reload(path: Path, tbl: pa.Table) -> float:
    """Seconds to re-load the same Arrow rows into the file :func:`duckdb_best_keyed_load` left:
    ``MERGE INTO`` that updates only rows that differ, inserts new ones, closed."""
    import duckdb

    cols = ", ".join(_COLS)
    t0 = time.perf_counter()
    con = duckdb.connect(str(path))
    con.register("src", tbl)
    con.execute(
        "merge into raw.orders t using (select distinct on (id) * from src "
        "order by id, updated_at desc) s on t.id = s.id "
        f"when matched and (t.{', t.'.join(_COLS)}) is distinct from (s.{', s.'.join(_COLS)}) "
        "then update "
        f"when not matched then insert ({cols}) values (s.{', s.'.join(_COLS)})"
    )
    con.close()
    return time.perf_counter() - t0
