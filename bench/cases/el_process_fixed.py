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
    processes = 3 if b.args.quick else max(b.repeat, 5)  # each twice: with and without .pyc
    for key, value in fixed_cost.measure(wh.url(), b.workdir(), processes).items():
        b.record(key, value)
    b.srv.drop_database(wh.database)
