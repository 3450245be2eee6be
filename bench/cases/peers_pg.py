"""The peers, into Postgres: a 1M-row keyed table (bigint key, int, text, numeric(12,2), jsonb,
timestamptz) copied by stacks (`uv run stacks run`, and the Python API in a fresh process), sling,
ingestr, plain dlt (pyarrow and connectorx backends) and the hand-written binary COPY -> COPY:
a full load into an empty target, a no-op re-run, a re-run after 1% of the rows changed. Whole
processes, interleaved, median of the repeats, every run checked row by row (bench/peers/)."""

from __future__ import annotations

from harness import Bench
from peers import record, series, tools

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = (
    "el_sql_full_vs_sling",
    "el_sql_noop_vs_sling",
    "el_sql_incr_vs_sling",
    "el_sql_full_vs_copy",
)
#: part of a --quick run (at --peer-rows, one repeat, the goal keys' tools only)
QUICK = True
#: installs and runs other tools: left out by --skip-peers
PEERS = True


def run(b: Bench) -> None:
    rows = b.args.peer_rows
    names = tools.tools_for("pg", quick=b.args.quick)
    res = series.run_series(b, "pg", rows, b.repeat_heavy, names)
    record.record(b, "pg", rows, res)
