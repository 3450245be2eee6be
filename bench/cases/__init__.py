"""The benchmark's cases, one module each, run in this order.

A case module has ``run(b: harness.Bench)``, ``KEYS`` (the goal keys it fills, reported as
unavailable when it cannot run), ``QUICK`` (part of ``--quick``) and optionally ``NAMED_ONLY``
(runs only when named with ``--only``). Its docstring says what it measures.
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
    "dbt",
    "stack_noop",
    "dagster",
    "airflow",
    "airbyte",
    "dagster_1m",
    "temporal",
    "memory",
    "el_process_fixed",
    "profile",
)


def load(name: str) -> ModuleType:
    return importlib.import_module(f"cases.{name}")
