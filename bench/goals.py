"""What the benchmark measures against: each ratio key's goal (the issues' tables) and the ratios
reported without one. ``run.py`` writes the goal keys first in ``results/latest.json``."""

from __future__ import annotations

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
