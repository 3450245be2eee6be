"""The peers, into a DuckDB file: the same keyed table, full / no-op / 1% by stacks (CLI and
API), plain dlt (pyarrow, connectorx) and the hand-written copy (Arrow through ADBC, then
`INSERT OR REPLACE`); sling and the Go ingestr cannot write DuckDB offline (bench/peers/)."""

from __future__ import annotations

from harness import Bench
from peers import record, series, tools

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ()
#: not part of a --quick run (no goal key)
QUICK = False
#: installs and runs other tools: left out by --skip-peers
PEERS = True


def run(b: Bench) -> None:
    rows = b.args.peer_rows
    names = tools.tools_for("duckdb", quick=b.args.quick)
    res = series.run_series(b, "duckdb", rows, b.repeat_heavy, names)
    record.record(b, "duckdb", rows, res)
