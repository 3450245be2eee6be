"""Keyed first load and unchanged re-load into DuckDB (merge source without a cursor), each
paired with the hand-written equivalent from Arrow (INSERT OR REPLACE, then MERGE)."""

from __future__ import annotations

import refs
import sources
from harness import Bench, log, make_t, timed

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ()
#: part of a --quick run
QUICK = True


def run(b: Bench) -> None:
    n = b.rows
    items = lambda lv: sources.arrow_items(lambda: b.tbl, lv)  # noqa: E731
    firsts, reloads, hw_firsts, hw_reloads = [], [], [], []
    for _ in range(b.repeat):
        path = b.tmp / "handwritten.duckdb"
        t, s_hw = timed(lambda path=path: refs.duckdb_best_keyed_load(path, b.tbl))
        hw_firsts.append(make_t(s_hw, t.cpu))
        t, s_hw = timed(lambda path=path: refs.duckdb_best_reload(path, b.tbl))
        hw_reloads.append(make_t(s_hw, t.cpu))
        path.unlink(missing_ok=True)
        step = b.dlt_step(sources.orders(items, incremental=False))
        wh = b.duck("keyed")
        s, _ = b.run_step(step, wh, n)
        s2, _ = b.run_step(step, wh, n)
        if b.count(wh) != n:
            raise RuntimeError(f"duckdb re-load left {b.count(wh)} rows, expected {n}")
        wh.path.unlink(missing_ok=True)
        firsts.append(s)
        reloads.append(s2)
        log(
            f"  duckdb keyed: by hand {hw_firsts[-1]:.2f}s / reload {hw_reloads[-1]:.2f}s  "
            f"el-dlt {s:.2f}s / reload {s2:.2f}s"
        )
    b.samples("t_dlt_duckdb_merge_first_s", firsts)
    b.samples("t_dlt_duckdb_merge_reload_s", reloads)
    b.samples("t_ref_duckdb_handwritten_keyed_s", hw_firsts)
    b.samples("t_ref_duckdb_handwritten_reload_s", hw_reloads)
    b.ratio("el_duckdb_keyed_vs_best_handwritten", hw_firsts, firsts)
    b.ratio("el_duckdb_reload_vs_best_handwritten", hw_reloads, reloads)
