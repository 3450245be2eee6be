"""A new process's fixed cost before an el-dlt step's first row (bench/fixed_cost.py)."""

from __future__ import annotations

from harness import Bench

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = (
    "el_process_fixed_vs_uncompiled",
    "el_process_fixed_s",
    "el_process_fixed_cpu_s",
)
#: part of a --quick run
QUICK = True


def run(b: Bench) -> None:
    import fixed_cost

    wh = b.pg("fixed")
    for key, value in fixed_cost.measure(wh.url(), b.workdir(), max(b.repeat, 5)).items():
        b.record(key, value)
    b.srv.drop_database(wh.database)
