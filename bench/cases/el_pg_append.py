"""The same Arrow rows, append (no key, no cursor): what merge costs on top of a plain load."""

from __future__ import annotations

import sources
from harness import Bench, log

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("dlt_pg_arrow_append_vs_copy",)
#: part of a --quick run
QUICK = False


def run(b: Bench) -> None:
    n = b.rows
    items = lambda lv: sources.arrow_items(lambda: b.tbl, lv)  # noqa: E731
    ts, copies = [], []
    for _ in range(b.repeat):
        step = b.dlt_step(
            sources.orders(items, incremental=False, write_disposition="append", primary_key=None)
        )
        wh = b.pg()
        c = b.copy_ref(pk=False)
        s, _ = b.run_step(step, wh, n)
        b.srv.drop_database(wh.database)
        ts.append(s)
        copies.append(c)
        log(f"  pg append: copy {c:.2f}s  dlt {s:.2f}s")
    b.samples("t_dlt_pg_arrow_append_s", ts)
    b.ratio("dlt_pg_arrow_append_vs_copy", copies, ts)
