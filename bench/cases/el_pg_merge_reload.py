"""A merge source without a cursor: a keyed first load, then a re-load of the same (unchanged)
rows; each paired with the best a user could write by hand (bench/refs.py) in its own fresh
database, right before, and a bare COPY into the same keyed table."""

from __future__ import annotations

from typing import Any

import refs
import sources
from harness import Bench, log, make_t, timed

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = (
    "merge_reload_vs_full",
    "el_pg_keyed_vs_best_handwritten",
    "el_pg_reload_vs_best_handwritten",
)
#: part of a --quick run
QUICK = True


def run(b: Bench) -> None:
    pg_keyed(b, "merge", "")


def pg_keyed(b: Bench, disposition: str | dict[str, Any], tag: str) -> None:
    n = b.rows
    items = lambda lv: sources.arrow_items(lambda: b.tbl, lv)  # noqa: E731
    firsts, reloads, hw_firsts, hw_reloads, copies_pk = [], [], [], [], []
    for _ in range(b.repeat):
        ref = b.pg("hw")
        copies_pk.append(b.copy_ref(pk=True))
        t, s_hw = timed(lambda ref=ref: refs.pg_best_keyed_load(ref.url(), "raw", b.copy_payload))
        hw_first = make_t(s_hw, t.cpu)
        t, s_hw = timed(lambda ref=ref: refs.pg_best_reload(ref.url(), "raw", b.copy_payload))
        hw_reload = make_t(s_hw, t.cpu)
        if b.count(ref) != n:
            raise RuntimeError(f"hand-written keyed load left {b.count(ref)} rows, expected {n}")
        b.srv.drop_database(ref.database)
        step = b.dlt_step(sources.orders(items, incremental=False, write_disposition=disposition))
        wh = b.pg()
        s, _ = b.run_step(step, wh, n)
        s2, _ = b.run_step(step, wh, n)
        if b.count(wh) != n:
            raise RuntimeError(f"merge re-load left {b.count(wh)} rows, expected {n}")
        b.srv.drop_database(wh.database)
        firsts.append(s)
        reloads.append(s2)
        hw_firsts.append(hw_first)
        hw_reloads.append(hw_reload)
        log(
            f"  pg keyed {tag or 'merge'}: by hand {hw_first:.2f}s / reload {hw_reload:.2f}s "
            f"(copy pk {copies_pk[-1]:.2f}s)  el-dlt {s:.2f}s / reload {s2:.2f}s"
        )
    b.samples(f"t_dlt_pg_{tag or 'merge_'}first_s", firsts)
    b.samples(f"t_dlt_pg_{tag or 'merge_'}reload_s", reloads)
    b.samples(f"t_ref_pg_handwritten_keyed_{tag}s", hw_firsts)
    b.samples(f"t_ref_pg_handwritten_reload_{tag}s", hw_reloads)
    b.samples(f"t_ref_pg_copy_binary_pk_{tag}s", copies_pk)
    b.ratio(f"{tag}merge_reload_vs_full" if tag else "merge_reload_vs_full", reloads, firsts)
    b.ratio(f"el_pg_{tag}keyed_vs_best_handwritten", hw_firsts, firsts)
    b.ratio(f"el_pg_{tag}reload_vs_best_handwritten", hw_reloads, reloads)
    if not tag:
        b.ratio("handwritten_keyed_vs_copy_pk", copies_pk, hw_firsts)
        b.ratio("handwritten_reload_vs_keyed", hw_reloads, hw_firsts)
