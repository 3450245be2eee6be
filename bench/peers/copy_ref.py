"""The hand-written reference: the fastest keyed, incremental copy a user could write by hand,
run as its own process by the bench's interpreter:

    python copy_ref.py SOURCE_URL postgresql://...|FILE.duckdb [TABLE]

Postgres -> Postgres: binary ``COPY ... TO STDOUT`` piped into binary ``COPY ... FROM STDIN``;
the first run creates the keyed table and copies straight into it; later runs copy the rows
after the target's ``max(updated_at)`` into a temporary table and upsert them by key.
Postgres -> DuckDB: the rows as Arrow through ADBC, then ``INSERT OR REPLACE`` by key.
Knows the table's shape (``public.orders`` of :mod:`sourcedb`): hand-written code does.
"""

from __future__ import annotations

import sys

COLS = "id, customer_id, status, amount, attrs, updated_at"
PG_DDL = (
    "create table {t} (id bigint primary key, customer_id integer not null, status text not "
    "null, amount numeric(12,2) not null, attrs jsonb, updated_at timestamptz not null)"
)
DUCK_DDL = (
    "create table {t} (id bigint primary key, customer_id integer not null, status varchar not "
    "null, amount decimal(12,2) not null, attrs json, updated_at timestamptz not null)"
)


def to_postgres(source: str, dest: str, table: str) -> int:
    import psycopg

    target = f"raw.{table}"
    with psycopg.connect(source) as src, psycopg.connect(dest) as tgt:
        tgt.execute("create schema if not exists raw")
        first = tgt.execute("select to_regclass(%s)", (target,)).fetchone()[0] is None
        if first:
            tgt.execute(PG_DDL.format(t=target))
            into, where, params = target, "", ()
        else:
            last = tgt.execute(f"select max(updated_at) from {target}").fetchone()[0]
            tgt.execute(f"create temp table stage (like {target}) on commit drop")
            into, where, params = "stage", "where updated_at > %s", (last,)
        out_sql = f"copy (select {COLS} from public.{table} {where}) to stdout (format binary)"
        with (
            src.cursor().copy(out_sql, params) as out,
            tgt.cursor().copy(f"copy {into} ({COLS}) from stdin (format binary)") as inp,
        ):
            for chunk in out:
                inp.write(chunk)
        n = 0
        if not first:
            sets = ", ".join(f"{c} = excluded.{c}" for c in COLS.split(", ")[1:])
            n = tgt.execute(
                f"insert into {target} ({COLS}) select {COLS} from stage "
                f"on conflict (id) do update set {sets}"
            ).rowcount
        tgt.commit()
        return n


def to_duckdb(source: str, path: str, table: str) -> int:
    import adbc_driver_postgresql.dbapi as adbc
    import duckdb

    con = duckdb.connect(path)
    try:
        con.execute("create schema if not exists raw")
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw' and table_name = ?",
            [table],
        ).fetchall()[0][0]
        if not exists:
            con.execute(DUCK_DDL.format(t=f"raw.{table}"))
        last = con.execute(f"select max(updated_at) from raw.{table}").fetchall()[0][0]
        # numeric and jsonb as text: ADBC has no Arrow type for them; DuckDB casts on insert
        query = (
            f"select id, customer_id, status, amount::text as amount, attrs::text as attrs, "
            f"updated_at from public.{table}"
        )
        with adbc.connect(source) as pg, pg.cursor() as cur:
            if last is None:
                cur.execute(query)
            else:
                cur.execute(query + " where updated_at > $1", (last,))
            rows = cur.fetch_arrow_table()
        con.register("rows", rows)
        con.execute(f"insert or replace into raw.{table} select * from rows")
        return rows.num_rows
    finally:
        con.close()


def main() -> None:
    source, dest = sys.argv[1], sys.argv[2]
    table = sys.argv[3] if len(sys.argv) > 3 else "orders"
    if dest.endswith(".duckdb"):
        to_duckdb(source, dest, table)
    else:
        to_postgres(source, dest, table)


if __name__ == "__main__":
    main()
