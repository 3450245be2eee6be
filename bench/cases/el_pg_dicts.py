"""Dict pages (what REST APIs give) into Postgres: full load and incremental no-op."""

from __future__ import annotations

import data
import sources
from harness import Bench, log, median, trace_split

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("dlt_pg_dicts_vs_copy",)
#: part of a --quick run
QUICK = True


def run(b: Bench) -> None:
    n = b.rows
    if b.pages is None:
        b.pages = list(data.dict_pages(b.tbl))
    items = lambda lv: sources.dict_items(lambda: b.tbl, lambda: b.pages, lv)  # noqa: E731
    full, noop, copies, splits = [], [], [], []
    for _ in range(b.repeat):
        step = b.dlt_step(sources.orders(items))
        wh = b.pg()
        c = b.copy_ref(pk=False)
        s, _ = b.run_step(step, wh, n)
        splits.append(trace_split(step, wh))
        s0, r0 = b.run_step(step, wh)
        if b.count(wh) != n or r0.total_rows != 0:
            raise RuntimeError(f"dict load: {b.count(wh)} rows; no-op wrote {r0.total_rows}")
        b.srv.drop_database(wh.database)
        full.append(s)
        noop.append(s0)
        copies.append(c)
        log(f"  pg dicts: copy {c:.2f}s  full {s:.2f}s  noop {s0:.3f}s  {splits[-1]}")
    b.samples("t_ref_pg_copy_binary_dicts_pair_s", copies)
    b.samples("t_dlt_pg_dicts_full_s", full)
    b.samples("t_dlt_pg_dicts_noop_s", noop)
    b.record("t_dlt_pg_dicts_full_split", splits)
    b.ratio("dlt_pg_dicts_vs_copy", copies, full)
    b.record("rows_per_s_dlt_pg_dicts", round(n / median(full)))
