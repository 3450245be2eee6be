"""Arrow source into Postgres: full load, incremental no-op, 1% changed, per repeat in a fresh
database; the reference COPY is measured right before each full load."""

from __future__ import annotations

import data
import sources
from harness import Bench, log, median, trace_split

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("dlt_pg_arrow_vs_copy", "incremental_noop_vs_full", "el_noop_vs_copy_1m")
#: part of a --quick run
QUICK = True


def run(b: Bench) -> None:
    n = b.rows
    tbl = b.tbl
    current = {"t": tbl}
    items = lambda lv: sources.arrow_items(lambda: current["t"], lv)  # noqa: E731
    full, noop, inc1, copies = [], [], [], []
    splits = []
    for _ in range(b.repeat):
        current["t"] = tbl
        step = b.dlt_step(sources.orders(items))
        wh = b.pg()
        c = b.copy_ref(pk=False)
        s, _ = b.run_step(step, wh, n)
        splits.append(trace_split(step, wh))
        if b.count(wh) != n:
            raise RuntimeError("full load: row count differs from the source")
        shape_pk = b.has_pk(wh)
        if shape_pk:  # compare against COPY into the same shape
            c = b.copy_ref(pk=True)
        s0, r0 = b.run_step(step, wh)
        if r0.total_rows != 0:
            raise RuntimeError(f"incremental no-op wrote {r0.total_rows} rows")
        current["t"] = data.changed(tbl, 0.01)
        s1, r1 = b.run_step(step, wh)
        changed = b.count(wh, "where status = 'changed'")
        if b.count(wh) != n or changed != r1.rows.get("raw.orders"):
            raise RuntimeError(f"1% change: {b.count(wh)} rows, {changed} changed")
        b.srv.drop_database(wh.database)
        full.append(s)
        noop.append(s0)
        inc1.append(s1)
        copies.append(c)
        log(f"  pg arrow: copy {c:.2f}s  full {s:.2f}s  noop {s0:.3f}s  1% {s1:.2f}s  {splits[-1]}")
    b.record("copy_shape", "primary key on id" if shape_pk else "no primary key (as dlt creates)")
    b.samples("t_ref_pg_copy_binary_s", copies)
    b.samples("t_dlt_pg_arrow_full_s", full)
    b.samples("t_dlt_pg_arrow_noop_s", noop)
    b.samples("t_dlt_pg_arrow_incr_1pct_s", inc1)
    b.record("t_dlt_pg_arrow_full_split", splits)
    b.ratio("dlt_pg_arrow_vs_copy", copies, full)
    b.ratio("incremental_noop_vs_full", noop, full)
    b.ratio("el_noop_vs_copy_1m", noop, copies)
    b.ratio("incremental_1pct_vs_full", inc1, full)
    b.record("rows_per_s_ref_pg_copy", round(n / median(copies)))
    b.record("rows_per_s_dlt_pg_arrow", round(n / median(full)))
