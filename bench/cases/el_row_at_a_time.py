"""A source yielding one dict per row: a CSV of ``--row-rows`` rows (300k in a full run) read by
``csv.DictReader`` inside a dlt resource (merge on ``id``), loaded into a fresh DuckDB file by
el-dlt's ``DltStep`` with its defaults and by plain dlt with its own, each a whole process
(bench/row_child.py), alternating; both copies checked row by row against the CSV."""

from __future__ import annotations

import subprocess
import sys

import data
from harness import HERE, Bench, T, log, timed, user_env
from peers import verify

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("el_row_at_a_time_vs_plain_dlt",)
#: part of a --quick run
QUICK = True

COLUMNS = ("id", "customer_id", "status", "amount", "note")


def run(b: Bench) -> None:
    import duckdb
    import pyarrow.csv as pacsv

    rows = b.args.row_rows
    path = b.tmp / "rows.csv"
    pacsv.write_csv(data.table(rows).select(list(COLUMNS)), path)
    cols = [(c, "text") for c in COLUMNS]
    with duckdb.connect() as con:
        con.execute(
            f"create schema raw; create view raw.rows as "
            f"select * from read_csv('{path}', all_varchar = true)"
        )
        want = verify.duckdb_fingerprint(con, "raw", "rows", cols)

    def one(tool: str) -> T:
        wh = b.duck(f"rows-{tool}")
        argv = [sys.executable, str(HERE / "row_child.py"), "--tool", tool, "--csv", str(path)]
        argv += ["--warehouse", str(wh.path), "--workdir", str(b.workdir())]
        t, p = timed(lambda: subprocess.run(argv, env=user_env(), capture_output=True, text=True))
        if p.returncode != 0:
            raise RuntimeError(f"{tool} failed: {p.stderr.strip()[-800:]}")
        with duckdb.connect(str(wh.path), read_only=True) as con:
            got = verify.duckdb_fingerprint(con, "raw", "rows", cols)
        if not got.matches(want):
            raise RuntimeError(f"{tool} copied the CSV wrong: {got} (want {want})")
        wh.path.unlink(missing_ok=True)
        return t

    stacks_runs, dlts = [], []
    for _ in range(b.repeat_heavy):
        stacks_runs.append(one("stacks"))
        dlts.append(one("dlt"))
        log(f"  one dict per row, {rows} rows: el-dlt {stacks_runs[-1]:.2f}s  dlt {dlts[-1]:.2f}s")
    b.record("row_at_a_time_rows", rows)
    b.samples("t_row_at_a_time_el_dlt_s", stacks_runs)
    b.samples("t_row_at_a_time_plain_dlt_s", dlts)
    b.ratio("el_row_at_a_time_vs_plain_dlt", dlts, stacks_runs)
