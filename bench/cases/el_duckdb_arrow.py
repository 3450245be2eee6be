"""Arrow into a fresh DuckDB file (merge + cursor) vs the native `create table as select` from
the same Arrow table."""

from __future__ import annotations

import refs
import sources
from harness import Bench, log, make_t, timed, trace_split

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("dlt_duckdb_arrow_vs_native",)
#: part of a --quick run
QUICK = True


def run(b: Bench) -> None:
    n = b.rows
    items = lambda lv: sources.arrow_items(lambda: b.tbl, lv)  # noqa: E731
    full, natives, splits = [], [], []
    for _ in range(b.repeat):
        t, s_native = timed(lambda: refs.duckdb_native(b.tmp / "native.duckdb", b.tbl))
        native = make_t(s_native, t.cpu)
        step = b.dlt_step(sources.orders(items))
        wh = b.duck("dlt")
        s, _ = b.run_step(step, wh, n)
        splits.append(trace_split(step, wh))
        if b.count(wh) != n:
            raise RuntimeError("duckdb load: row count differs from the source")
        wh.path.unlink(missing_ok=True)
        full.append(s)
        natives.append(native)
        log(f"  duckdb: native {native:.2f}s  el-dlt {s:.2f}s  {splits[-1]}")
    b.samples("t_ref_duckdb_native_arrow_s", natives)
    b.samples("t_dlt_duckdb_arrow_full_s", full)
    b.record("t_dlt_duckdb_arrow_full_split", splits)
    b.ratio("dlt_duckdb_arrow_vs_native", natives, full)
