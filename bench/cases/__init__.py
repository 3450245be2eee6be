"""The benchmark's cases, one module each, run in this order.

A case module has ``run(b: harness.Bench)``, ``KEYS`` (the goal keys it fills, reported as
unavailable when it cannot run), ``QUICK`` (part of ``--quick``) and optionally ``NAMED_ONLY``
(runs only when named with ``--only``) and ``PEERS`` (installs and runs other tools: left out by
``--skip-peers``). Its docstring says what it measures.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ORDER: tuple[str, ...] = (
    "el_pg_arrow",
    "el_pg_merge_reload",
    "el_pg_upsert_reload",
    "el_pg_append",
    "el_pg_dicts",
    "el_duckdb_arrow",
    "el_duckdb_keyed",
    "el_row_at_a_time",
    "dbt",
    "stack_noop",
    "stack_dbt_only",
    "uv_overhead",
    "dagster",
    "airflow",
    "airbyte",
    "dagster_1m",
    "temporal",
    "peers_pg",
    "peers_duckdb",
    "peers_schema",
    "memory",
    "el_process_fixed",
    "cli_latency",
    "profile",
)


def load(name: str) -> ModuleType:
    return importlib.import_module(f"cases.{name}")
