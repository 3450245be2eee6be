"""The physical references: the fastest a plain client can put the same rows into each engine."""

from __future__ import annotations

import time
from pathlib import Path

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
