"""The stack the bench runs as a user would: ``uv run stacks run bench/peers/stack_sql.py:stack
--warehouse URL``. One ``SqlDatabaseStep`` over ``$BENCH_SQL_SOURCE`` (the tables in
``$BENCH_SQL_TABLES``, comma-separated; none: the whole schema); with ``$BENCH_DBT_PROJECT`` a
dbt project after it (into ``analytics``). Run by the Local orchestrator unless
``$BENCH_STACK_ORCH=dagster``: the peers measure the EL step alone, the orchestrators' own cost
has its cases."""

from __future__ import annotations

import os

from stacks_contract import Stack, StackSpec, Warehouse
from stacks_contract.ports import Orchestrator


class BenchSqlStack(Stack):
    name = "bench-sql"
    description = "An app database's tables -> the warehouse's raw schema (SqlDatabaseStep)."

    def orchestrator(self) -> Orchestrator:
        if os.environ.get("BENCH_STACK_ORCH") == "dagster":
            from stacks_orch_dagster import DagsterOrchestrator

            return DagsterOrchestrator()
        from stacks_core.local import LocalOrchestrator

        return LocalOrchestrator()

    def spec(self, warehouse: Warehouse) -> StackSpec:
        from stacks_el_dlt import SqlDatabaseStep

        tables = [t for t in os.environ.get("BENCH_SQL_TABLES", "").split(",") if t]
        step = SqlDatabaseStep(os.environ["BENCH_SQL_SOURCE"], tables or None, name="app")
        transform = None
        if project := os.environ.get("BENCH_DBT_PROJECT"):
            from stacks_transform_dbt import DbtTransform

            transform = DbtTransform(project, schema="analytics")
        return StackSpec(name=self.name, el_steps=(step,), transform=transform)


def stack() -> BenchSqlStack:
    return BenchSqlStack()
