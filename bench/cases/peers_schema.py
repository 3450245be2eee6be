"""The peers, a whole schema: the sample app database of bench/peers/sourcedb.py (23 relations:
16 tables, one partitioned and one keyless, 5 views, 2 materialized views) copied into Postgres
by stacks (CLI and API), sling (a replication of `public.*`), plain dlt (`sql_database` with
views) and `pg_dump | psql` (the reference); every relation checked row by row."""

from __future__ import annotations

from harness import Bench
from peers import record, series, tools

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("el_sql_schema_vs_sling",)
#: part of a --quick run (at --peer-rows, one repeat, the goal keys' tools only)
QUICK = True
#: installs and runs other tools: left out by --skip-peers
PEERS = True


def run(b: Bench) -> None:
    rows = b.args.peer_rows
    names = tools.tools_for("schema", quick=b.args.quick)
    res = series.run_series(b, "schema", rows, b.repeat_heavy, names)
    record.record(b, "schema", rows, res)
