"""The demo shop stack (dlt shop step + the shared dbt project) under Airflow and Dagster."""

from __future__ import annotations

import shutil

import pytest
from stacks_contract.models import RunRecord, RunRequest, RunStatus
from stacks_contract.ports import Orchestrator
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_core.fingerprint import diff, fingerprint
from stacks_core.local import LocalOrchestrator
from stacks_core.sql import connect
from stacks_orch_airflow import AirflowOrchestrator

#: the issue's example: a mart and its dependents, no EL step
SELECT = ("fct_orders+",)
AUDIT = "analytics_dbt_test__audit"


def _selected(orchestrator: Orchestrator, spec, warehouse) -> tuple[RunRecord, set[str]]:
    """``--select fct_orders+`` on a built warehouse: the record and the tests dbt ran (with
    failures stored, every test a run executes leaves a table in the audit schema)."""
    record = orchestrator.run(spec, RunRequest(stack=spec.name, select=SELECT), warehouse)
    assert record.status == RunStatus.SUCCEEDED, f"{type(orchestrator).__name__}: {record.error}"
    with connect(warehouse) as conn:
        return record, {name for schema, name in conn.tables(AUDIT) if schema == AUDIT}


def test_shop_stack_under_airflow_equals_dagster(
    shop, duckdb_warehouse, tmp_path, make_shop_spec, marts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stacks_orch_dagster import DagsterOrchestrator

    spec = make_shop_spec()
    record = AirflowOrchestrator(retries=0).run(spec, RunRequest(stack=spec.name), duckdb_warehouse)
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert record.models_built == 8
    assert record.rows["raw.orders"] > 0

    other = DuckDBWarehouse(path=tmp_path / "dagster.duckdb")
    spec2 = make_shop_spec()
    dagster = DagsterOrchestrator(retries=0).run(spec2, RunRequest(stack=spec2.name), other)
    assert dagster.status == RunStatus.SUCCEEDED, dagster.error

    a, b = fingerprint(duckdb_warehouse, marts), fingerprint(other, marts)
    assert a == b, "\n".join(diff(b, a))
    assert record.rows == dagster.rows
    assert (record.tests_passed, record.tests_failed) == (dagster.tests_passed, 0)

    # `--select fct_orders+` on the built warehouses: the models and the dbt tests `dbt build
    # --select` runs (the Local reference; Temporal calls dbt the same way), under Airflow
    # (one Cosmos task per node) and Dagster (asset checks) alike
    reference = DuckDBWarehouse(path=tmp_path / "local.duckdb")
    shutil.copy(other.path, reference.path)
    monkeypatch.setenv("DBT_STORE_FAILURES", "true")
    want, want_tests = _selected(LocalOrchestrator(), make_shop_spec(), reference)
    assert want.models == ("daily_revenue", "dim_customers", "fct_orders") and want_tests
    for orchestrator, warehouse in (
        (AirflowOrchestrator(retries=0), duckdb_warehouse),
        (DagsterOrchestrator(retries=0), other),
    ):
        got, got_tests = _selected(orchestrator, make_shop_spec(), warehouse)
        name = type(orchestrator).__name__
        assert (got.steps, got.models) == (want.steps, want.models), (name, got)
        assert got_tests == want_tests, (
            f"{name}: --select fct_orders+ ran the tests {sorted(got_tests)}; "
            f"dbt build --select runs {sorted(want_tests)}"
        )
